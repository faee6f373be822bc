/**
 * A BullMQ worker over one classifier. Jobs run `concurrency` at a time; their forwards meet in the model's
 * scheduler, which batches them (Model.forward), so the concurrency is what keeps batches full.
 *
 * Reliability comes from BullMQ's locks: a job is locked by its worker for `lockDurationMs`, renewed while it
 * runs; a worker that dies (SIGKILL, lost host) stops renewing, and another worker's stalled-job check (every
 * `stalledIntervalMs`) puts the job back in the wait list, at most `maxStalledCount` times (then it fails: a job
 * that kills every worker that takes it is not retried for ever). A job whose own content is at fault (corrupt
 * image, bad options, an image URL answering 404: see unrecoverable) fails at once with its code; other
 * failures use the job's attempts.
 */
import * as os from 'os';

import { Job, UnrecoverableError, Worker } from 'bullmq';

import { Classifier, classifyImage, defaultScales, FailOn, InvalidArgumentError } from '../index';
import { checkQueueName, connectionOptions, RedisConnection } from './connection';
import { readJobImage } from './image';
import { CLASSIFY_JOB, ClassifyJobData, ClassifyJobResult, failureReason, readJobData, unrecoverable } from './job';

export interface ClassifyWorkerOptions {
  /** Redis: a redis:// URL or BullMQ connection options. */
  redis: RedisConnection;
  /** The queue's name (no ':'). */
  queue: string;
  /**
   * Jobs taken at once, an integer in [1, the model's maxQueue] (more would fill the model's queue: BusyError).
   * Default: 2 × maxBatch (one batch computing while the next fills), at most maxQueue.
   */
  concurrency?: number;
  /** This worker's name, recorded in each job it takes (`job.processedBy`). Default: `<hostname>:<pid>`. */
  name?: string;
  /** BullMQ's key prefix. Default: BullMQ's ('bull'). */
  prefix?: string;
  /** How long a job stays locked to this worker without a renewal, ms (renewed every half). Default 30000 (BullMQ's). */
  lockDurationMs?: number;
  /** Period of the check for jobs whose worker lost their lock, ms. Default 30000 (BullMQ's). */
  stalledIntervalMs?: number;
  /** Times a job may be put back after its worker stalled before it fails. Default 1 (BullMQ's). */
  maxStalledCount?: number;
  /** Largest encoded image a job may bring or point to, bytes. Default 16 MiB (as `vggnet serve`'s body limit). */
  maxImageBytes?: number;
  /** Deadline of an http(s) image download, ms. Default 30000. */
  fetchTimeoutMs?: number;
  /** Damaged image data (ClassifyOptions.failOn). Default: the library's ('warning': corrupt or truncated data fails). */
  failOn?: FailOn;
  /**
   * Called with the worker's own errors (a lost Redis connection, which it retries for ever; not a job's
   * failure: see the 'failed' event). Default: a process warning per error.
   */
  onError?: (e: Error) => void;
}

const OPTION_KEYS: readonly (keyof ClassifyWorkerOptions)[] = [
  'redis',
  'queue',
  'concurrency',
  'name',
  'prefix',
  'lockDurationMs',
  'stalledIntervalMs',
  'maxStalledCount',
  'maxImageBytes',
  'fetchTimeoutMs',
  'failOn',
  'onError',
];

export interface ClassifyWorker {
  /** The name recorded in the jobs it takes. */
  readonly name: string;
  /** Jobs taken at once. */
  readonly concurrency: number;
  /** The BullMQ worker (its events: 'completed', 'failed', 'stalled', 'error', …). */
  readonly worker: Worker<ClassifyJobData, ClassifyJobResult>;
  /**
   * Jobs running here now, jobs completed here, and attempts that failed here (a retried job may count several
   * times).
   */
  counts(): { active: number; completed: number; failed: number };
  /**
   * Stops taking jobs. Graceful (the default): resolves once the jobs already taken have finished. `force`: at
   * once; the jobs taken stay locked until lockDurationMs passes, then another worker takes them. The model is
   * the caller's: it is not disposed.
   */
  close(force?: boolean): Promise<void>;
}

const FAIL_ON: readonly FailOn[] = ['none', 'truncated', 'error', 'warning'];

/** A positive integer option, or its default. @throws InvalidArgumentError */
function positiveInt(o: Record<string, unknown>, key: string, dflt: number, max = 2 ** 31 - 1): number {
  const v = o[key] ?? dflt;
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > max)
    throw new InvalidArgumentError(`options.${key}: expected an integer in [1, ${max}], got ${JSON.stringify(v)}`);
  return v as number;
}

/**
 * Starts a worker that classifies the jobs of `options.queue` with `c` and resolves once it is connected.
 * A job's data is ClassifyJobData (see enqueueClassify); its return value a ClassifyJobResult. A failed job's
 * failedReason is `<code>: <message>` (see jobError).
 * @throws InvalidArgumentError for a bad option (before connecting)
 */
export async function startClassifyWorker(c: Classifier, options: ClassifyWorkerOptions): Promise<ClassifyWorker> {
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError(`options: expected {redis, queue, …}, got ${JSON.stringify(options)}`);
  const o = options as unknown as Record<string, unknown>;
  for (const key of Object.keys(o))
    if (!(OPTION_KEYS as readonly string[]).includes(key))
      throw new InvalidArgumentError(`options.${key}: unknown option; expected one of ${OPTION_KEYS.join(', ')}`);
  const queue = checkQueueName(options.queue);
  const connection = connectionOptions(options.redis, true);
  const { maxBatch, maxQueue } = c.model.schedulerOptions;
  const concurrency = positiveInt(o, 'concurrency', Math.min(2 * maxBatch, maxQueue), maxQueue);
  const maxImageBytes = positiveInt(o, 'maxImageBytes', 16 * 2 ** 20);
  if (options.failOn !== undefined && !FAIL_ON.includes(options.failOn))
    throw new InvalidArgumentError(
      `options.failOn: expected ${FAIL_ON.map((f) => `'${f}'`).join(' | ')}, got ${JSON.stringify(options.failOn)}`,
    );
  const imageOptions = {
    fetch: { maxBytes: maxImageBytes, timeoutMs: positiveInt(o, 'fetchTimeoutMs', 30_000) },
    ...(options.failOn !== undefined ? { failOn: options.failOn } : {}), // checked by classifyImage
  };
  const lockDuration = positiveInt(o, 'lockDurationMs', 30_000);
  const stalledInterval = positiveInt(o, 'stalledIntervalMs', 30_000);
  const maxStalledCount = positiveInt(o, 'maxStalledCount', 1);
  const name = options.name ?? `${os.hostname()}:${process.pid}`;
  if (typeof name !== 'string' || name.length === 0)
    throw new InvalidArgumentError(`options.name: expected a non-empty string, got ${JSON.stringify(name)}`);
  const { config } = c.model;

  const onError = options.onError ?? ((e: Error) => process.emitWarning(e.message, 'vggnet worker'));
  if (typeof onError !== 'function')
    throw new InvalidArgumentError(`options.onError: expected a function, got ${typeof onError}`);

  let active = 0,
    completed = 0,
    failed = 0;
  const processor = async (job: Job<ClassifyJobData, ClassifyJobResult>): Promise<ClassifyJobResult> => {
    active++;
    try {
      if (job.name !== CLASSIFY_JOB)
        throw new InvalidArgumentError(`job name: expected '${CLASSIFY_JOB}', got ${JSON.stringify(job.name)}`);
      const { image, options: opts } = readJobData(job.data);
      const r = await classifyImage(c, await readJobImage(image, maxImageBytes), { ...opts, ...imageOptions });
      const mode = opts.mode ?? 'dense';
      return {
        top: r.top,
        views: r.views,
        mode,
        scales: opts.scales ?? defaultScales(config.inputSize, mode, c.ownPreprocess),
        flip: opts.flip ?? false,
        arch: config.name,
      };
    } catch (e) {
      const reason = failureReason(e);
      // BullMQ stores the message as the job's failedReason: the code travels in it.
      if (unrecoverable(e)) throw Object.assign(new UnrecoverableError(reason), { cause: e });
      throw new Error(reason, { cause: e });
    } finally {
      active--;
    }
  };

  const worker = new Worker<ClassifyJobData, ClassifyJobResult>(queue, processor, {
    connection,
    concurrency,
    name,
    lockDuration,
    stalledInterval,
    maxStalledCount,
    ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
    autorun: true,
  });
  worker.on('error', onError); // without a listener, an 'error' event would end the process
  worker.on('completed', () => completed++);
  worker.on('failed', () => failed++);
  try {
    await worker.waitUntilReady();
  } catch (e) {
    await worker.close(true).catch(() => undefined);
    throw e;
  }
  return {
    name,
    concurrency,
    worker,
    counts: () => ({ active, completed, failed }),
    close: (force = false) => worker.close(force),
  };
}
