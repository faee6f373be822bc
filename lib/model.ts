/**
 * Model: a VGG network on one backend, with two ways to infer (paper §3.2):
 *  - 'fc': the dense FC head on the training size (224×224 for the paper's nets; pool5 must be 7×7).
 *    Returns class scores (logits) [N, K] (layout NC).
 *  - 'fully-conv': dense evaluation. FC6 becomes a 7×7 conv (no padding), FC7/FC8 1×1 convs; any input
 *    whose pool5 is at least 7×7 works. Returns the class score map [N, K, h, w] (NCHW).
 * Both run the same packed weights: FC6's [4096, 25088] matrix in C,H,W order is the OIHW [4096,512,7,7]
 * kernel, so at 224 the two modes compute the same numbers.
 */
import { chooseDevice } from './backends';
import { DisposedError, InvalidArgumentError } from './errors';
import { native, NativeNetwork } from './native';
import { fillNormal } from './random';
import { Tensor } from './tensor';
import { layerProgram, pool5Size, resolveConfig, VggConfig, weightShapes } from './topology';

/** Weights of one conv/FC layer: weight (K,C,R,S) OIHW f32, bias (K) f32. */
export interface LayerWeights {
  weight: Float32Array;
  bias: Float32Array;
}

export type ForwardMode = 'fc' | 'fully-conv';

export interface ModelOptions {
  /** 'auto' (default) | 'cpu' | 'cuda' | 'cuda:N' | 'reference' (plain loops: slow, for checking). */
  device?: string;
  /** CPU threads; 0 or undefined: all hardware threads. */
  threads?: number;
  /** Force a CPU kernel family: 'auto' (default) | 'scalar' | 'avx2' | 'avx512'. */
  isa?: 'auto' | 'scalar' | 'avx2' | 'avx512';
  /** CUDA arithmetic: 'tf32' (default, as PyTorch uses for cuDNN convolutions), 'fp32', 'bf16', 'fp16'
   *  (the last two with fp32 accumulation). Ignored on the CPU, which computes in fp32. */
  precision?: 'fp32' | 'tf32' | 'bf16' | 'fp16';
}

export interface ForwardOptions {
  /** Default 'fc'. */
  mode?: ForwardMode;
}

export class Model {
  readonly config: VggConfig;
  /** The device chosen and why (e.g. 'cpu', "CUDA compiled in, no device: CUDA driver not found …"). */
  readonly device: string;
  readonly deviceReason: string;
  private net: NativeNetwork | null;

  private constructor(config: VggConfig, net: NativeNetwork, device: string, reason: string) {
    this.config = config;
    this.net = net;
    this.device = device;
    this.deviceReason = reason;
  }

  /**
   * Builds a model from weights in layer-program order (see topology.weightShapes: conv1_1 … fc8).
   * Weights are packed into the backend's layout; the arrays may be dropped afterwards.
   * @throws InvalidArgumentError naming the layer on a missing or wrongly sized tensor
   */
  static create(arch: string | VggConfig, weights: LayerWeights[], opts: ModelOptions | null = {}): Model {
    const options = checkOptions(opts);
    const config = resolveConfig(arch);
    const shapes = weightShapes(config);
    if (!Array.isArray(weights) || weights.length !== shapes.length)
      throw new InvalidArgumentError(
        `weights: ${config.name} has ${shapes.length} conv/FC layers, got ${Array.isArray(weights) ? weights.length : typeof weights} weight sets`,
      );
    shapes.forEach((s, i) => {
      const w = weights[i];
      const want = s.weight.reduce((a, b) => a * b, 1);
      if (!(w?.weight instanceof Float32Array) || w.weight.length !== want)
        throw new InvalidArgumentError(`weights[${i}] (${s.name}.weight): expected Float32Array of ${want} elements [${s.weight.join(',')}], got ${describe(w?.weight)}`);
      if (!(w.bias instanceof Float32Array) || w.bias.length !== s.bias[0])
        throw new InvalidArgumentError(`weights[${i}] (${s.name}.bias): expected Float32Array of ${s.bias[0]} elements, got ${describe(w.bias)}`);
    });
    const precision = options.precision ?? 'tf32';
    if (!['fp32', 'tf32', 'bf16', 'fp16'].includes(precision))
      throw new InvalidArgumentError(`options.precision: expected 'fp32' | 'tf32' | 'bf16' | 'fp16', got '${String(precision)}'`);
    const choice = chooseDevice(options.device ?? 'auto');
    const net = new (native().Network)(
      { device: choice.device, threads: options.threads ?? 0, isa: options.isa ?? 'auto', precision },
      layerProgram(config),
      weights.map((w) => w.weight),
      weights.map((w) => w.bias),
    );
    return new Model(config, net, choice.device, choice.reason);
  }

  /**
   * A model with He-initialised weights (He et al. 2015: N(0, 2/fan_in)) and small N(0, 0.01²) biases,
   * from a seeded generator: for tests and benchmarks, not for classification.
   */
  static random(arch: string | VggConfig, seed = 1, options: ModelOptions | null = {}): Model {
    return Model.create(arch, randomWeights(arch, seed), options);
  }

  /** Input shape → output shape, without running. Throws InvalidArgumentError like forward(). */
  outputShape(dims: readonly number[], mode: ForwardMode = 'fc'): number[] {
    this.checkInput(dims, mode);
    const out = this.live('outputShape').outputShape([...dims]);
    return mode === 'fc' ? [out[0], out[1]] : out;
  }

  /**
   * Runs the network off the JS thread.
   * @param x  NCHW f32 [N, C, H, W], C = config.inChannels. A 3-D [C,H,W] tensor is rejected (add N=1).
   * @returns 'fc': logits [N, K] (NC); 'fully-conv': score map [N, K, h, w] (NCHW), h = floor(H/32) − 6
   *          for the paper's nets. NaN/Inf in the input propagate to the output.
   * Concurrent calls on one model run one after another, in call order; a call queued behind a running
   * one when dispose() comes is rejected with DisposedError (the running one completes).
   * @throws InvalidArgumentError (wrong rank, channels, size for the mode), DisposedError
   */
  async forward(x: Tensor, options: ForwardOptions | null = {}): Promise<Tensor> {
    const mode = checkOptions(options).mode ?? 'fc';
    this.checkTensor(x, mode);
    const net = this.live('forward');
    const dims = [...x.dims];
    const out = net.outputShape(dims); // before awaiting: dispose() may come meanwhile
    if (this.pending === 0) return wrap(out, await this.track(net.forward(dims, x.data)), mode);
    // Forwards of one model run one at a time; queue here rather than tie up libuv pool threads waiting
    // on the native lock. The input is copied now: the caller may reuse its buffer meanwhile.
    const copy = x.data.slice();
    const run = this.queue.then(() => net.forward(dims, copy));
    return wrap(out, await this.track(run), mode);
  }

  /** Synchronous forward: blocks the event loop for the whole run; prefer forward(). */
  forwardSync(x: Tensor, options: ForwardOptions | null = {}): Tensor {
    const mode = checkOptions(options).mode ?? 'fc';
    this.checkTensor(x, mode);
    const net = this.live('forwardSync');
    return wrap(net.outputShape([...x.dims]), net.forwardSync([...x.dims], x.data), mode);
  }

  /** Backend in use, kernel family, bytes of packed weights, plans cached. */
  info(): { device: string; deviceReason: string; backend: string; kernelFamily: string; weightBytes: number; plansCached: number } {
    return { device: this.device, deviceReason: this.deviceReason, ...this.live('info').info() };
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

  private checkTensor(x: Tensor, mode: ForwardMode): void {
    if (!(x instanceof Tensor)) throw new InvalidArgumentError(`x: expected a Tensor, got ${describe(x)}`);
    if (x.device !== 'cpu') throw new InvalidArgumentError(`x: expected a 'cpu' tensor, got '${x.device}'`);
    this.checkInput(x.dims, mode);
  }

  private checkInput(dims: readonly number[], mode: ForwardMode): void {
    if (mode !== 'fc' && mode !== 'fully-conv')
      throw new InvalidArgumentError(`mode: expected 'fc' | 'fully-conv', got '${String(mode)}'`);
    if (dims.length !== 4)
      throw new InvalidArgumentError(
        `x: expected 4 dims [N,C,H,W] (NCHW), got ${dims.length} [${dims.join(',')}]` +
          (dims.length === 3 ? `; a single image needs a batch dimension: [1,${dims.join(',')}]` : ''),
      );
    const [, c, h, w] = dims;
    const cfg = this.config;
    if (c !== cfg.inChannels)
      throw new InvalidArgumentError(`x: expected ${cfg.inChannels} channels (dims[1]), got ${c}`);
    const s = cfg.inputSize;
    if (mode === 'fc' && (h !== s || w !== s))
      throw new InvalidArgumentError(
        `x: mode 'fc' expects a ${s}×${s} input (pool5 must be ${pool5Size(cfg)}×${pool5Size(cfg)}), got ${h}×${w}; use mode 'fully-conv' for other sizes`,
      );
    if (mode === 'fully-conv' && (h < s || w < s))
      throw new InvalidArgumentError(
        `x: mode 'fully-conv' needs at least ${s}×${s} (pool5 at least ${pool5Size(cfg)}×${pool5Size(cfg)}), got ${h}×${w}`,
      );
  }
}

function checkOptions<T extends object>(options: T | null | undefined): Partial<T> {
  if (options === null || options === undefined) return {};
  if (typeof options !== 'object') throw new InvalidArgumentError(`options: expected an object, got ${typeof options}`);
  return options;
}

function wrap(out: number[], y: Float32Array, mode: ForwardMode): Tensor {
  return mode === 'fc' ? new Tensor([out[0], out[1]], y, 'NC') : new Tensor(out, y, 'NCHW');
}

/** Seeded He-initialised weights in layer-program order (see Model.random). */
export function randomWeights(arch: string | VggConfig, seed = 1): LayerWeights[] {
  return weightShapes(resolveConfig(arch)).map((s, i) => {
    const [K, C, R, S] = s.weight;
    return {
      weight: fillNormal(new Float32Array(K * C * R * S), Math.sqrt(2 / (C * R * S)), seed * 1000 + 2 * i),
      bias: fillNormal(new Float32Array(K), 0.01, seed * 1000 + 2 * i + 1),
    };
  });
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (ArrayBuffer.isView(v)) return `${v.constructor.name} of ${(v as Float32Array).length} elements`;
  return typeof v;
}
