/**
 * Shape inference over the layer program, in JS (the native planner computes the same shapes and re-checks
 * them): conv P = floor((H + 2·pad − R)/stride) + 1, 2×2/2 max pool P = floor((H − 2)/2) + 1, LRN keeps
 * the shape. Used by summary() and by Model for its error messages and the dims of its results.
 */
import { describeValue } from './describe';
import { InvalidArgumentError } from './errors';
import type { Dims4 } from './native';
import type { ForwardMode } from './options';
import { checkDims } from './tensor';
import { LayerStep, pool5Size, VggConfig } from './topology';

export type { Dims4 } from './native';

/** A step of the layer program with its output (N,K,P,Q) NCHW. */
export interface ShapedStep {
  step: LayerStep;
  output: Dims4;
}

/** torchvision's AdaptiveAvgPool2d: the input of step `before` pooled to size×size. */
export interface AdaptivePool {
  before: number;
  size: number;
}

/**
 * Output dims of every step of `program` for an input (N,C,H,W), with an adaptive pool when given.
 * @throws InvalidArgumentError naming the first layer whose input is smaller than its kernel or window
 *   (`input: H×W is too small for <config>: <layer> needs at least k×k, got h×w (minimum input M)`)
 */
export function shapeProgram(
  cfg: VggConfig,
  program: readonly LayerStep[],
  input: Dims4,
  adaptive?: AdaptivePool,
): ShapedStep[] {
  const n = input[0];
  let [, c, h, w] = input;
  const tooSmall = (s: LayerStep, k: number) =>
    new InvalidArgumentError(
      `input: ${input[2]}×${input[3]} is too small for ${cfg.name}: ${s.name} needs at least ${k}×${k}, got ${h}×${w} ` +
        `(minimum input ${pool5Size(cfg) * 2 ** cfg.stages.length})`,
    );
  return program.map((s, i) => {
    if (i === adaptive?.before) h = w = adaptive.size;
    if (s.kind === 'conv') {
      if (h + 2 * s.pad < s.kernel || w + 2 * s.pad < s.kernel) throw tooSmall(s, s.kernel);
      h = Math.floor((h + 2 * s.pad - s.kernel) / s.stride) + 1;
      w = Math.floor((w + 2 * s.pad - s.kernel) / s.stride) + 1;
      c = s.outChannels;
    } else if (s.kind === 'maxpool') {
      if (h < s.window || w < s.window) throw tooSmall(s, s.window);
      h = Math.floor((h - s.window) / s.stride) + 1;
      w = Math.floor((w - s.window) / s.stride) + 1;
    }
    return { step: s, output: [n, c, h, w] as Dims4 };
  });
}

/**
 * Checks an input shape for a mode and returns it as Dims4:
 *  - 4 dims (N,C,H,W) of positive integers (a 3-D [C,H,W] gets the fix: add N = 1), C = cfg.inChannels;
 *  - 'fc': H = W = cfg.inputSize (pool5 then matches FC6's kernel);
 *  - 'dense': H, W ≥ cfg.inputSize (pool5 at least FC6's kernel);
 *  - 'torchvision': H, W ≥ 2^stages (pool5 at least 1×1; torchvision's minimum of 32 for 5 stages).
 * @param what  how the input is named in messages ('x', 'dims')
 * @throws InvalidArgumentError naming what is wrong and, for a size, the mode that would take it
 */
export function checkInput(cfg: VggConfig, dims: readonly number[], mode: ForwardMode, what = 'x'): Dims4 {
  if (!Array.isArray(dims))
    throw new InvalidArgumentError(`${what}: expected dims [N,C,H,W], got ${describeValue(dims)}`);
  if (dims.length !== 4)
    throw new InvalidArgumentError(
      `${what}: expected 4 dims [N,C,H,W] (NCHW), got ${dims.length} [${dims.join(',')}]` +
        (dims.length === 3 ? `; a single image needs a batch dimension: [1,${dims.join(',')}]` : ''),
    );
  checkDims(dims, `${what === 'x' ? 'x.dims' : what}`);
  const [, c, h, w] = dims;
  if (c !== cfg.inChannels)
    throw new InvalidArgumentError(`${what}: expected ${cfg.inChannels} channels (dims[1]), got ${c}`);
  const s = cfg.inputSize,
    p = pool5Size(cfg);
  if (mode === 'fc' && (h !== s || w !== s))
    throw new InvalidArgumentError(
      `${what}: mode 'fc' expects a ${s}×${s} input (pool5 must be ${p}×${p}), got ${h}×${w}; use mode 'dense' for other sizes`,
    );
  if (mode === 'dense' && (h < s || w < s))
    throw new InvalidArgumentError(
      `${what}: mode 'dense' needs at least ${s}×${s} (pool5 at least ${p}×${p}), got ${h}×${w}`,
    );
  const t = 2 ** cfg.stages.length;
  if (mode === 'torchvision' && (h < t || w < t))
    throw new InvalidArgumentError(
      `${what}: mode 'torchvision' needs at least ${t}×${t} (pool5 at least 1×1), got ${h}×${w}`,
    );
  return [dims[0], c, h, w];
}

/** The result's dims for a checked input: 'fc', 'torchvision' → class scores [N, K] (NC); 'dense' → score
 *  map [N, K, h, w] (NCHW). */
export function resultDims(cfg: VggConfig, program: readonly LayerStep[], input: Dims4, mode: ForwardMode): number[] {
  const out = shapeProgram(cfg, program, input, adaptivePool(cfg, program, input, mode)).at(-1)!.output;
  return mode === 'dense' ? out : [out[0], out[1]];
}

/**
 * The adaptive pool of mode 'torchvision' for a checked input: pool5 to the training pool5 size before FC6
 * (torchvision's `avgpool`), or undefined in the other modes and where pool5 already has that size (an
 * identity: the run is then the 'fc' one, and batches with it).
 */
export function adaptivePool(
  cfg: VggConfig,
  program: readonly LayerStep[],
  input: Dims4,
  mode: ForwardMode,
): AdaptivePool | undefined {
  if (mode !== 'torchvision') return undefined;
  const before = program.findIndex((s) => s.name === 'fc6');
  const size = pool5Size(cfg);
  const pool5 = shapeProgram(cfg, program.slice(0, before), input).at(-1)!.output;
  return pool5[2] === size && pool5[3] === size ? undefined : { before, size };
}
