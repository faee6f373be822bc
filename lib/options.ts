/**
 * Options bags, read once: every public entry point that takes an options object reads it with
 * `readOptions` (null/undefined → {}, a non-object or an unknown key → InvalidArgumentError naming the key
 * and listing the known ones), and every model option has one parser and one default here. The native
 * binding receives every field resolved (lib/native.ts NativeBackendOptions): JS owns the policy.
 */
import { describeValue } from './describe';
import { InvalidArgumentError } from './errors';
import type { ConvAlgorithmName, CpuIsaName, PrecisionName } from './native';

/** The known keys of an options interface T: a record of every key (the compiler checks it is complete). */
export function optionKeys<T extends object>(
  keys: Readonly<Record<keyof Required<T>, true>>,
): readonly (keyof T & string)[] {
  return Object.freeze(Object.keys(keys)) as readonly (keyof T & string)[];
}

/**
 * Reads an options bag: null or undefined → {}; anything but a plain object (a primitive, an array, a
 * function, a Map, a Date, …) → InvalidArgumentError; an own key not in `known` → InvalidArgumentError
 * `<what>.<key>: unknown option; expected one of <known>`. Returns a snapshot of the own enumerable
 * properties (each getter runs once, inherited properties are ignored), so what is checked is what is used.
 * @param what  how the bag is named in messages ('options', 'preprocess', …)
 */
export function readOptions<T extends object>(
  options: T | null | undefined,
  known: readonly (keyof T & string)[],
  what = 'options',
): Partial<T> {
  if (options === null || options === undefined) return {};
  if (typeof options !== 'object' || Object.prototype.toString.call(options) !== '[object Object]')
    throw new InvalidArgumentError(`${what}: expected an object, got ${describeValue(options)}`);
  const snapshot: Partial<T> = { ...options };
  for (const key of Object.keys(snapshot))
    if (!(known as readonly string[]).includes(key))
      throw new InvalidArgumentError(`${what}.${key}: unknown option; expected one of ${known.join(', ')}`);
  return snapshot;
}

/** One of `allowed`, else InvalidArgumentError `<what>: expected 'a' | 'b', got …`. */
function oneOf<V extends string>(value: unknown, allowed: readonly V[], what: string, hint = ''): V {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as V;
  throw new InvalidArgumentError(
    `${what}: expected ${allowed.map((a) => `'${a}'`).join(' | ')}, got ${describeValue(value)}${hint}`,
  );
}

/**
 * Where a model runs: 'auto' (CUDA when it is usable, else the CPU; see backends()), 'cpu', 'cuda'
 * (= 'cuda:0'), 'cuda:N' (GPU N), or 'reference' (the plain-loop reference kernels with double
 * accumulation: the specification the fast kernels are tested against; slow).
 */
export type DeviceName = 'auto' | 'cpu' | 'cuda' | `cuda:${number}` | 'reference';
/**
 * CPU kernel family: 'auto' (the best the CPU reports: cpuid on x86-64, the hwcaps on aarch64), 'scalar', and on
 * x86-64 'avx2' (AVX2+FMA) and 'avx512' (AVX-512F+FMA), on aarch64 'neon' (Advanced SIMD). Forcing a family the
 * CPU lacks or the binary does not hold (another architecture's) throws UnsupportedError when the model is made.
 */
export type CpuIsa = CpuIsaName;
/** Conv arithmetic: 'fp32', 'tf32', 'bf16', 'fp16' (CUDA: the last three on tensor cores; CPU: 'bf16' opt-in, see ModelOptions.precision). */
export type Precision = PrecisionName;
/**
 * How a convolution (FC layers included: they are convs, see topology.ts) is computed; see
 * ModelOptions.convAlgorithm for which layers each value applies to.
 */
export type ConvAlgorithm = ConvAlgorithmName;
/**
 * ModelOptions.convAlgorithm per layer: layer names of the topology (conv1_1 … conv5_x, fc6 … fc8) → the
 * algorithm requested for that layer; `default` (else 'auto') for the layers not named.
 * E.g. `{ default: 'winograd4x4', conv5_1: 'winograd2x2', conv5_2: 'winograd2x2', conv5_3: 'winograd2x2' }`
 * keeps conv5's packed weights at 16/9 instead of 36/9 of their size.
 */
export interface ConvAlgorithmByLayer {
  default?: ConvAlgorithm;
  [layer: string]: ConvAlgorithm | undefined;
}
/**
 * How a network is run:
 * - 'fc' — the FC head on the training size (paper §3.2, multi-crop testing);
 * - 'dense' — the paper's dense evaluation (§3.2): FC6 as a pool5-sized conv and FC7, FC8 as 1×1 convs over
 *   an input of any size ≥ the training size, giving a class score map;
 * - 'torchvision' — what torchvision's VGG does: AdaptiveAvgPool2d to the training pool5 size (7×7) between
 *   pool5 and FC6, then the FC head, for any input ≥ 2^stages (32 for the paper's nets). Ported PyTorch code
 *   gets the same logits; unlike dense evaluation, pool5 is averaged down (or repeated up) to 7×7 before FC6
 *   instead of sliding FC6 over it and averaging the class scores. At the training size all three agree.
 */
export type ForwardMode = 'fc' | 'dense' | 'torchvision';

export interface ModelOptions {
  /** Default 'auto'. See DeviceName. */
  device?: DeviceName;
  /** CPU threads, an integer in [0, 1024]; 0 (default): every hardware thread. Ignored off the CPU. */
  threads?: number;
  /** CPU kernel family, default 'auto' (cpuid). A family the CPU lacks is an UnsupportedError. */
  isa?: CpuIsa;
  /**
   * Arithmetic of the convolutions (FC layers included), default 'tf32'. Model.info().precision tells what a
   * model actually uses, and info().convAlgorithms each layer's.
   *  - CUDA: 'tf32' (the default, what PyTorch uses for cuDNN convolutions), 'fp32', or 'bf16' / 'fp16' on tensor
   *    cores; all accumulate in fp32.
   *  - CPU: fp32 unless you opt in. 'fp32' and 'tf32' (the CUDA default: the CPU has no TF32 units, so it
   *    means fp32 there and the default stays fp32) compute in fp32. 'bf16' needs a CPU with AVX512_BF16
   *    (AMD Zen 4 and later, Intel Cooper Lake, Sapphire Rapids and later; backends().cpu.precisions lists
   *    'bf16' there): the GEMM/GEMV layers (FC6–FC8, conv1_1, every conv with convAlgorithm 'gemm') keep
   *    their weights in bf16 (round to nearest even: half the memory and half the bytes streamed, so the
   *    memory-bound FC layers run up to ~2× faster), round activations to bf16 as they are packed, and
   *    accumulate the products in fp32 (vdpbf16ps); Winograd layers stay fp32 (faster there than bf16 GEMM,
   *    and Winograd's transforms would amplify bf16's rounding). Accuracy (test/bf16.test.ts, measured 2026-12-02): each product
   *    carries bf16's rounding (≤ 2⁻⁸ relative for the two operands); vgg16's logits (seeded He weights)
   *    differ from fp32 by at most 0.5% of the largest logit; the embedded MNIST model (every layer bf16)
   *    gives the same top-1 as fp32 on all 10,000 MNIST digits. On a CPU without AVX512_BF16,
   *    or with an isa other than 'avx512', 'bf16' is an UnsupportedError naming what is missing (never a
   *    silent fp32); 'fp16' on the CPU is an UnsupportedError (no fp16 kernels).
   *  - 'reference': fp32 with fp64 sums, whatever is asked.
   */
  precision?: Precision;
  /**
   * Convolution algorithm, chosen per layer when the model is created (Model.info().convAlgorithms tells
   * what each layer got; Model.plan() the kernel that runs for a shape):
   *  - 'auto' (default): on the CPU, Winograd F(4×4, 3×3) for the 3×3 stride-1 pad-1 convs with C, K ≥ 64
   *    (every 3×3 conv of the paper's nets except conv1_1), GEMM for the others (conv1_1, config C's 1×1
   *    convs, FC6–FC8; a GEMV where a layer has one output column, e.g. FC layers at batch 1); on CUDA,
   *    implicit GEMM; on 'reference', direct loops.
   *  - 'gemm': im2col GEMM for every conv (GEMV for one output column): the smallest packed weights.
   *  - 'winograd2x2' / 'winograd4x4': Winograd F(2×2, 3×3) / F(4×4, 3×3) (Lavin & Gray 2015) for the CPU
   *    layers that qualify (3×3, stride 1, pad 1, C and K ≥ 64), GEMM for the others. F(4×4) does 4× fewer
   *    multiplies than GEMM and keeps 36/9 of a layer's weights packed; F(2×2) 2.25× fewer and 16/9.
   *    The CUDA backend has only implicit GEMM and uses it for every layer.
   *  - 'direct': the reference backend's loops; only with device 'reference' (which uses them whatever is asked).
   * One value applies to every layer; an object (ConvAlgorithmByLayer) chooses per layer name, e.g. to trade
   * F(4×4)'s speed for F(2×2)'s smaller packed weights where they are largest (conv4–5). Model.info()
   * reports each layer's algorithm and packed bytes.
   * All are fp32 on the CPU; Winograd's rounding differs from GEMM's within recorded bounds
   * (test/kernels.test.ts).
   */
  convAlgorithm?: ConvAlgorithm | ConvAlgorithmByLayer;
  /**
   * The most backend memory one forward may use, bytes: the two activation buffers, the largest conv
   * workspace and the staging of input and output (Model.planMemory tells what an input needs; packed
   * weights are not counted). A forward that would need more fails with MemoryBudgetError before anything
   * is allocated. 'auto' (default): half the host's memory (os.totalmem) on the CPU and the reference
   * backend, 80% of the GPU's memory on CUDA; Infinity: no limit.
   */
  memoryBudget?: number | 'auto';
  /**
   * CUDA graphs, default true: on CUDA, an input shape's second forward records its kernel launches (stream
   * capture) and later forwards of that shape replay them as one graph launch, which saves the host's cost
   * per kernel (~40 launches for vgg16): what dominates at batch 1 on a fast GPU. The results are the same
   * bits. Forwards that return features (taps) run kernel by kernel; a shape whose buffers moved is recorded
   * again. false: every forward runs kernel by kernel. Ignored on the CPU and the reference backend, which
   * run each op when it is called. Model.info().cudaGraphs tells what is in force.
   */
  cudaGraphs?: boolean;
  /**
   * Requests that may wait in the model's queue (Model.forward calls not yet computing; a request of N
   * images counts once): a positive integer or Infinity (unbounded). A call that finds the queue full is
   * refused at once with BusyError and nothing is computed for it. Default 64: eight full batches at the
   * default maxBatch, enough to keep the model busy through a burst; a longer queue adds only waiting (a
   * server's clients time out while it works for them) and memory (each waiting request holds a copy of
   * its input: 64 × 0.6 MB at 3×224×224).
   */
  maxQueue?: number;
  /**
   * Images per forward when concurrent requests are coalesced (dynamic batching): an integer in [1, 65536];
   * 1 runs each request alone. Default 8: the FC layers, memory-bound at one image (FC6–FC8 of vgg16 stream
   * 495 MB of weights per forward), read their weights once for eight images, and per-call overhead is
   * shared, while activations stay bounded (8 × ~13 MB for vgg16's largest activation at 224×224).
   */
  maxBatch?: number;
  /**
   * How long, in ms, the first waiting request may wait for others to join its batch while the model is
   * idle: a number in [0, 10000]. Default 0: a request on an idle model starts at once (no added latency
   * under light load); requests that arrive while a forward computes still coalesce into the next batch.
   */
  maxDelayMs?: number;
}

/** The keys of ModelOptions, as a record (for bags that extend it) and as a list. */
export const MODEL_OPTION_FIELDS: Readonly<Record<keyof ModelOptions, true>> = Object.freeze({
  device: true,
  threads: true,
  isa: true,
  precision: true,
  convAlgorithm: true,
  memoryBudget: true,
  cudaGraphs: true,
  maxQueue: true,
  maxBatch: true,
  maxDelayMs: true,
});
export const MODEL_OPTION_KEYS = optionKeys<ModelOptions>(MODEL_OPTION_FIELDS);

/** Every model option resolved. */
export type ResolvedModelOptions = Required<ModelOptions>;

/** The defaults of ModelOptions (the one place they are set). */
export const DEFAULT_MODEL_OPTIONS: Readonly<ResolvedModelOptions & { convAlgorithm: ConvAlgorithm }> = Object.freeze({
  device: 'auto',
  threads: 0,
  isa: 'auto',
  precision: 'tf32',
  convAlgorithm: 'auto',
  memoryBudget: 'auto',
  cudaGraphs: true,
  maxQueue: 64,
  maxBatch: 8,
  maxDelayMs: 0,
});

const MAX_THREADS = 1024;
const MAX_BATCH = 65536;
const MAX_DELAY_MS = 10000;
/** The longest timeoutMs: setTimeout's limit (2^31 − 1 ms, about 24.8 days). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
const ISAS: readonly CpuIsa[] = ['auto', 'scalar', 'avx2', 'avx512', 'neon'];
const PRECISIONS: readonly Precision[] = ['fp32', 'tf32', 'bf16', 'fp16'];
const CONV_ALGORITHMS: readonly ConvAlgorithm[] = ['auto', 'gemm', 'winograd2x2', 'winograd4x4', 'direct'];
const MODES: readonly ForwardMode[] = ['fc', 'dense', 'torchvision'];

/** 'auto' | 'cpu' | 'cuda' | 'cuda:N' (N: 1–3 digits) | 'reference'. @throws InvalidArgumentError */
export function parseDevice(value: unknown, what = 'options.device'): DeviceName {
  if (
    typeof value === 'string' &&
    (['auto', 'cpu', 'cuda', 'reference'].includes(value) || /^cuda:\d{1,3}$/.test(value))
  )
    return value as DeviceName;
  throw new InvalidArgumentError(
    `${what}: expected 'auto' | 'cpu' | 'cuda' | 'cuda:N' | 'reference', got ${describeValue(value)}`,
  );
}

/** An integer in [0, 1024]; 0: every hardware thread. @throws InvalidArgumentError */
export function parseThreads(value: unknown, what = 'options.threads'): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_THREADS) return value;
  throw new InvalidArgumentError(
    `${what}: expected an integer in [0, ${MAX_THREADS}] (0: every hardware thread), got ${describeValue(value)}`,
  );
}

export function parseIsa(value: unknown, what = 'options.isa'): CpuIsa {
  return oneOf(value, ISAS, what);
}

export function parsePrecision(value: unknown, what = 'options.precision'): Precision {
  return oneOf(value, PRECISIONS, what);
}

export function parseConvAlgorithm(value: unknown, what = 'options.convAlgorithm'): ConvAlgorithm {
  return oneOf(value, CONV_ALGORITHMS, what);
}

/**
 * One algorithm, or a plain object of layer name → algorithm (a copy, each value checked; the names are
 * checked against the topology when the model is made: convAlgorithmFor). @throws InvalidArgumentError
 */
export function parseConvAlgorithmChoice(
  value: unknown,
  what = 'options.convAlgorithm',
): ConvAlgorithm | ConvAlgorithmByLayer {
  if (typeof value !== 'object' || value === null) return parseConvAlgorithm(value, what);
  if (Object.prototype.toString.call(value) !== '[object Object]')
    throw new InvalidArgumentError(
      `${what}: expected ${CONV_ALGORITHMS.map((a) => `'${a}'`).join(' | ')} or an object of layer name → algorithm, got ${describeValue(value)}`,
    );
  const byLayer: ConvAlgorithmByLayer = {};
  for (const [layer, a] of Object.entries(value)) byLayer[layer] = parseConvAlgorithm(a, `${what}.${layer}`);
  return byLayer;
}

/**
 * The algorithm requested for the conv layer `layer`, from a parsed choice; `layers` are the model's conv
 * layer names, against which the choice's names are checked. @throws InvalidArgumentError on a name that
 * is not one of them
 */
export function convAlgorithmFor(
  choice: ConvAlgorithm | ConvAlgorithmByLayer,
  layer: string,
  layers: readonly string[],
  what = 'options.convAlgorithm',
): ConvAlgorithm {
  if (typeof choice === 'string') return choice;
  for (const name of Object.keys(choice))
    if (name !== 'default' && !layers.includes(name))
      throw new InvalidArgumentError(
        `${what}.${name}: no conv layer of that name; expected 'default' or one of ${layers.join(', ')}`,
      );
  return choice[layer] ?? choice.default ?? 'auto';
}

/** 'auto', Infinity, or a positive integer number of bytes below 2^53. @throws InvalidArgumentError */
export function parseMemoryBudget(value: unknown, what = 'options.memoryBudget'): number | 'auto' {
  if (value === 'auto' || value === Infinity) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  throw new InvalidArgumentError(
    `${what}: expected 'auto', Infinity or a positive integer number of bytes, got ${describeValue(value)}`,
  );
}

/** true or false. @throws InvalidArgumentError */
export function parseCudaGraphs(value: unknown, what = 'options.cudaGraphs'): boolean {
  if (typeof value === 'boolean') return value;
  throw new InvalidArgumentError(`${what}: expected true or false, got ${describeValue(value)}`);
}

/** A positive integer, or Infinity (no bound). @throws InvalidArgumentError */
export function parseMaxQueue(value: unknown, what = 'options.maxQueue'): number {
  if (value === Infinity || (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1))
    return value as number;
  throw new InvalidArgumentError(`${what}: expected a positive integer or Infinity, got ${describeValue(value)}`);
}

/** An integer in [1, 65536]. @throws InvalidArgumentError */
export function parseMaxBatch(value: unknown, what = 'options.maxBatch'): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_BATCH) return value;
  throw new InvalidArgumentError(
    `${what}: expected an integer in [1, ${MAX_BATCH}] (images per forward; 1: no batching), got ${describeValue(value)}`,
  );
}

/** A number of ms in [0, 10000]. @throws InvalidArgumentError */
export function parseMaxDelayMs(value: unknown, what = 'options.maxDelayMs'): number {
  if (typeof value === 'number' && value >= 0 && value <= MAX_DELAY_MS) return value;
  throw new InvalidArgumentError(
    `${what}: expected a number of ms in [0, ${MAX_DELAY_MS}], got ${describeValue(value)}`,
  );
}

/** A deadline in ms from the call: a number in (0, 2^31 − 1]. @throws InvalidArgumentError */
export function parseTimeoutMs(value: unknown, what = 'options.timeoutMs'): number {
  if (typeof value === 'number' && value > 0 && value <= MAX_TIMEOUT_MS) return value;
  throw new InvalidArgumentError(
    `${what}: expected a number of ms in (0, ${MAX_TIMEOUT_MS}], got ${describeValue(value)}`,
  );
}

/** An AbortSignal. @throws InvalidArgumentError */
export function parseSignal(value: unknown, what = 'options.signal'): AbortSignal {
  if (value instanceof AbortSignal) return value;
  throw new InvalidArgumentError(`${what}: expected an AbortSignal, got ${describeValue(value)}`);
}

/** 'fc' | 'dense'; the former name 'fully-conv' gets a hint. @throws InvalidArgumentError */
export function parseMode(value: unknown, what = 'options.mode'): ForwardMode {
  return oneOf(
    value,
    MODES,
    what,
    value === 'fully-conv' ? " ('fully-conv' is now 'dense': the paper's dense evaluation)" : '',
  );
}

/** Reads and checks a ModelOptions bag; absent fields take DEFAULT_MODEL_OPTIONS. @throws InvalidArgumentError */
export function resolveModelOptions(options: ModelOptions | null | undefined): ResolvedModelOptions {
  const o = readOptions(options, MODEL_OPTION_KEYS);
  const d = DEFAULT_MODEL_OPTIONS;
  return {
    device: parseDevice(o.device ?? d.device),
    threads: parseThreads(o.threads ?? d.threads),
    isa: parseIsa(o.isa ?? d.isa),
    precision: parsePrecision(o.precision ?? d.precision),
    convAlgorithm: parseConvAlgorithmChoice(o.convAlgorithm ?? d.convAlgorithm),
    memoryBudget: parseMemoryBudget(o.memoryBudget ?? d.memoryBudget),
    cudaGraphs: parseCudaGraphs(o.cudaGraphs ?? d.cudaGraphs),
    maxQueue: parseMaxQueue(o.maxQueue ?? d.maxQueue),
    maxBatch: parseMaxBatch(o.maxBatch ?? d.maxBatch),
    maxDelayMs: parseMaxDelayMs(o.maxDelayMs ?? d.maxDelayMs),
  };
}

/** The model options within a larger bag (LoadOptions), the other keys left out. */
export function pickModelOptions(options: ModelOptions): ModelOptions {
  const out: ModelOptions = {};
  for (const k of MODEL_OPTION_KEYS) if (options[k] !== undefined) (out as Record<string, unknown>)[k] = options[k];
  return out;
}
