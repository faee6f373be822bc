/**
 * The paper's evaluation protocol (§3.2). Per view: class scores → (spatial average of the score map,
 * dense evaluation) → softmax posteriors; posteriors are averaged over horizontal flips, test scales and
 * crops; the top-k classes are reported.
 *  - dense: dense evaluation: the whole image, shorter side resized to each test scale Q, FC layers run as
 *    convs over it, the class score map averaged spatially.
 *  - fc: shorter side resized, one centre crop of the training size (or a grid of crops: multi-crop).
 */
import { describeValue } from './describe';
import { AbortedError, FetchError, InvalidArgumentError, TimeoutError } from './errors';
import { FetchOptions, resolveFetchOptions } from './fetch-image';
import { ImageInput, resolveImage } from './image-input';
import { checkLabels, shortLabel } from './labels';
import { Model } from './model';
import { ForwardMode, optionKeys, parseMode, parseSignal, parseTimeoutMs, readOptions } from './options';
import {
  checkSpec,
  decodeResolved,
  DecodedImage,
  FailOn,
  normalize,
  parseFailOn,
  parseMaxPixels,
  PreprocessSpec,
} from './preprocess';
import { centreOffset, cropImage, mirrorImage, resizedSize, resizeImage } from './resize';
import { Tensor } from './tensor';

/** A model with what it needs to classify images (see loadClassifier). */
export interface Classifier {
  model: Model;
  /** One per class, model.config.numClasses of them. */
  labels: string[];
  preprocess: PreprocessSpec;
  /** Where the weights came from: 'torchvision' | 'timm' | 'onnx' | 'vggnet', or the caller's own word. */
  source: string;
  /** True when the weights file carried its own preprocessing (our own models): default scale 0 then. */
  ownPreprocess: boolean;
}

/** Largest view evaluated, in pixels (a 4096×4096 image): scale 0 keeps the image size, so a huge image
 *  would otherwise need gigabytes of activations. */
export const MAX_VIEW_PIXELS = 4096 * 4096;

export interface Prediction {
  index: number;
  label: string;
  probability: number;
}

export interface ClassifyOptions {
  /** 'dense' (default: dense evaluation of the whole image), 'fc' (centre crop / multi-crop) or 'torchvision'
   *  (the whole image through torchvision's AdaptiveAvgPool2d(7) and the FC head; see ForwardMode). */
  mode?: ForwardMode;
  /**
   * Test scales Q: the shorter side is resized to Q pixels and the longer to floor(Q · longer / shorter), as
   * torchvision's Resize(Q) (lib/resize.ts); 0 keeps the image size. Default: see defaultScales.
   */
  scales?: number[];
  /**
   * Also evaluate the horizontally flipped image and average (paper §3.2). The flipped view is the mirrored
   * original, resized: an image and its mirror image then give the same views, so the same posteriors.
   */
  flip?: boolean;
  /** fc mode only: an n×n regular grid of crops per scale instead of the centre crop (paper §3.2, §4.2).
   *  The paper's multi-crop is 5×5 crops × 2 flips per scale. */
  grid?: number;
  /** How many classes to report (default 5). */
  top?: number;
  /** Keep each view's class score map [1, K, h, w] (dense mode) in the result. */
  keepScoreMaps?: boolean;
  /**
   * The caller's cancel, passed to every forward (ForwardOptions.signal) and checked between decoding
   * steps: the call rejects with AbortedError (cause: the signal's reason) and no further view is computed.
   */
  signal?: AbortSignal;
  /**
   * Deadline in ms from the call for the whole classification, a number in (0, 2^31 − 1]: each forward gets
   * the time left as its ForwardOptions.timeoutMs; the call rejects with TimeoutError when it passes (an
   * image being decoded finishes decoding first). Default: none.
   */
  timeoutMs?: number;
  /** Damaged image data (ImageOptions.failOn): default 'warning', a corrupt or truncated image is a FormatError. */
  failOn?: FailOn;
  /** Limits of fetching an http(s) URL image (ImageOptions.fetch). Default DEFAULT_FETCH. */
  fetch?: FetchOptions;
  /**
   * Largest image decoded, in pixels (ImageOptions.maxPixels: width × height from its header, checked before
   * any pixel is decoded): a larger one is an ImageTooLargeError. Default MAX_INPUT_PIXELS (2^28).
   */
  maxPixels?: number;
}

/** The keys of ClassifyOptions, as a record (for bags that extend it) and as a list. */
export const CLASSIFY_OPTION_FIELDS: Readonly<Record<keyof ClassifyOptions, true>> = Object.freeze({
  mode: true,
  scales: true,
  flip: true,
  grid: true,
  top: true,
  keepScoreMaps: true,
  signal: true,
  timeoutMs: true,
  failOn: true,
  fetch: true,
  maxPixels: true,
});
const CLASSIFY_OPTION_KEYS = optionKeys<ClassifyOptions>(CLASSIFY_OPTION_FIELDS);

export interface Classification {
  /** Averaged posteriors over all views, length K. */
  probabilities: Float32Array;
  top: Prediction[];
  views: number;
  scoreMaps?: { scale: number; flipped: boolean; map: Tensor }[];
}

/** Test scales when none are given: for the paper's 224 networks Q = 256 (fc: resize then crop 224;
 *  torchvision: its Resize(256)) or Q = 384 (dense; the single scale of Table 3 for jittered training); for
 *  other training sizes the same ratios, and models that ship their own preprocessing keep the image size
 *  (scale 0). */
export function defaultScales(inputSize: number, mode: ForwardMode, ownPreprocess: boolean): number[] {
  if (ownPreprocess) return [mode === 'fc' ? inputSize : 0];
  return [Math.round((inputSize * (mode === 'dense' ? 384 : 256)) / 224)];
}

/** Row-wise softmax in float64 (stable: max subtracted). */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) m = Math.max(m, logits[i]);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i] - m);
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/** Spatial average of a score map [N, K, h, w] → class scores [N·K] (paper §3.2). */
export function spatialMean(map: Tensor): Float64Array {
  const [N, K, h, w] = map.dims;
  const plane = h * w,
    out = new Float64Array(N * K);
  for (let i = 0; i < N * K; i++) {
    let s = 0;
    for (let j = 0; j < plane; j++) s += map.data[i * plane + j];
    out[i] = s / plane;
  }
  return out;
}

/** Top-k of a probability vector, highest first. */
export function topK(p: ArrayLike<number>, k: number, labels: string[]): Prediction[] {
  const idx = Array.from({ length: p.length }, (_, i) => i).sort((a, b) => p[b] - p[a] || a - b);
  return idx
    .slice(0, Math.min(k, p.length))
    .map((index) => ({ index, label: shortLabel(labels[index] ?? String(index)), probability: p[index] }));
}

/**
 * Adds one scale's view posteriors to `sum`: each base image's views (`perBase` of them, in grid order)
 * summed first, then the bases (the image and its mirror) added together. a + b = b + a exactly in floating
 * point, so an image and its mirror image, whose bases come in the other order, get the same sums bit for bit.
 */
function addViews(sum: Float64Array, posteriors: Float64Array[], perBase: number): void {
  const bases: Float64Array[] = [];
  for (let i = 0; i < posteriors.length; i += perBase) {
    const s = new Float64Array(sum.length);
    for (const p of posteriors.slice(i, i + perBase)) for (let k = 0; k < s.length; k++) s[k] += p[k];
    bases.push(s);
  }
  for (let k = 0; k < sum.length; k++) sum[k] += bases.length === 2 ? bases[0][k] + bases[1][k] : bases[0][k];
}

/** Stacks [1,C,H,W] tensors of one size into [N,C,H,W]. */
function stack(ts: Tensor[]): Tensor {
  const [, C, H, W] = ts[0].dims;
  const n = C * H * W,
    data = new Float32Array(ts.length * n);
  ts.forEach((t, i) => data.set(t.data, i * n));
  return new Tensor([ts.length, C, H, W], data);
}

/** A classification request checked once: the classifier's parts and every option resolved. */
export interface ClassifyPlan {
  model: Model;
  spec: PreprocessSpec;
  labels: string[];
  mode: ForwardMode;
  scales: number[];
  grid: number;
  top: number;
  flip: boolean;
  keepScoreMaps: boolean;
  signal?: AbortSignal;
  timeoutMs?: number;
  failOn: FailOn;
  fetch: Required<FetchOptions>;
  maxPixels: number;
}

/**
 * Checks a classifier and a ClassifyOptions bag already read by readOptions (see classifyImage) and
 * resolves the defaults.
 * @throws InvalidArgumentError naming the option or the classifier's part that is wrong
 */
export function planClassify(c: Classifier, opts: Partial<ClassifyOptions>): ClassifyPlan {
  if (!c || !(c.model instanceof Model))
    throw new InvalidArgumentError('classifier: expected { model: Model, labels, preprocess } (see loadClassifier)');
  const { model } = c;
  const spec = checkSpec(c.preprocess, model.config.inChannels);
  const labels = checkLabels(c.labels, model.config.numClasses);
  const mode = parseMode(opts.mode ?? 'dense');
  const size = model.config.inputSize;
  const scales = opts.scales ?? defaultScales(size, mode, c.ownPreprocess);
  if (!Array.isArray(scales) || scales.length === 0 || !scales.every((q) => Number.isInteger(q) && q >= 0))
    throw new InvalidArgumentError(
      `options.scales: expected a non-empty list of integers >= 0, got ${JSON.stringify(scales)}`,
    );
  const grid = opts.grid ?? 1;
  if (!Number.isInteger(grid) || grid < 1 || grid > 10)
    throw new InvalidArgumentError(`options.grid: expected an integer in [1, 10], got ${describeValue(grid)}`);
  if (grid > 1 && mode !== 'fc')
    throw new InvalidArgumentError(`options.grid: multi-crop needs mode 'fc' (dense evaluation takes the whole image)`);
  const top = opts.top ?? 5;
  if (!Number.isInteger(top) || top < 1)
    throw new InvalidArgumentError(`options.top: expected a positive integer, got ${describeValue(top)}`);
  for (const k of ['flip', 'keepScoreMaps'] as const)
    if (opts[k] !== undefined && typeof opts[k] !== 'boolean')
      throw new InvalidArgumentError(`options.${k}: expected a boolean, got ${describeValue(opts[k])}`);
  return {
    model,
    spec,
    labels,
    mode,
    scales: [...scales],
    grid,
    top,
    flip: opts.flip ?? false,
    keepScoreMaps: opts.keepScoreMaps ?? false,
    signal: opts.signal === undefined ? undefined : parseSignal(opts.signal),
    timeoutMs: opts.timeoutMs === undefined ? undefined : parseTimeoutMs(opts.timeoutMs),
    failOn: parseFailOn(opts.failOn, 'options.failOn'),
    fetch: resolveFetchOptions(opts.fetch, 'options.fetch'),
    maxPixels: parseMaxPixels(opts.maxPixels, 'options.maxPixels'),
  };
}

/**
 * Classifies one image with the paper's protocol. Each view's forward goes through the model's scheduler
 * (Model.forward), so concurrent classifications share batched forwards.
 * @param image  a file path, a URL (http:, https:, file:; fetched within options.fetch), or the encoded
 *   bytes (JPEG, PNG, WebP, GIF, TIFF, ...) as a Buffer, Uint8Array or ArrayBuffer
 * @throws InvalidArgumentError (options, a missing file, image smaller than the network needs or larger than
 *   MAX_VIEW_PIXELS at a scale), ImageTooLargeError (over options.maxPixels), FormatError (not an image,
 *   damaged data at options.failOn),
 *   UnsupportedError (a URL scheme other than file:, http:, https:), FetchError (fetching a URL failed),
 *   DisposedError; AbortedError (options.signal), TimeoutError (options.timeoutMs), BusyError (the model's
 *   queue is full) from its forwards
 */
export async function classifyImage(
  c: Classifier,
  image: ImageInput,
  options: ClassifyOptions | null = {},
): Promise<Classification> {
  const plan = planClassify(c, readOptions(options, CLASSIFY_OPTION_KEYS));
  return classifyPlanned(plan, image, deadlineOf(plan.timeoutMs), plan.signal);
}

/**
 * Resolves a classification's image (lib/image-input.ts): a URL is fetched within plan.fetch, cut short by
 * the deadline (then a TimeoutError, as for a forward) and cancelled by the signal.
 */
async function resolveWithin(
  plan: ClassifyPlan,
  image: ImageInput,
  deadline: number | undefined,
  signal: AbortSignal | undefined,
) {
  const left = deadline === undefined ? Infinity : Math.max(1, deadline - performance.now());
  try {
    return await resolveImage(image, { ...plan.fetch, timeoutMs: Math.min(plan.fetch.timeoutMs, left) }, signal);
  } catch (e) {
    if (e instanceof FetchError && e.reason === 'timeout' && left < plan.fetch.timeoutMs)
      throw new TimeoutError(`classifyImage: no result within timeoutMs ${plan.timeoutMs} ms (fetching the image)`);
    throw e;
  }
}

/** performance.now() at which a timeoutMs from now passes (undefined: no deadline). */
export function deadlineOf(timeoutMs: number | undefined): number | undefined {
  return timeoutMs === undefined ? undefined : performance.now() + timeoutMs;
}

/**
 * classifyImage's work for a checked plan. `deadline` (performance.now() time) and `signal` may differ from
 * the plan's: classifyImages gives every image the deadline of its own call and a signal of its own.
 */
export async function classifyPlanned(
  plan: ClassifyPlan,
  image: ImageInput,
  deadline: number | undefined,
  signal: AbortSignal | undefined,
): Promise<Classification> {
  const { model, spec, labels, mode, scales, grid, top } = plan;
  const opts = { flip: plan.flip, keepScoreMaps: plan.keepScoreMaps };
  const size = model.config.inputSize;
  const minimum = mode === 'torchvision' ? 2 ** model.config.stages.length : size; // checkInput's bounds
  /** The forward options of the next view: the signal, and the time left before the deadline. */
  const forwardOptions = (m: ForwardMode): { mode: ForwardMode; signal?: AbortSignal; timeoutMs?: number } => {
    if (signal?.aborted)
      throw new AbortedError("classifyImage: aborted by the caller's signal", { cause: signal.reason });
    if (deadline === undefined) return { mode: m, signal };
    const left = deadline - performance.now();
    if (left <= 0) throw new TimeoutError(`classifyImage: no result within timeoutMs ${plan.timeoutMs} ms`);
    return { mode: m, signal, timeoutMs: left };
  };

  const K = model.config.numClasses;
  const sum = new Float64Array(K);
  let views = 0;
  const scoreMaps: Classification['scoreMaps'] = [];
  forwardOptions(mode); // aborted or past the deadline: stop before fetching or decoding
  const original = await decodeResolved(
    await resolveWithin(plan, image, deadline, signal),
    spec.colorSpace,
    plan.failOn,
    plan.maxPixels,
  );
  const mirrored = opts.flip ? mirrorImage(original) : undefined;
  for (const q of scales) {
    forwardOptions(mode); // aborted or past the deadline: stop before resizing
    const [w, h] = q ? resizedSize(original.width, original.height, q) : [original.width, original.height];
    if (w < minimum || h < minimum)
      throw new InvalidArgumentError(
        `options.scales: at Q=${q} the image is ${w}×${h}, smaller than the network's ${minimum}×${minimum}` +
          (mode === 'torchvision' ? " (mode 'torchvision')" : ''),
      );
    if (w * h > MAX_VIEW_PIXELS)
      throw new InvalidArgumentError(
        `options.scales: at Q=${q} the image is ${w}×${h}, more than ${MAX_VIEW_PIXELS} pixels; choose a smaller test scale`,
      );
    const base: DecodedImage[] = [];
    for (const view of mirrored ? [original, mirrored] : [original]) base.push(await resizeImage(view, w, h));
    if (mode === 'dense') {
      const map = await model.forward(stack(base.map((b) => normalize(b, spec))), forwardOptions('dense'));
      const scores = spatialMean(map);
      addViews(
        sum,
        base.map((_, i) => softmax(scores.subarray(i * K, (i + 1) * K))),
        1,
      );
      views += base.length;
      if (opts.keepScoreMaps) {
        const [, , h, w] = map.dims;
        base.forEach((_, i) =>
          scoreMaps.push({
            scale: q,
            flipped: i === 1,
            map: new Tensor([1, K, h, w], map.data.slice(i * K * h * w, (i + 1) * K * h * w)),
          }),
        );
      }
    } else if (mode === 'torchvision') {
      const logits = await model.forward(stack(base.map((b) => normalize(b, spec))), forwardOptions('torchvision'));
      addViews(
        sum,
        base.map((_, i) => softmax(logits.data.subarray(i * K, (i + 1) * K))),
        1,
      );
      views += base.length;
    } else {
      const crops: Tensor[] = [];
      for (const b of base)
        for (let gy = 0; gy < grid; gy++)
          for (let gx = 0; gx < grid; gx++) {
            const left = grid === 1 ? centreOffset(b.width, size) : Math.round((gx * (b.width - size)) / (grid - 1));
            const topY = grid === 1 ? centreOffset(b.height, size) : Math.round((gy * (b.height - size)) / (grid - 1));
            crops.push(normalize(cropImage(b, left, topY, size), spec));
          }
      const logits = await model.forward(stack(crops), forwardOptions('fc'));
      addViews(
        sum,
        crops.map((_, i) => softmax(logits.data.subarray(i * K, (i + 1) * K))),
        grid * grid,
      );
      views += crops.length;
    }
  }
  const probabilities = new Float32Array(K);
  for (let k = 0; k < K; k++) probabilities[k] = sum[k] / views;
  return { probabilities, top: topK(probabilities, top, labels), views, ...(opts.keepScoreMaps ? { scoreMaps } : {}) };
}
