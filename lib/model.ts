/**
 * Model: a VGG network on one backend, with the paper's two ways to run it (§3.2) and torchvision's (ForwardMode):
 *  - 'fc': the FC head on the training size (224×224 for the paper's nets; pool5 must be 7×7).
 *    Returns class scores (logits) [N, K] (layout NC).
 *  - 'dense': dense evaluation. FC6 becomes a 7×7 conv (no padding), FC7/FC8 1×1 convs; any input whose
 *    pool5 is at least 7×7 works. Returns the class score map [N, K, h, w] (NCHW).
 *  - 'torchvision': pool5 adaptively averaged to 7×7 (torchvision's AdaptiveAvgPool2d), then the FC head;
 *    any input ≥ 32×32. Returns logits [N, K] (NC), as torchvision's VGG does.
 * All run the same packed weights: FC6's [4096, 25088] matrix in C,H,W order is the OIHW [4096,512,7,7]
 * kernel, so at 224 the three modes compute the same numbers. ForwardOptions.outputs takes features from
 * any layer instead (lib/outputs.ts).
 */
import { types } from 'util';

import { chooseDevice, DeviceChoice } from './backends';
import { packCopies, packOwned } from './build';
import { describeValue } from './describe';
import { DeviceError, DisposedError, InvalidArgumentError } from './errors';
import { resolveMemoryBudget } from './memory';
import {
  Dims4,
  native,
  NativeBackendOptions,
  NativeGraphInfo,
  NativeLayer,
  NativeDeviceBuffer,
  NativeInput,
  NativeLayerPlan,
  NativeNetwork,
  NativeOutput,
  NativePlanMemory,
} from './native';
import {
  ConvAlgorithm,
  convAlgorithmFor,
  ForwardMode,
  ModelOptions,
  optionKeys,
  parseMode,
  parseSignal,
  parseTimeoutMs,
  Precision,
  readOptions,
  resolveModelOptions,
} from './options';
import { checkSeed, LayerWeights, randomWeights } from './random-weights';
import { Scheduler, SchedulerOptions, SchedulerStats } from './scheduler';
import { planRun, RunPlan } from './outputs';
import { checkInput, resultDims } from './shapes';
import { Tensor } from './tensor';
import { LayerStep, layerProgram, resolveConfig, VggConfig, weightShapes } from './topology';
import { workerStream } from './worker/client';
import type { IndexedLayer } from './worker/tasks';

export type { ForwardMode, ModelOptions } from './options';
export type { SchedulerOptions, SchedulerStats } from './scheduler';

export type { LayerWeights } from './random-weights';
export { randomWeights } from './random-weights';

export interface ForwardOptions {
  /** Default 'fc'. See ForwardMode. */
  mode?: ForwardMode;
  /**
   * Layer names whose outputs to return instead of the class scores (1 to 64, e.g. ['conv4_3', 'pool5',
   * 'fc7']; names as in the paper: conv{stage}_{i}, lrn1, pool{stage}, fc6, fc7, fc8): the forward stops
   * after the last of them and resolves to a Features object. Conv, FC6 and FC7 outputs are after their
   * ReLU (as Caffe's in-place ReLU and Keras give them), FC8 is the logits; '<name>:pre-relu' (e.g.
   * 'conv5_4:pre-relu') gives a conv or FC layer's output before its ReLU. Layouts: NCHW [N, C, h, w];
   * FC layers [N, K] (NC) in modes 'fc' and 'torchvision', score maps in 'dense'.
   */
  outputs?: readonly string[];
  /**
   * The caller's cancel: when it fires while the request is queued, the request leaves the queue and is
   * never computed; while its batch computes, the call rejects at once and its result is discarded. Either
   * way the call rejects with AbortedError (cause: the signal's reason); a signal already aborted at the
   * call rejects at once. Model.forward only (forwardSync cannot be cancelled).
   */
  signal?: AbortSignal;
  /**
   * Deadline in ms from the call, a number in (0, 2^31 − 1]: when it passes before the result, the call
   * rejects with TimeoutError and the request is dropped as for `signal`. Default: none. Model.forward only.
   */
  timeoutMs?: number;
  /**
   * Where the result (and each feature) is returned: 'cpu' (default), or 'cuda', the model's own GPU: tensors on
   * 'cuda:N' that never touch the host (chain them into another forward; read them with toHost(); dispose() them
   * when done). 'cuda' only for a model on 'cuda:N'. A forward with a device-resident input or outputs runs as a
   * forward of its own (queued, bounded and cancelled like any, never batched with others).
   */
  outputLocation?: OutputLocation;
}

/** Where a forward's outputs go: host memory, or the model's GPU (ForwardOptions.outputLocation). */
export type OutputLocation = 'cpu' | 'cuda';

const FORWARD_OPTION_KEYS = optionKeys<ForwardOptions>({
  mode: true,
  outputs: true,
  signal: true,
  timeoutMs: true,
  outputLocation: true,
});

/** ForwardOptions.outputs given: the named outputs, as {name: Tensor} in the order asked for. */
export type Features = Record<string, Tensor>;

/** The plan of one layer of the layer program for one input shape (Model.plan). */
export interface LayerPlan extends NativeLayerPlan {
  /** The layer's name in the program: conv1_1 …, lrn1, pool1 …, fc6 … (topology.ts layerProgram). */
  name: string;
}

/** What a model runs on, and how. */
export interface ModelInfo {
  /** The concrete device chosen ('cpu', 'reference', 'cuda:N') and why. */
  device: string;
  deviceReason: string;
  /** The backend's own name and its CPU kernel family (e.g. 'avx512'). */
  backend: string;
  kernelFamily: string;
  /** Bytes of packed weights held by the backend (host or device memory). */
  weightBytes: number;
  /** Input shapes whose plans are cached (plans are metadata: at most 64 kept, most recently used first). */
  plansCached: number;
  /**
   * Bytes of backend memory held for forwards now: one arena shared by every input shape, grown to the
   * largest recent need, shrunk after 8 forwards in a row that needed under half of it, freed by releasePlans().
   */
  arenaBytes: number;
  /** The memory budget in force (ModelOptions.memoryBudget resolved), bytes; Infinity: none. */
  memoryBudget: number;
  /**
   * The arithmetic the model's convs (FC layers included) actually use: on the CPU 'fp32' (options 'fp32' and
   * 'tf32') or 'bf16' (option 'bf16'); on CUDA the option; 'fp32' on the reference (fp64 sums).
   */
  precision: Precision;
  /**
   * The algorithm each conv/FC layer's weights were packed for (ModelOptions.convAlgorithm resolved) and the
   * arithmetic it runs in (with precision 'bf16' on the CPU, Winograd layers stay 'fp32'), in program order.
   */
  convAlgorithms: {
    layer: number;
    name: string;
    algorithm: Exclude<ConvAlgorithm, 'auto'>;
    precision: Precision;
    /** Bytes of the layer's packed weights (the algorithm's memory: F(4×4) keeps 36 floats per 3×3 filter). */
    weightBytes: number;
  }[];
  /** CUDA graphs (ModelOptions.cudaGraphs): in force or why not, and the recordings and replays so far. */
  cudaGraphs: NativeGraphInfo;
}

export class Model {
  readonly config: VggConfig;
  /** The device chosen and why (e.g. 'cpu', "CUDA compiled in, no device: CUDA driver not found …"). */
  readonly device: string;
  readonly deviceReason: string;
  private readonly program: readonly LayerStep[];
  private net: NativeNetwork | null;
  private readonly scheduler: Scheduler;

  private constructor(
    config: VggConfig,
    net: NativeNetwork,
    device: string,
    reason: string,
    scheduling: SchedulerOptions,
  ) {
    this.config = config;
    this.program = layerProgram(config);
    this.net = net;
    this.device = device;
    this.deviceReason = reason;
    this.scheduler = new Scheduler(
      scheduling,
      (dims, x, run) =>
        run
          ? this.live('forward').forward(dims, x, run)
          : this.live('forward')
              .forward(dims, x)
              .then((y) => [y]),
      `Model.forward (${config.name})`,
      copyInput,
    );
  }

  /**
   * Builds a model from weights in layer-program order (see topology.weightShapes: conv1_1 … fc8).
   * Weights are packed into the backend's layout (per ModelOptions.convAlgorithm) on the libuv pool, one
   * layer at a time, largest first; the event loop stays free. Each array is copied when its layer's turn
   * comes (on the JS thread, in 8 MB chunks between which the event loop runs), so the caller may reuse or
   * drop them once the promise settles; an array detached or resized before its turn is an
   * InvalidArgumentError naming it.
   * @throws (rejects with) InvalidArgumentError naming the layer on a missing or wrongly sized tensor, or the
   *   option (unknown key, bad value; convAlgorithm 'direct' off the reference device); UnsupportedError for
   *   a device or ISA this host or build lacks; DeviceError when the device fails (out of memory)
   */
  static async create(
    arch: string | VggConfig,
    weights: LayerWeights[],
    options: ModelOptions | null = {},
  ): Promise<Model> {
    const { config, backend, layers, choice, scheduling } = checkCreate(arch, weights, options);
    const net = await packCopies(backend, layers, weights);
    return new Model(config, net, choice.device, choice.reason, scheduling);
  }

  /**
   * Model.create on the calling thread: blocks the event loop for the whole packing (vgg16: seconds);
   * prefer create(). Same arguments and errors (thrown).
   */
  static createSync(arch: string | VggConfig, weights: LayerWeights[], options: ModelOptions | null = {}): Model {
    const { config, backend, layers, choice, scheduling } = checkCreate(arch, weights, options);
    const net = new (native().Network)(
      backend,
      layers,
      weights.map((w) => w.weight),
      weights.map((w) => w.bias),
    );
    return new Model(config, net, choice.device, choice.reason, scheduling);
  }

  /**
   * A model with He-initialised weights (He et al. 2015: N(0, 2/fan_in)) and small N(0, 0.01²) biases,
   * from a seeded generator (the same values as randomWeights(arch, seed)): for tests and benchmarks, not
   * for classification. The weights are generated on a worker thread and packed layer by layer on the libuv
   * pool, largest first (FC6 and FC7 in bands of output channels, so peak memory stays near the packed
   * weights'); the event loop stays free (vgg16: several seconds of work).
   * @throws (rejects with) InvalidArgumentError for a bad seed, arch or option, and as create()
   */
  static async random(arch: string | VggConfig, seed = 1, options: ModelOptions | null = {}): Promise<Model> {
    checkSeed(seed);
    const config = resolveConfig(arch);
    const { backend, layers, choice, scheduling } = checkOptions(options, config);
    const source = workerStream<IndexedLayer>('random', { arch: config, seed, order: 'largest' });
    const net = await packOwned(backend, layers, source);
    return new Model(config, net, choice.device, choice.reason, scheduling);
  }

  /** Model.random on the calling thread: blocks the event loop (vgg16: seconds); prefer random(). */
  static randomSync(arch: string | VggConfig, seed = 1, options: ModelOptions | null = {}): Model {
    return Model.createSync(arch, randomWeights(arch, seed), options);
  }

  /**
   * A model from layers handed over by the library (a weights file streamed by loadClassifier), packed as
   * they arrive: each buffer is moved (transferred) first, read in place and freed once packed.
   * @internal
   */
  static async fromOwnedLayers(
    config: VggConfig,
    source: AsyncIterator<IndexedLayer>,
    options: ModelOptions | null = {},
  ): Promise<Model> {
    const { backend, layers, choice, scheduling } = checkOptions(options, config);
    const net = await packOwned(backend, layers, source);
    return new Model(config, net, choice.device, choice.reason, scheduling);
  }

  /**
   * Input shape (N,C,H,W) → the result's shape, without running: 'fc' [N, K]; 'dense' [N, K, h, w].
   * @throws InvalidArgumentError like forward()
   */
  outputShape(dims: readonly number[], mode: ForwardMode = 'fc'): number[] {
    const m = parseMode(mode, 'mode');
    return resultDims(this.config, this.program, checkInput(this.config, dims, m, 'dims'), m);
  }

  /**
   * The per-layer plan for an input of shape (N,C,H,W) (built and cached as a forward of that shape would
   * be): for each step of the layer program its name, kind, output (N,K,P,Q), and for conv/FC layers the
   * algorithm chosen and the kernel that runs (by symbol name, e.g. 'conv2d_nchw_f32_3x3s1_winograd4x4__avx512')
   * with the scratch it needs (workspaceBytes, bytes).
   * @param mode  checked as forward() checks it; the plan itself is the same for both modes
   * @throws InvalidArgumentError like forward(), DisposedError
   */
  plan(dims: readonly number[], mode: ForwardMode = 'fc'): LayerPlan[] {
    const input = checkInput(this.config, dims, parseMode(mode, 'mode'), 'dims');
    return this.live('plan')
      .plan(input)
      .map((p) => ({ ...p, name: this.program[p.layer].name }));
  }

  /**
   * The backend memory a forward of an input of shape (N,C,H,W) needs, bytes, without running or
   * allocating: activations (the two ping-pong buffers), workspace (the largest conv scratch), staging
   * (input and output in backend memory) and their total, which ModelOptions.memoryBudget caps.
   * @throws InvalidArgumentError like forward(), DisposedError
   */
  planMemory(dims: readonly number[], mode: ForwardMode = 'fc'): NativePlanMemory {
    const m = parseMode(mode, 'mode');
    const input = checkInput(this.config, dims, m, 'dims');
    return this.live('planMemory').memory(input, planRun(this.config, this.program, input, m, undefined).run);
  }

  /**
   * Frees the memory held for forwards (see ModelInfo.arenaBytes) and forgets the cached plans; the next
   * forward plans and allocates again. Never waits: while a forward computes, its arena is freed when it
   * ends. @throws DisposedError
   */
  releasePlans(): void {
    this.live('releasePlans').releasePlans();
  }

  /**
   * Runs the network off the JS thread, through the model's scheduler (ModelOptions maxQueue, maxBatch,
   * maxDelayMs): concurrent calls wait in a bounded queue and run one forward at a time; calls whose inputs
   * have the same per-image dims [C,H,W] are coalesced along N into one forward of up to maxBatch images
   * (whatever their mode: at the training size 'fc' and 'dense' compute the same thing) and each gets its
   * own images' result. A call on an idle model with maxDelayMs 0 starts at once.
   * The input is taken at the call (copied when it has to wait): the caller may reuse its buffer at once. A
   * device-resident input (on the model's GPU) is read in place when its forward runs: dispose() it meanwhile
   * and the forward still completes (the memory is freed after it).
   * @param x  NCHW f32 [N, C, H, W], C = config.inChannels, on 'cpu' or on the model's own device ('cuda:N'). A
   *   3-D [C,H,W] tensor is rejected (add N=1).
   * @returns 'fc', 'torchvision': logits [N, K] (NC); 'dense': score map [N, K, h, w] (NCHW), h = floor(H/32) − 6
   *          for the paper's nets; with options.outputs, the Features asked for. NaN/Inf in the input
   *          propagate to the output. Each image's result is the same whether it ran alone or in a batch (a
   *          failed batch is re-run request by request, so an error, too, is the request's own).
   * @throws InvalidArgumentError (unknown option, mode, output name, signal, timeoutMs, outputLocation, wrong rank,
   *   channels, size for the mode, x on another device than the model's), BusyError (maxQueue requests already wait: refused at once, nothing computed), AbortedError
   *   (options.signal fired first; cause: its reason), TimeoutError (options.timeoutMs passed first),
   *   DisposedError (the model disposed before the call, or while the call was queued: the running forward
   *   completes; x a disposed device tensor), DeviceError (device memory for outputLocation 'cuda' ran out),
   *   MemoryBudgetError (the input needs more than ModelOptions.memoryBudget: refused before it is queued;
   *   planMemory tells how much)
   */
  async forward(x: Tensor, options: ForwardOptions & { outputs: readonly string[] }): Promise<Features>;
  async forward(x: Tensor, options?: ForwardOptions | null): Promise<Tensor>;
  async forward(x: Tensor, options: ForwardOptions | null = {}): Promise<Tensor | Features> {
    const p = this.prepare(x, options, 'forward');
    const { input, plan, named, signal, timeoutMs } = p;
    if (!p.onDevice && x.device === 'cpu') {
      const ys = await this.scheduler.submit({ dims: input, data: x.data, run: plan.run, signal, timeoutMs });
      return results(plan, ys, named);
    }
    // A host input is copied now, as any queued request's is: the caller may reuse its buffer at once.
    const hostInput = x.device === 'cpu' ? copyInput(x.data) : undefined;
    const own = async (): Promise<NativeOutput[]> => {
      const { source, out } = this.deviceCall(x, p, 'forward', hostInput);
      try {
        return await this.live('forward').forward(input, source, plan.run ?? {}, out);
      } catch (e) {
        disposeOutputs(out ?? []);
        throw e;
      }
    };
    const ys = await this.scheduler.submit({
      dims: input,
      data: EMPTY,
      signal,
      timeoutMs,
      own,
      discard: disposeOutputs,
    });
    return results(plan, ys, named);
  }

  /**
   * Synchronous forward, outside the scheduler: blocks the event loop for the whole run (and, while an
   * async forward of this model computes, until it ends); not queued, batched, counted in stats() or
   * refused when the queue is full. Prefer forward(). Same arguments and errors as forward(), except that
   * options.signal and options.timeoutMs are refused (InvalidArgumentError): a blocking call cannot be
   * cancelled.
   */
  forwardSync(x: Tensor, options: ForwardOptions & { outputs: readonly string[] }): Features;
  forwardSync(x: Tensor, options?: ForwardOptions | null): Tensor;
  forwardSync(x: Tensor, options: ForwardOptions | null = {}): Tensor | Features {
    const p = this.prepare(x, options, 'forwardSync');
    const { input, plan, named, signal, timeoutMs } = p;
    if (signal !== undefined || timeoutMs !== undefined)
      throw new InvalidArgumentError(
        `options.${signal !== undefined ? 'signal' : 'timeoutMs'}: forwardSync cannot be cancelled; use forward()`,
      );
    const net = this.live('forwardSync');
    if (!p.onDevice && x.device === 'cpu')
      return results(
        plan,
        plan.run ? net.forwardSync(input, x.data, plan.run) : [net.forwardSync(input, x.data)],
        named,
      );
    const { source, out } = this.deviceCall(x, p, 'forwardSync');
    try {
      return results(plan, net.forwardSync(input, source, plan.run ?? {}, out), named);
    } catch (e) {
      disposeOutputs(out ?? []);
      throw e;
    }
  }

  /**
   * The scheduler's counters now (a copy): queue depth, requests by outcome, forwards and their sizes, time
   * waited and computed. See SchedulerStats. Readable after dispose().
   */
  stats(): SchedulerStats {
    return this.scheduler.stats();
  }

  /** The scheduling options the model was created with (ModelOptions maxQueue, maxBatch, maxDelayMs resolved). */
  get schedulerOptions(): Readonly<SchedulerOptions> {
    return this.scheduler.options;
  }

  /** Device and backend in use, kernel family, precision, bytes of packed weights, plans cached, each conv/FC layer's algorithm and precision. */
  info(): ModelInfo {
    const i = this.live('info').info();
    return {
      device: this.device,
      deviceReason: this.deviceReason,
      backend: i.backend,
      kernelFamily: i.kernelFamily,
      weightBytes: i.weightBytes,
      plansCached: i.plansCached,
      arenaBytes: i.arenaBytes,
      memoryBudget: i.memoryBudget === 0 ? Infinity : i.memoryBudget,
      precision: i.precision,
      convAlgorithms: i.convAlgorithms.map((c) => ({
        layer: c.layer,
        name: this.program[c.layer].name,
        algorithm: c.algorithm,
        weightBytes: c.weightBytes,
        precision: c.precision,
      })),
      cudaGraphs: { ...i.cudaGraphs },
    };
  }

  /**
   * Frees native (and device) memory. Requests still queued reject with DisposedError (never computed); the
   * forward computing now completes and its callers get their results. Any later call throws DisposedError.
   * Idempotent.
   */
  dispose(): void {
    this.scheduler.close();
    this.net?.dispose();
    this.net = null;
  }

  get disposed(): boolean {
    return this.net === null;
  }

  private live(method: string): NativeNetwork {
    if (!this.net) throw new DisposedError(`Model.${method}: the model (${this.config.name}) was disposed`);
    return this.net;
  }

  /** The one validation of a forward: options, mode, outputs, the tensor and its device; the run and its
   *  outputs' dims, inferred in JS. */
  private prepare(x: Tensor, options: ForwardOptions | null | undefined, method: string): Prepared {
    const o = readOptions(options, FORWARD_OPTION_KEYS);
    const mode = parseMode(o.mode ?? 'fc');
    const signal = o.signal === undefined ? undefined : parseSignal(o.signal);
    const timeoutMs = o.timeoutMs === undefined ? undefined : parseTimeoutMs(o.timeoutMs);
    const onDevice = this.parseOutputLocation(o.outputLocation);
    if (!(x instanceof Tensor)) throw new InvalidArgumentError(`x: expected a Tensor, got ${describeValue(x)}`);
    if (x.device !== 'cpu') {
      if (x.device !== this.device)
        throw new InvalidArgumentError(
          `x: on '${x.device}', the model (${this.config.name}) runs on '${this.device}': transfers are explicit, pass x.to('${this.device.startsWith('cuda:') ? this.device : 'cpu'}')`,
        );
      x.deviceBuffer(`Model.${method}: x`); // disposed: DisposedError
    }
    const input = checkInput(this.config, x.dims, mode);
    const plan = planRun(this.config, this.program, input, mode, o.outputs);
    this.live(method).checkBudget(input, plan.run); // before the input is copied or queued
    return { input, plan, named: o.outputs !== undefined, signal, timeoutMs, onDevice };
  }

  /** outputLocation: true for the model's GPU. @throws InvalidArgumentError */
  private parseOutputLocation(v: unknown): boolean {
    if (v === undefined || v === 'cpu') return false;
    if (v !== 'cuda')
      throw new InvalidArgumentError(`options.outputLocation: expected 'cpu' | 'cuda', got ${describeValue(v)}`);
    if (!this.device.startsWith('cuda:'))
      throw new InvalidArgumentError(
        `options.outputLocation: 'cuda' returns tensors on the model's GPU, and the model (${this.config.name}) runs on '${this.device}'`,
      );
    return true;
  }

  /**
   * The native arguments of a forward with a device-resident input or outputs: the input (host array or device
   * buffer; `hostInput`: the copy taken at the call) and, for outputLocation 'cuda', fresh device buffers for the
   * result and each feature.
   * @throws DisposedError (x disposed since the call), UnsupportedError / DeviceError (allocation)
   */
  private deviceCall(
    x: Tensor,
    p: Prepared,
    method: string,
    hostInput?: Float32Array,
  ): { source: NativeInput; out?: NativeDeviceBuffer[] } {
    const source = x.device === 'cpu' ? (hostInput ?? x.data) : x.deviceBuffer(`Model.${method}: x`);
    if (!p.onDevice) return { source };
    const gpu = Number(this.device.slice('cuda:'.length));
    const out: NativeDeviceBuffer[] = [];
    try {
      for (const o of p.plan.outputs)
        out.push(
          new (native().DeviceBuffer)(
            gpu,
            o.dims.reduce((a, d) => a * d, 1),
          ),
        );
    } catch (e) {
      disposeOutputs(out);
      throw e;
    }
    return { source, out };
  }
}

/** The checks of create(): options, arch, every weight's type and size; the device chosen. */
function checkCreate(arch: string | VggConfig, weights: LayerWeights[], options: ModelOptions | null | undefined) {
  const o = resolveModelOptions(options);
  const config = resolveConfig(arch);
  const shapes = weightShapes(config);
  if (!Array.isArray(weights) || weights.length !== shapes.length)
    throw new InvalidArgumentError(
      `weights: ${config.name} has ${shapes.length} conv/FC layers, got ${Array.isArray(weights) ? weights.length : describeValue(weights)} weight sets`,
    );
  shapes.forEach((s, i) => {
    const w = weights[i];
    const want = s.weight.reduce((a, b) => a * b, 1);
    if (!types.isFloat32Array(w?.weight) || w.weight.length !== want)
      throw new InvalidArgumentError(
        `weights[${i}] (${s.name}.weight): expected Float32Array of ${want} elements [${s.weight.join(',')}], got ${describe(w?.weight)}`,
      );
    if (!types.isFloat32Array(w.bias) || w.bias.length !== s.bias[0])
      throw new InvalidArgumentError(
        `weights[${i}] (${s.name}.bias): expected Float32Array of ${s.bias[0]} elements, got ${describe(w.bias)}`,
      );
  });
  return { config, ...checkOptions(o, config) };
}

/**
 * Model options resolved: the device chosen, what the native backend is given, the layer program with each
 * conv layer's requested algorithm, the scheduler's options.
 */
function checkOptions(
  options: ModelOptions | null | undefined,
  config: VggConfig,
): {
  backend: NativeBackendOptions;
  layers: NativeLayer[];
  choice: DeviceChoice;
  scheduling: SchedulerOptions;
} {
  const o = resolveModelOptions(options);
  const choice = chooseDevice(o.device);
  const program = layerProgram(config);
  const convNames = program.filter((s) => s.kind === 'conv').map((s) => s.name);
  const layers = program.map((s) => {
    const layer = nativeLayer(s);
    if (layer.kind !== 'conv') return layer;
    const algorithm = convAlgorithmFor(o.convAlgorithm, s.name, convNames);
    if (algorithm === 'direct' && choice.device !== 'reference')
      throw new InvalidArgumentError(
        `options.convAlgorithm: 'direct' is the reference backend's algorithm (device 'reference'), the model runs on '${choice.device}' (asked for ${s.name})`,
      );
    return { ...layer, algorithm };
  });
  return {
    backend: {
      device: choice.device,
      threads: o.threads,
      isa: o.isa,
      precision: o.precision,
      convAlgorithm: convAlgorithmFor(o.convAlgorithm, '', convNames),
      memoryBudget: resolveMemoryBudget(o.memoryBudget, choice.device),
      cudaGraphs: o.cudaGraphs,
    },
    layers,
    choice,
    scheduling: { maxQueue: o.maxQueue, maxBatch: o.maxBatch, maxDelayMs: o.maxDelayMs },
  };
}

/** A copy of a waiting forward's input; running out of memory is a DeviceError, like the native copy. */
function copyInput(data: Float32Array): Float32Array {
  try {
    return data.slice();
  } catch (e) {
    throw new DeviceError(
      `forward: out of host memory copying the input (${data.length} floats): ${(e as Error).message}`,
    );
  }
}

/** A step of the layer program as the native planner takes it: every field, no name. */
export function nativeLayer(s: LayerStep): NativeLayer {
  switch (s.kind) {
    case 'conv':
      return {
        kind: 'conv',
        inChannels: s.inChannels,
        outChannels: s.outChannels,
        kernel: s.kernel,
        stride: s.stride,
        pad: s.pad,
        relu: s.relu,
      };
    case 'maxpool':
      return { kind: 'maxpool', window: s.window, stride: s.stride };
    case 'lrn':
      return { kind: 'lrn', size: s.size, alpha: s.alpha, beta: s.beta, k: s.k };
  }
}

/** A validated forward call (Model.prepare). */
interface Prepared {
  input: Dims4;
  plan: RunPlan;
  named: boolean;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** outputLocation 'cuda' */
  onDevice: boolean;
}

const EMPTY = new Float32Array(0);

/** Frees the device buffers among a forward's outputs (host arrays need nothing). */
function disposeOutputs(outputs: readonly NativeOutput[]): void {
  for (const y of outputs) if (!types.isFloat32Array(y)) y.dispose();
}

/** The native results ([run.last, ...run.taps], as plan.outputs) as one Tensor, or Features by name. */
function results(plan: RunPlan, ys: readonly NativeOutput[], named: boolean): Tensor | Features {
  const tensors = plan.outputs.map((o, i) => {
    const y = ys[i];
    return types.isFloat32Array(y) ? new Tensor(o.dims, y, o.layout) : Tensor.adopt(o.dims, o.layout, y);
  });
  if (!named) return tensors[0];
  const features: Features = {};
  const given = new Set<number>();
  for (const name of plan.order) {
    const i = plan.outputs.findIndex((o) => o.name === name);
    features[name] = tensors[i];
    given.add(i);
  }
  // The run's last layer is computed even when only its pre-ReLU output was asked for: free what nobody gets.
  tensors.forEach((t, i) => given.has(i) || t.dispose());
  return features;
}

/** A weight argument in a message: 'Float32Array of 5 elements', 'null', …. */
function describe(v: unknown): string {
  return ArrayBuffer.isView(v) ? `${describeValue(v)} of ${(v as Float32Array).length} elements` : describeValue(v);
}
