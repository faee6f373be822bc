import { describeValue } from '../describe';
import { FormatError, InvalidArgumentError } from '../errors';
import type { LayerWeights } from '../model';
import { optionKeys, readOptions } from '../options';
import { resolveConfig, VggConfig } from '../topology';
import { describeConfig, sameWeightsLayout } from './detect';

/** A weights file read into our layout. */
export interface LoadedWeights {
  /** Detected from the file, taken from its "vggnet.config" metadata, or the one given in options.arch. */
  config: VggConfig;
  /** Layer-program order (topology.weightShapes): weight (K,C,R,S) OIHW f32, bias (K) f32; BN already folded. */
  weights: LayerWeights[];
  /** The file format, read off its first bytes (sniff.ts). */
  format: 'safetensors' | 'onnx' | 'pytorch' | 'keras' | 'caffe';
  /** Naming scheme (safetensors, PyTorch) or format (ONNX, Keras, Caffe) the weights came from. */
  source: 'torchvision' | 'timm' | 'onnx' | 'vggnet' | 'keras' | 'caffe';
  /** Class names from the file's metadata ("vggnet.labels"), when present. */
  labels?: string[];
  /** Preprocessing from the file's metadata ("vggnet.preprocess", parsed JSON, passed through), when present;
   *  for Keras and Caffe files, the convention of the format (PRESETS.caffe: BGR, 0–255, mean subtracted). */
  preprocess?: unknown;
  /** True when `preprocess` is the format's convention, not the file's own metadata: the weights are an
   *  ImageNet model like any other (the usual default test scales apply), not a model made for its own data. */
  preprocessByConvention?: boolean;
  /** True when batch norm layers were folded into their convs (vgg*_bn files, ONNX BatchNormalization). */
  batchNormFolded: boolean;
}

/** A weights file opened and checked, its layers read on demand (loadWeights reads them all; loadClassifier
 *  streams them into the model one by one). */
export interface WeightsReader extends Omit<LoadedWeights, 'weights'> {
  /** Layer i in program order (topology.weightShapes): fresh arrays nobody else holds, batch norm folded.
   *  Each layer is read at most once. */
  read(i: number): Promise<LayerWeights>;
  /**
   * Output channels [from, to) of layer i: weight (to − from, C, R, S) OIHW and bias (to − from), fresh arrays,
   * read straight from the file; null when this layer cannot be read by bands (its tensor is stored
   * transposed, strided or compressed, or batch norm must be folded into it): read(i) it then. A layer is
   * read either whole or by bands, once. Absent: no layer can.
   */
  readRows?(i: number, from: number, to: number): Promise<LayerWeights | null>;
  /** Releases the file (idempotent). */
  close(): Promise<void>;
}

export interface LoadWeightsOptions {
  /**
   * The architecture the file must hold: a name ('vgg16', 'D', 'vgg16_bn', 'vgg11_lrn', …) or a VggConfig.
   * Needed only for what weights cannot show (LRN: vgg11_lrn vs vgg11) or to insist on an architecture;
   * otherwise it is detected. A '_bn' name requires batch norm tensors in the file.
   */
  arch?: string | VggConfig;
}

export const LOAD_WEIGHTS_OPTION_KEYS = optionKeys<LoadWeightsOptions>({ arch: true });

/** Reads a LoadWeightsOptions bag (null/undefined → {}). @throws InvalidArgumentError (not an object, unknown key) */
export function readLoadWeightsOptions(options: LoadWeightsOptions | null | undefined): LoadWeightsOptions {
  return readOptions(options, LOAD_WEIGHTS_OPTION_KEYS);
}

/** options.arch resolved: the config, and whether a '_bn' name demanded batch norm. */
export interface GivenArch {
  config: VggConfig;
  batchNorm?: boolean;
}

export function resolveGivenArch(arch: string | VggConfig | undefined): GivenArch | undefined {
  if (arch === undefined) return undefined;
  if (typeof arch === 'string' && /_bn$/i.test(arch)) {
    const base = resolveConfig(arch.slice(0, -3));
    return { config: { ...base, name: `${base.name}_bn` }, batchNorm: true };
  }
  if (typeof arch !== 'string' && (typeof arch !== 'object' || arch === null))
    throw new InvalidArgumentError(
      `options.arch: expected an architecture name or a VggConfig, got ${describeValue(arch)}`,
    );
  return { config: resolveConfig(arch) };
}

/**
 * The config to load with: `given` when compatible with what the file holds (`found`), else FormatError
 * stating both. A '_bn' name is appended when the file has batch norm.
 */
export function reconcile(
  file: string,
  given: GivenArch | undefined,
  found: VggConfig | undefined,
  fileBatchNorm: boolean,
): VggConfig {
  if (given?.batchNorm && !fileBatchNorm)
    throw new FormatError(
      `${file}: arch '${given.config.name}' needs batch norm layers, the file has none (load it as '${given.config.name.replace(/_bn$/i, '')}')`,
    );
  let config = given?.config ?? found;
  if (!config) throw new FormatError(`${file}: could not determine the architecture`);
  if (given && found && !sameWeightsLayout(given.config, found))
    throw new FormatError(
      `${file}: arch '${given.config.name}' does not match the file: the file holds ${found.name} (${describeConfig(found)}); ${given.config.name} is ${describeConfig(given.config)}`,
    );
  if (fileBatchNorm && !/_bn$/.test(config.name)) config = { ...config, name: `${config.name}_bn` };
  return config;
}

/** Parses the "vggnet.*" metadata keys (safetensors __metadata__, ONNX metadata_props). */
export function parseVggMetadata(
  file: string,
  meta: Record<string, string>,
): { config?: VggConfig; labels?: string[]; preprocess?: unknown } {
  const json = (key: string): unknown => {
    try {
      return JSON.parse(meta[key]);
    } catch (e) {
      throw new FormatError(`${file}: metadata "${key}" is not valid JSON (${(e as Error).message})`);
    }
  };
  const out: { config?: VggConfig; labels?: string[]; preprocess?: unknown } = {};
  if (meta['vggnet.config'] !== undefined) {
    const c = json('vggnet.config');
    if (typeof c !== 'object' || c === null || Array.isArray(c))
      throw new FormatError(`${file}: metadata "vggnet.config": expected a VggConfig object`);
    try {
      out.config = resolveConfig(c as VggConfig);
    } catch (e) {
      throw new FormatError(`${file}: metadata "vggnet.config": ${(e as Error).message}`);
    }
  }
  if (meta['vggnet.labels'] !== undefined) {
    const l = json('vggnet.labels');
    if (!Array.isArray(l) || !l.every((s) => typeof s === 'string'))
      throw new FormatError(`${file}: metadata "vggnet.labels": expected a JSON array of strings`);
    out.labels = l;
  }
  if (meta['vggnet.preprocess'] !== undefined) out.preprocess = json('vggnet.preprocess');
  return out;
}

/**
 * A file's "vggnet.labels" metadata must name every class (a caller's labels are checked by labels.ts
 * checkLabels, with InvalidArgumentError). @throws FormatError naming the file
 */
export function checkMetadataLabels(file: string, labels: string[] | undefined, config: VggConfig): void {
  if (labels && labels.length !== config.numClasses)
    throw new FormatError(
      `${file}: metadata "vggnet.labels" has ${labels.length} names, the model has ${config.numClasses} classes`,
    );
}
