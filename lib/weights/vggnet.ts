/**
 * vggnet's own safetensors files: tensors named after our layer program, already in our layout
 *   conv{s}_{i}.weight (K,C,R,S) OIHW, conv{s}_{i}.bias (K)
 *   fc6.weight (4096,512,7,7) OIHW, fc7.weight (4096,4096,1,1), fc8.weight (1000,4096,1,1), biases (K)
 * and __metadata__:
 *   "vggnet.config"     JSON VggConfig (authoritative: input size, LRN, name)
 *   "vggnet.labels"     JSON array of class names (optional)
 *   "vggnet.preprocess" JSON, passed through (optional)
 */
import { FormatError, InvalidArgumentError } from '../errors';
import type { LayerWeights } from '../model';
import { optionKeys, readOptions } from '../options';
import { resolveConfig, VggConfig, weightShapes } from '../topology';
import { conv, DetectedArch, ExpectedTensor, layerTensors } from './detect';
import { FloatDtype, TensorToWrite, writeSafetensors } from './safetensors';

export const META_CONFIG = 'vggnet.config';
export const META_LABELS = 'vggnet.labels';
export const META_PREPROCESS = 'vggnet.preprocess';

/** Every tensor of a vggnet-named file for `config`, in program order. */
export function vggnetTensors(config: VggConfig): ExpectedTensor[] {
  return weightShapes(config).flatMap((s, l) =>
    layerTensors(l, s.name, `${s.name}.weight`, s.weight, `${s.name}.bias`, null),
  );
}

/** Architecture from vggnet names and shapes (used when a file lacks "vggnet.config"). */
export function detectVggnet(shapes: Map<string, number[]>): DetectedArch {
  const convs: { s: number; i: number; shape: number[] }[] = [];
  const fcs: { j: number; shape: number[] }[] = [];
  for (const [name, shape] of shapes) {
    let m = /^conv(\d+)_(\d+)\.weight$/.exec(name);
    if (m) convs.push({ s: Number(m[1]), i: Number(m[2]), shape });
    m = /^fc(\d+)\.weight$/.exec(name);
    if (m) fcs.push({ j: Number(m[1]), shape });
  }
  if (!convs.length) throw new FormatError(`missing tensor 'conv1_1.weight'`);
  convs.sort((a, b) => a.s - b.s || a.i - b.i);
  fcs.sort((a, b) => a.j - b.j);
  const stages: DetectedArch['stages'] = [];
  for (const c of convs) {
    const name = `conv${c.s}_${c.i}.weight`;
    if (c.s < 1 || c.i < 1) throw new FormatError(`tensor '${name}': convs are numbered from conv1_1`);
    if (c.s === stages.length + 1 && c.i === 1) stages.push([]);
    else if (!(c.s === stages.length && c.i === stages[c.s - 1].length + 1))
      throw new FormatError(`tensor '${name}': convs must be numbered conv1_1, conv1_2, …, conv2_1, … without gaps`);
    if (c.shape.length !== 4 || (c.shape[2] !== 1 && c.shape[2] !== 3) || c.shape[2] !== c.shape[3])
      throw new FormatError(`tensor '${name}': expected [K,C,3,3] or [K,C,1,1], found [${c.shape.join(',')}]`);
    stages[c.s - 1].push(conv(c.shape[0], c.shape[2]));
  }
  if (!fcs.length) throw new FormatError(`missing tensor 'fc6.weight'`);
  fcs.forEach((f, k) => {
    if (f.j !== 6 + k)
      throw new FormatError(`tensor 'fc${f.j}.weight': FC layers must be numbered fc6, fc7, … without gaps`);
    if (f.shape.length !== 4)
      throw new FormatError(
        `tensor 'fc${f.j}.weight': expected an OIHW kernel [K,C,R,S], found [${f.shape.join(',')}]`,
      );
  });
  const outs = fcs.map((f) => f.shape[0]);
  return {
    scheme: 'vggnet',
    inChannels: convs[0].shape[1],
    stages,
    fc: outs.slice(0, -1),
    numClasses: outs[outs.length - 1],
    pool5: fcs[0].shape[2],
    batchNorm: false,
  };
}

export interface SaveWeightsOptions {
  /** Stored dtype; default 'F32'. F16/BF16 round to nearest even (halve the file, lose precision). */
  dtype?: FloatDtype;
  labels?: string[];
  preprocess?: unknown;
}

const SAVE_WEIGHTS_OPTION_KEYS = optionKeys<SaveWeightsOptions>({ dtype: true, labels: true, preprocess: true });

/**
 * Writes `weights` (layer-program order, weight (K,C,R,S) OIHW f32, bias (K)) as a vggnet safetensors file
 * with the config (and labels/preprocess when given) in __metadata__. loadWeights() reads it back exactly
 * (for F32).
 * @throws InvalidArgumentError on a weight count or size that does not match the config, an unknown option key
 */
export function saveWeights(
  file: string,
  arch: string | VggConfig,
  weights: LayerWeights[],
  opts: SaveWeightsOptions | null = {},
): void {
  const options = readOptions(opts, SAVE_WEIGHTS_OPTION_KEYS);
  const config = resolveConfig(arch);
  const shapes = weightShapes(config);
  if (!Array.isArray(weights) || weights.length !== shapes.length)
    throw new InvalidArgumentError(
      `weights: ${config.name} has ${shapes.length} conv/FC layers, got ${Array.isArray(weights) ? weights.length : typeof weights}`,
    );
  const dtype = options.dtype ?? 'F32';
  const tensors: Record<string, TensorToWrite> = {};
  shapes.forEach((s, i) => {
    tensors[`${s.name}.weight`] = { dtype, shape: s.weight, data: weights[i].weight };
    tensors[`${s.name}.bias`] = { dtype, shape: s.bias, data: weights[i].bias };
  });
  const metadata: Record<string, string> = { format: 'pt', [META_CONFIG]: JSON.stringify(config) };
  if (options.labels) metadata[META_LABELS] = JSON.stringify(options.labels);
  if (options.preprocess !== undefined) metadata[META_PREPROCESS] = JSON.stringify(options.preprocess);
  writeSafetensors(file, tensors, metadata);
}
