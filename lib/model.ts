/**
 * Model: a VGG network on one backend, with the paper's two ways to run it (§3.2; ForwardMode):
 *  - 'fc': the FC head on the training size (224×224 for the paper's nets; pool5 must be 7×7).
 *    Returns class scores (logits) [N, K] (layout NC).
 *  - 'dense': dense evaluation. FC6 becomes a 7×7 conv (no padding), FC7/FC8 1×1 convs; any input whose
 *    pool5 is at least 7×7 works. Returns the class score map [N, K, h, w] (NCHW).
 * Both run the same packed weights: FC6's [4096, 25088] matrix in C,H,W order is the OIHW [4096,512,7,7]
 * kernel, so at 224 the two modes compute the same numbers.
 */
import { types } from 'util';

import { chooseDevice, DeviceChoice } from './backends';
import { packCopies, packOwned } from './build';
import { describeValue } from './describe';
import { DeviceError, DisposedError, InvalidArgumentError } from './errors';
import { Dims4, native, NativeBackendOptions, NativeLayer, NativeLayerPlan, NativeNetwork } from './native';
import {
  ConvAlgorithm,
  ForwardMode,
  ModelOptions,
  optionKeys,
  parseMode,
  readOptions,
  resolveModelOptions,
} from './options';
import { checkSeed, LayerWeights, randomWeights } from './random-weights';
import { checkInput, resultDims } from './shapes';
import { Tensor } from './tensor';
import { LayerStep, layerProgram, resolveConfig, VggConfig, weightShapes } from './topology';
import { workerStream } from './worker/client';
import type { IndexedLayer } from './worker/tasks';

export type { ForwardMode, ModelOptions } from './options';

export type { LayerWeights } from './random-weights';
export { randomWeights } from './random-weights';

export interface ForwardOptions {
  /** Default 'fc'. See ForwardMode. */
  mode?: ForwardMode;
}

const FORWARD_OPTION_KEYS = optionKeys<ForwardOptions>({ mode: true });

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
  /** Input shapes whose plans are cached (at most 4, most recently used kept). */
  plansCached: number;
  /** The algorithm each conv/FC layer's weights were packed for (ModelOptions.convAlgorithm resolved), in program order. */
  convAlgorithms: { layer: number; name: string; algorithm: Exclude<ConvAlgorithm, 'auto'> }[];
}

export class Model {
  readonly config: VggConfig;
  /** The device chosen and why (e.g. 'cpu', "CUDA compiled in, no device: CUDA driver not found …"). */
  readonly device: string;
  readonly deviceReason: string;
  private readonly program: readonly LayerStep[];
  private net: NativeNetwork | null;

  private constructor(config: VggConfig, net: NativeNetwork, device: string, reason: string) {
    this.config = config;
    this.program = layerProgram(config);
    this.net = net;
    this.device = device;
    this.deviceReason = reason;
  }

  /**
   * Builds a model from weights in layer-program order (see topology.weightShapes: conv1_1 … fc8).
   * Weights are packed into the backend's layout (per ModelOptions.convAlgorithm) on the libuv pool, one
   * layer at a time; the event loop stays free. Each array is copied when its layer's turn comes (vgg16's
   * FC6: tens of ms), so the caller may reuse or drop them once the promise settles; an array detached or
   * resized before its turn is an InvalidArgumentError naming it.
   * @throws (rejects with) InvalidArgumentError naming the layer on a missing or wrongly sized tensor, or the
   *   option (unknown key, bad value; convAlgorithm 'direct' off the reference device); UnsupportedError for
   *   a device or ISA this host or build lacks; DeviceError when the device fails (out of memory)
   */
  static async create(
    arch: string | VggConfig,
    weights: LayerWeights[],
    options: ModelOptions | null = {},
  ): Promise<Model> {
    const { config, backend, choice } = checkCreate(arch, weights, options);
    const net = await packCopies(backend, layerProgram(config).map(nativeLayer), weights);
    return new Model(config, net, choice.device, choice.reason);
  }

  /**
   * Model.create on the calling thread: blocks the event loop for the whole packing (vgg16: seconds);
   * prefer create(). Same arguments and errors (thrown).
   */
  static createSync(arch: string | VggConfig, weights: LayerWeights[], options: ModelOptions | null = {}): Model {
    const { config, backend, choice } = checkCreate(arch, weights, options);
    const net = new (native().Network)(
      backend,
      layerProgram(config).map(nativeLayer),
      weights.map((w) => w.weight),
      weights.map((w) => w.bias),
    );
    return new Model(config, net, choice.device, choice.reason);
  }

  /**
   * A model with He-initialised weights (He et al. 2015: N(0, 2/fan_in)) and small N(0, 0.01²) biases,
   * from a seeded generator (the same values as randomWeights(arch, seed)): for tests and benchmarks, not
   * for classification. The weights are generated on a worker thread and packed layer by layer on the libuv
   * pool, largest first; the event loop stays free (vgg16: several seconds of work).
   * @throws (rejects with) InvalidArgumentError for a bad seed, arch or option, and as create()
   */
  static async random(arch: string | VggConfig, seed = 1, options: ModelOptions | null = {}): Promise<Model> {
    checkSeed(seed);
    const config = resolveConfig(arch);
    const { backend, choice } = checkOptions(options);
    const source = workerStream<IndexedLayer>('random', { arch: config, seed, order: 'largest' });
    const net = await packOwned(backend, layerProgram(config).map(nativeLayer), source);
    return new Model(config, net, choice.device, choice.reason);
  }

  /** Model.random on the calling thread: blocks the event loop (vgg16: seconds); prefer random(). */
  static randomSync(arch: string | VggConfig, seed = 1, options: ModelOptions | null = {}): Model {
    return Model.createSync(arch, randomWeights(arch, seed), options);
  }

  /**
   * A model from layers only the library holds (a weights file streamed by loadClassifier), packed as they
   * arrive and freed once packed. Not for the caller's arrays: see create().
   * @internal
   */
  static async fromOwnedLayers(
    config: VggConfig,
    source: AsyncIterator<IndexedLayer>,
    options: ModelOptions | null = {},
  ): Promise<Model> {
    const { backend, choice } = checkOptions(options);
    const net = await packOwned(backend, layerProgram(config).map(nativeLayer), source);
    return new Model(config, net, choice.device, choice.reason);
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
   * Runs the network off the JS thread.
   * @param x  NCHW f32 [N, C, H, W], C = config.inChannels. A 3-D [C,H,W] tensor is rejected (add N=1).
   * @returns 'fc': logits [N, K] (NC); 'dense': score map [N, K, h, w] (NCHW), h = floor(H/32) − 6
   *          for the paper's nets. NaN/Inf in the input propagate to the output.
   * Concurrent calls on one model run one after another, in call order; a call queued behind a running
   * one when dispose() comes is rejected with DisposedError (the running one completes).
   * @throws InvalidArgumentError (unknown option, mode, wrong rank, channels, size for the mode), DisposedError
   */
  async forward(x: Tensor, options: ForwardOptions | null = {}): Promise<Tensor> {
    const { input, out, mode } = this.prepare(x, options);
    const net = this.live('forward'); // before awaiting: dispose() may come meanwhile
    if (this.pending === 0) return wrap(out, await this.track(net.forward(input, x.data)), mode);
    // Forwards of one model run one at a time; queue here rather than tie up libuv pool threads waiting
    // on the native lock. The input is copied now: the caller may reuse its buffer meanwhile.
    const copy = copyInput(x.data);
    const run = this.queue.then(() => net.forward(input, copy));
    return wrap(out, await this.track(run), mode);
  }

  /** Synchronous forward: blocks the event loop for the whole run; prefer forward(). Same arguments and errors. */
  forwardSync(x: Tensor, options: ForwardOptions | null = {}): Tensor {
    const { input, out, mode } = this.prepare(x, options);
    return wrap(out, this.live('forwardSync').forwardSync(input, x.data), mode);
  }

  /** Device and backend in use, kernel family, bytes of packed weights, plans cached, each conv/FC layer's algorithm. */
  info(): ModelInfo {
    const i = this.live('info').info();
    return {
      device: this.device,
      deviceReason: this.deviceReason,
      backend: i.backend,
      kernelFamily: i.kernelFamily,
      weightBytes: i.weightBytes,
      plansCached: i.plansCached,
      convAlgorithms: i.convAlgorithms.map((c) => ({
        layer: c.layer,
        name: this.program[c.layer].name,
        algorithm: c.algorithm,
      })),
    };
  }

  /** Frees native (and device) memory. Any later call throws DisposedError. Idempotent. */
  dispose(): void {
    this.net?.dispose();
    this.net = null;
  }

  get disposed(): boolean {
    return this.net === null;
  }

  private pending = 0;
  private queue: Promise<unknown> = Promise.resolve();

  /** Counts a run in flight; the queue settles when it does. */
  private track<T>(run: Promise<T>): Promise<T> {
    this.pending++;
    const done = () => {
      this.pending--;
    };
    this.queue = run.then(done, done);
    return run;
  }

  private live(method: string): NativeNetwork {
    if (!this.net) throw new DisposedError(`Model.${method}: the model (${this.config.name}) was disposed`);
    return this.net;
  }

  /** The one validation of a forward: options, mode, the tensor; and the result's dims, inferred in JS. */
  private prepare(
    x: Tensor,
    options: ForwardOptions | null | undefined,
  ): { input: Dims4; out: number[]; mode: ForwardMode } {
    const mode = parseMode(readOptions(options, FORWARD_OPTION_KEYS).mode ?? 'fc');
    if (!(x instanceof Tensor)) throw new InvalidArgumentError(`x: expected a Tensor, got ${describeValue(x)}`);
    if (x.device !== 'cpu') throw new InvalidArgumentError(`x: expected a 'cpu' tensor, got '${x.device}'`);
    const input = checkInput(this.config, x.dims, mode);
    return { input, out: resultDims(this.config, this.program, input, mode), mode };
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
  return { config, ...checkOptions(o) };
}

/** Model options resolved, the device chosen, and what the native backend is given. */
function checkOptions(options: ModelOptions | null | undefined): {
  backend: NativeBackendOptions;
  choice: DeviceChoice;
} {
  const o = resolveModelOptions(options);
  const choice = chooseDevice(o.device);
  if (o.convAlgorithm === 'direct' && choice.device !== 'reference')
    throw new InvalidArgumentError(
      `options.convAlgorithm: 'direct' is the reference backend's algorithm (device 'reference'), the model runs on '${choice.device}'`,
    );
  return {
    backend: {
      device: choice.device,
      threads: o.threads,
      isa: o.isa,
      precision: o.precision,
      convAlgorithm: o.convAlgorithm,
    },
    choice,
  };
}

/** A copy of a queued forward's input; running out of memory is a DeviceError, like the native copy. */
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

function wrap(out: number[], y: Float32Array, mode: ForwardMode): Tensor {
  return new Tensor(out, y, mode === 'fc' ? 'NC' : 'NCHW');
}

/** A weight argument in a message: 'Float32Array of 5 elements', 'null', …. */
function describe(v: unknown): string {
  return ArrayBuffer.isView(v) ? `${describeValue(v)} of ${(v as Float32Array).length} elements` : describeValue(v);
}
