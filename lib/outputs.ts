/**
 * Named outputs of a forward (ForwardOptions.outputs): features from any layer of the program — conv1_1 …
 * conv5_3, lrn1, pool1 … pool5, fc6, fc7, fc8 (topology.ts layerProgram) — in every forward mode, computed in
 * one run that stops at the last one asked for. A conv or FC layer with a ReLU also gives its output before
 * the ReLU as '<name>:pre-relu' (e.g. 'conv5_4:pre-relu', the pre-activation features perceptual losses use).
 */
import { describeValue } from './describe';
import { InvalidArgumentError } from './errors';
import type { NativeRun } from './native';
import type { ForwardMode } from './options';
import { adaptivePool, Dims4, shapeProgram } from './shapes';
import type { LayerStep, VggConfig } from './topology';

/** One output of a forward: the layer it is taken after, its dims and layout. */
export interface OutputPlan {
  name: string;
  /** Index in the layer program. */
  layer: number;
  dims: number[];
  layout: 'NC' | 'NCHW';
}

/** What a forward computes: the native run (undefined: the whole network, nothing else) and its outputs in
 *  the order the native results come (the run's last layer first, then its taps). */
export interface RunPlan {
  run: NativeRun | undefined;
  outputs: OutputPlan[];
  /** The names in the order asked for. */
  order: string[];
}

/** Most names one forward may ask for. */
export const MAX_OUTPUTS = 64;

/** The suffix asking for a layer's output before its ReLU. */
export const PRE_RELU = ':pre-relu';

/**
 * The run for a checked input, a mode and the names asked for (undefined: the network's result alone).
 * FC outputs (fc6 …) are [N, K] (NC) in modes 'fc' and 'torchvision' (their spatial size is 1×1) and score
 * maps [N, K, h, w] in 'dense'; every other output is NCHW. Conv and FC6/FC7 outputs are after their ReLU
 * (fused into the conv, as Caffe's in-place ReLU and Keras' activation give them); the last FC layer has none
 * (logits). `plan.outputs` keeps the order asked for; native results come as [run.last, ...run.taps].
 * @throws InvalidArgumentError: not an array of names, an empty or over-long list, a repeated or unknown
 *   name (listing the valid ones)
 */
export function planRun(
  cfg: VggConfig,
  program: readonly LayerStep[],
  input: Dims4,
  mode: ForwardMode,
  names: readonly string[] | undefined,
): RunPlan {
  const adaptive = adaptivePool(cfg, program, input, mode);
  const shaped = shapeProgram(cfg, program, input, adaptive);
  const output = (layer: number, suffix = ''): OutputPlan => {
    const dims = shaped[layer].output;
    const flat = mode !== 'dense' && program[layer].name.startsWith('fc');
    const name = program[layer].name + suffix;
    return { name, layer, dims: flat ? [dims[0], dims[1]] : dims, layout: flat ? 'NC' : 'NCHW' };
  };
  const adaptiveRun = adaptive && { adaptiveBefore: adaptive.before, adaptiveSize: adaptive.size };
  if (names === undefined) {
    const result = output(program.length - 1);
    return { run: adaptiveRun, outputs: [result], order: [result.name] };
  }

  const asked = checkNames(program, names);
  const post = asked.filter((a) => !a.preRelu).map((a) => a.layer);
  const pre = asked.filter((a) => a.preRelu).map((a) => a.layer);
  const last = Math.max(...asked.map((a) => a.layer));
  const taps = post.filter((l) => l !== last);
  const run: NativeRun = {
    last,
    ...(adaptive && last >= adaptive.before ? adaptiveRun : {}),
    taps,
    ...(pre.length ? { preReluTaps: pre } : {}),
  };
  const outputs = [output(last), ...taps.map((l) => output(l)), ...pre.map((l) => output(l, PRE_RELU))];
  return { run, outputs, order: [...names] };
}

/** The program index of each name and whether it asks for the pre-ReLU output. @throws as planRun */
function checkNames(program: readonly LayerStep[], names: readonly string[]): { layer: number; preRelu: boolean }[] {
  if (!Array.isArray(names) || names.length === 0 || names.length > MAX_OUTPUTS)
    throw new InvalidArgumentError(
      `options.outputs: expected 1 to ${MAX_OUTPUTS} layer names (e.g. ['conv4_3', 'pool5', 'fc7']), got ${describeValue(names)}`,
    );
  const seen = new Set<string>();
  return names.map((n, i) => {
    const preRelu = typeof n === 'string' && n.endsWith(PRE_RELU);
    const base = preRelu ? n.slice(0, -PRE_RELU.length) : n;
    const layer = typeof n === 'string' ? program.findIndex((s) => s.name === base) : -1;
    if (layer < 0)
      throw new InvalidArgumentError(
        `options.outputs[${i}]: expected a layer name, one of ${program.map((s) => s.name).join(', ')} ` +
          `(a conv or FC layer with '${PRE_RELU}' for its output before the ReLU); got ${describeValue(n)}`,
      );
    const step = program[layer];
    if (preRelu && !(step.kind === 'conv' && step.relu))
      throw new InvalidArgumentError(
        `options.outputs[${i}]: '${n}': ${base} has no ReLU (only conv layers and the FC layers but the last have one)`,
      );
    if (seen.has(n)) throw new InvalidArgumentError(`options.outputs[${i}]: '${n}' is asked for twice`);
    seen.add(n);
    return { layer, preRelu };
  });
}
