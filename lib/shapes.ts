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

/**
 * Output dims of every step of `program` for an input (N,C,H,W).
 * @throws InvalidArgumentError naming the first layer whose input is smaller than its kernel or window
 *   (`input: H×W is too small for <config>: <layer> needs at least k×k, got h×w (minimum input M)`)
 */
export function shapeProgram(cfg: VggConfig, program: readonly LayerStep[], input: Dims4): ShapedStep[] {
  const n = input[0];
  let [, c, h, w] = input;
  const tooSmall = (s: LayerStep, k: number) =>
    new InvalidArgumentError(
      `input: ${input[2]}×${input[3]} is too small for ${cfg.name}: ${s.name} needs at least ${k}×${k}, got ${h}×${w} ` +
        `(minimum input ${pool5Size(cfg) * 2 ** cfg.stages.length})`,
    );
  return program.map((s) => {
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
 *  - 'dense': H, W ≥ cfg.inputSize (pool5 at least FC6's kernel).
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
  return [dims[0], c, h, w];
}

/** The result's dims for a checked input: 'fc' → class scores [N, K] (NC); 'dense' → score map [N, K, h, w] (NCHW). */
export function resultDims(cfg: VggConfig, program: readonly LayerStep[], input: Dims4, mode: ForwardMode): number[] {
  const out = shapeProgram(cfg, program, input).at(-1)!.output;
  return mode === 'fc' ? [out[0], out[1]] : out;
}
