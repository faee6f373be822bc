/**
 * Many images at once: classifyImages runs classifyImage's protocol on each image, several at a time, so
 * their forwards meet in the model's scheduler and are computed in shared batches (Model.forward).
 */
import { describeValue } from './describe';
import { AbortedError, InvalidArgumentError } from './errors';
import {
  Classification,
  CLASSIFY_OPTION_FIELDS,
  Classifier,
  ClassifyOptions,
  classifyPlanned,
  deadlineOf,
  planClassify,
} from './evaluate';
import { ImageInput } from './image-input';
import { optionKeys, readOptions } from './options';

export interface ClassifyImagesOptions extends ClassifyOptions {
  /**
   * Images being classified at once, an integer in [1, 1024]. Default: 2 × the model's maxBatch (one batch
   * computing while the next fills), at most maxQueue + 1 so that this call alone never fills the queue.
   */
  concurrency?: number;
}

const CLASSIFY_IMAGES_OPTION_KEYS = optionKeys<ClassifyImagesOptions>({ ...CLASSIFY_OPTION_FIELDS, concurrency: true });
const MAX_CONCURRENCY = 1024;

/**
 * Classifies many images with the paper's protocol (see classifyImage; the same options apply to each
 * image), several at a time through the model's batcher. Each image's result is what classifyImage gives
 * for it alone. `timeoutMs` is the deadline of the whole call; `signal` cancels the whole call.
 * The first failure rejects the call: the images still in progress are cancelled (their queued forwards
 * are never computed) and no further image starts.
 * @param images  file paths, URLs or encoded bytes (see classifyImage's ImageInput); may be empty
 * @returns one Classification per image, in the order of `images`
 * @throws InvalidArgumentError (images not an array, options as classifyImage's, concurrency), and the
 *   first error of any image: FormatError, AbortedError, TimeoutError, BusyError (the model's queue is
 *   shared with other callers), DisposedError, …
 */
export async function classifyImages(
  c: Classifier,
  images: readonly ImageInput[],
  options: ClassifyImagesOptions | null = {},
): Promise<Classification[]> {
  const { concurrency: asked, ...rest } = readOptions(options, CLASSIFY_IMAGES_OPTION_KEYS);
  const plan = planClassify(c, rest);
  if (!Array.isArray(images))
    throw new InvalidArgumentError(
      `images: expected an array of paths, URLs or encoded images, got ${describeValue(images)}`,
    );
  const { maxBatch, maxQueue } = plan.model.schedulerOptions;
  const concurrency = asked ?? Math.min(2 * maxBatch, maxQueue + 1, MAX_CONCURRENCY);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY)
    throw new InvalidArgumentError(
      `options.concurrency: expected an integer in [1, ${MAX_CONCURRENCY}], got ${describeValue(concurrency)}`,
    );
  const list = Array.from(images);
  const deadline = deadlineOf(plan.timeoutMs);

  // One signal for every image: fired by the caller's signal, or by the first failure.
  const stop = new AbortController();
  const onCallerAbort = () => stop.abort(plan.signal!.reason);
  if (plan.signal?.aborted)
    throw new AbortedError('classifyImages: aborted before the call (the signal had already fired)', {
      cause: plan.signal.reason,
    });
  plan.signal?.addEventListener('abort', onCallerAbort, { once: true });

  const results: Classification[] = new Array(list.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < list.length && !failure) {
      const i = next++;
      try {
        results[i] = await classifyPlanned(plan, list[i], deadline, stop.signal);
      } catch (e) {
        if (!failure) {
          failure = { error: e };
          stop.abort(e);
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, list.length) }, worker));
  } finally {
    plan.signal?.removeEventListener('abort', onCallerAbort);
  }
  if (failure) throw failure.error;
  return results;
}
