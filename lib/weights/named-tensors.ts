/**
 * Named tensors (a state dict) → VGG layers, shared by the readers whose files name their tensors (safetensors,
 * PyTorch .pth): naming scheme (torchvision, timm, vggnet) from the names, architecture from the names and shapes
 * (or the file's "vggnet.config", or options.arch), every tensor checked against the architecture's list, then
 * each layer read on demand into f32 arrays and batch norm folded.
 */
import { FormatError, InvalidArgumentError } from '../errors';
import type { LayerWeights } from '../model';
import { VggConfig, weightShapes } from '../topology';
import { foldBatchNorm } from './batchnorm';
import { checkTensors, configFromDetected, DetectedArch, ExpectedTensor, NamingScheme } from './detect';
import { detectTimm, timmTensors } from './timm';
import { detectTorchvision, torchvisionTensors } from './torchvision';
import {
  checkMetadataLabels,
  LoadedWeights,
  LoadWeightsOptions,
  parseVggMetadata,
  reconcile,
  resolveGivenArch,
  WeightsReader,
} from './types';
import { detectVggnet, vggnetTensors } from './vggnet';

/** A file's tensors by name, as a reader presents them (safetensors.ts SafetensorsFile, pth.ts). */
export interface TensorSource {
  readonly file: string;
  /** Every tensor's name, in file order. */
  names(): string[];
  shape(name: string): number[];
  /** @throws UnsupportedError naming the tensor when it cannot be read as f32 (its dtype, or its kind) */
  checkReadable(name: string): void;
  /** The tensor in row-major (C) order as fresh f32 (f16/bf16 widened exactly). */
  readF32(name: string): Promise<Float32Array>;
  /** Elements [from, from + count) of the tensor in row-major order as fresh f32, or null when this tensor
   *  cannot be read by ranges (then readF32 it). Absent: none can. */
  readRangeF32?(name: string, from: number, count: number): Promise<Float32Array | null>;
  close(): Promise<void>;
}

/** The naming scheme of a set of tensor names. */
export function detectScheme(names: string[]): NamingScheme {
  if (names.some((n) => n.startsWith('pre_logits.') || n.startsWith('head.fc.'))) return 'timm';
  if (names.some((n) => n.startsWith('classifier.'))) return 'torchvision';
  if (names.some((n) => /^(conv\d+_\d+|fc\d+)\.(weight|bias)$/.test(n))) return 'vggnet';
  if (names.some((n) => n.startsWith('features.'))) return 'torchvision';
  const some = names
    .slice(0, 5)
    .map((n) => `'${n}'`)
    .join(', ');
  throw new FormatError(
    `unrecognised tensor names (${some}${names.length > 5 ? ', …' : ''}): expected torchvision (features.N.weight, classifier.N.weight), timm (features.N, pre_logits.fc1, head.fc) or vggnet (conv1_1.weight, fc6.weight) names`,
  );
}

export function detectArch(scheme: NamingScheme, shapes: Map<string, number[]>): DetectedArch {
  return scheme === 'timm'
    ? detectTimm(shapes)
    : scheme === 'torchvision'
      ? detectTorchvision(shapes)
      : detectVggnet(shapes);
}

export function expectedTensors(scheme: NamingScheme, config: VggConfig, batchNorm: boolean): ExpectedTensor[] {
  return scheme === 'timm'
    ? timmTensors(config, batchNorm)
    : scheme === 'torchvision'
      ? torchvisionTensors(config, batchNorm)
      : vggnetTensors(config);
}

/**
 * The names as the schemes know them, each mapped to the file's own name. Dropped: every 'module' component
 * (nn.DataParallel and DistributedDataParallel wrap the model in `.module`, or only model.features, as PyTorch's
 * ImageNet example does for VGG: 'features.module.0.weight'); then, only when the names fit no scheme otherwise,
 * the longest prefix common to every name after which they do ('model.' of a Lightning module, 'backbone.').
 * @returns the map, and what was dropped (for messages), or null
 * @throws FormatError when two names become one, or (from detectScheme) when no scheme fits
 */
export function schemeNames(names: string[]): { names: Map<string, string>; dropped: string | null } {
  const out = new Map<string, string>();
  for (const n of names) {
    const k = n
      .split('.')
      .filter((c) => c !== 'module')
      .join('.');
    const other = out.get(k);
    if (other !== undefined) throw new FormatError(`tensors '${other}' and '${n}' are one name without 'module.'`);
    out.set(k, n);
  }
  const dropped = [...out].some(([k, n]) => k !== n) ? "'module.'" : null;
  const keys = [...out.keys()];
  try {
    detectScheme(keys);
    return { names: out, dropped };
  } catch (e) {
    const parts = keys.map((k) => k.split('.'));
    let common = 0;
    while (parts.every((p) => p.length > common + 1 && p[common] === parts[0][common])) common++;
    for (let q = common; q > 0; q--) {
      const stripped = keys.map((k) => k.split('.').slice(q).join('.'));
      try {
        detectScheme(stripped);
      } catch {
        continue;
      }
      const prefix = `${parts[0].slice(0, q).join('.')}.`;
      return {
        names: new Map(stripped.map((s, i) => [s, out.get(keys[i])!])),
        dropped: dropped ? `${dropped} and '${prefix}'` : `'${prefix}'`,
      };
    }
    throw e;
  }
}

/**
 * Checks a file's named tensors against the architecture and returns the reader (read(i) reads layer i;
 * close() closes `src`). `src` is closed when this throws.
 * @param metadata  "vggnet.*" keys (safetensors __metadata__), when the format has them
 * @throws FormatError (the file named): no tensors, unrecognised names, architecture not detected or not
 *   matching options.arch, a missing/unexpected tensor or a wrong shape (named); UnsupportedError: a weight
 *   that cannot be read as f32 (src.checkReadable); InvalidArgumentError: options.arch unknown
 */
export async function openNamedWeights(
  src: TensorSource,
  options: LoadWeightsOptions,
  format: LoadedWeights['format'],
  metadata: Record<string, string> = {},
): Promise<WeightsReader> {
  const file = src.file;
  try {
    const given = resolveGivenArch(options.arch);
    const all = src.names();
    if (all.length === 0) throw new FormatError(`${file}: the file holds no tensors`);
    const { names: original, dropped } = schemeNames(all);
    const shapes = new Map([...original].map(([n, o]) => [n, src.shape(o)]));
    const names = [...shapes.keys()];
    const meta = parseVggMetadata(file, metadata);
    const scheme = detectScheme(names);

    let detected: DetectedArch | undefined;
    try {
      detected = detectArch(scheme, shapes);
    } catch (e) {
      // With an architecture given (or in the metadata) the tensor check below names what is wrong more precisely.
      if (!given && !meta.config) throw e;
    }
    const fileBatchNorm = detected?.batchNorm ?? names.some((n) => n.endsWith('.running_mean'));
    if (scheme === 'vggnet' && fileBatchNorm)
      throw new FormatError(`${file}: vggnet-named files hold folded weights; found batch norm tensors`);
    const found = meta.config ?? (detected ? configFromDetected(detected) : undefined);
    const config = reconcile(file, given, found, fileBatchNorm);
    checkMetadataLabels(file, meta.labels, config);

    const expected = expectedTensors(scheme, config, fileBatchNorm);
    const named = dropped ? `${scheme} names once ${dropped} is dropped` : `${scheme} names`;
    checkTensors(shapes, expected, `${file} (${named}, ${config.name})`);
    for (const e of expected) if (!e.anyShape && shapes.has(e.name)) src.checkReadable(original.get(e.name)!);
    const byLayer = weightShapes(config).map(() => new Map<string, ExpectedTensor>());
    for (const e of expected) if (!e.anyShape) byLayer[e.layer].set(e.role, e);
    const read = (name: string) => src.readF32(original.get(name)!);
    return {
      config,
      format,
      source: scheme,
      labels: meta.labels,
      preprocess: meta.preprocess,
      batchNormFolded: fileBatchNorm,
      read: async (l) => {
        if (!byLayer[l]) throw new InvalidArgumentError(`layer ${l}: expected 0 … ${byLayer.length - 1}`);
        return readLayer(read, byLayer[l]);
      },
      readRows: async (l, from, to) => {
        if (!byLayer[l]) throw new InvalidArgumentError(`layer ${l}: expected 0 … ${byLayer.length - 1}`);
        const t = byLayer[l];
        if (!src.readRangeF32 || t.has('bn.weight')) return null;
        // Output channel k of weight (K, …) in any of the layouts checked above (OIHW, or [K, C·R·S] for an FC
        // layer) is the k-th run of C·R·S elements.
        const [K, C, R, S] = weightShapes(config)[l].weight;
        const crs = C * R * S;
        if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && 0 <= from && from < to && to <= K))
          throw new InvalidArgumentError(`layer ${l}: rows [${from}, ${to}) of ${K}`);
        const weight = await src.readRangeF32(original.get(t.get('weight')!.name)!, from * crs, (to - from) * crs);
        if (!weight) return null;
        const bias = await src.readRangeF32(original.get(t.get('bias')!.name)!, from, to - from);
        if (!bias) return null;
        return { weight, bias };
      },
      close: () => src.close(),
    };
  } catch (e) {
    await src.close();
    if (e instanceof FormatError && !e.message.startsWith(file)) throw new FormatError(`${file}: ${e.message}`);
    throw e;
  }
}

/** Reads one layer's tensors into fresh f32 arrays and folds batch norm. */
async function readLayer(
  read: (name: string) => Promise<Float32Array>,
  t: Map<string, ExpectedTensor>,
): Promise<LayerWeights> {
  const get = (role: string) => read(t.get(role)!.name);
  const weight = await get('weight');
  const bias = await get('bias');
  if (t.has('bn.weight')) {
    const [g, b, m, v] = [
      await get('bn.weight'),
      await get('bn.bias'),
      await get('bn.running_mean'),
      await get('bn.running_var'),
    ];
    foldBatchNorm(weight, bias, { weight: g, bias: b, runningMean: m, runningVar: v });
  }
  return { weight, bias };
}
