/**
 * Loading VGG weights from a safetensors file: naming scheme (torchvision, timm, vggnet) from the names,
 * architecture from the names and shapes (or the file's "vggnet.config", or options.arch), every tensor
 * checked against the architecture's list, then read straight into f32 arrays and batch norm folded.
 */
import { FormatError } from '../errors';
import type { LayerWeights } from '../model';
import { VggConfig, weightShapes } from '../topology';
import { foldBatchNorm } from './batchnorm';
import { checkTensors, configFromDetected, DetectedArch, ExpectedTensor, NamingScheme } from './detect';
import { SafetensorsFile } from './safetensors';
import { timmTensors, detectTimm } from './timm';
import { torchvisionTensors, detectTorchvision } from './torchvision';
import {
  checkMetadataLabels,
  LoadedWeights,
  LoadWeightsOptions,
  parseVggMetadata,
  WeightsReader,
  reconcile,
  resolveGivenArch,
} from './types';
import { detectVggnet, vggnetTensors } from './vggnet';

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

/** Loads a safetensors weights file (see loadWeights, which reads the options). */
export async function loadSafetensorsWeights(file: string, options: LoadWeightsOptions = {}): Promise<LoadedWeights> {
  const r = await openSafetensorsWeights(file, options);
  try {
    const weights: LayerWeights[] = [];
    for (let l = 0; l < weightShapes(r.config).length; l++) weights.push(await r.read(l));
    const { read: _read, close: _close, ...rest } = r;
    return { ...rest, weights };
  } finally {
    await r.close();
  }
}

/** Opens a safetensors weights file and checks every tensor against the architecture; layers are read by
 *  read(i). Errors as loadSafetensorsWeights. */
export async function openSafetensorsWeights(file: string, options: LoadWeightsOptions = {}): Promise<WeightsReader> {
  const given = resolveGivenArch(options.arch);
  const st = await SafetensorsFile.open(file);
  try {
    const all = st.names();
    // nn.DataParallel checkpoints prefix every name with 'module.'.
    const prefix = all.length > 0 && all.every((n) => n.startsWith('module.')) ? 'module.' : '';
    const shapes = new Map(all.map((n) => [n.slice(prefix.length), st.entry(n).shape]));
    const names = [...shapes.keys()];
    if (names.length === 0) throw new FormatError(`${file}: the file holds no tensors`);
    const meta = parseVggMetadata(file, st.header.metadata);
    const scheme = detectScheme(names);

    let detected: DetectedArch | undefined;
    try {
      detected = detectArch(scheme, shapes);
    } catch (e) {
      // With an architecture given (or in the metadata) the tensor check below names what is wrong more precisely.
      if (!given && !meta.config) throw prefixError(file, e);
    }
    const fileBatchNorm = detected?.batchNorm ?? names.some((n) => n.endsWith('.running_mean'));
    if (scheme === 'vggnet' && fileBatchNorm)
      throw new FormatError(`${file}: vggnet-named files hold folded weights; found batch norm tensors`);
    const found = meta.config ?? (detected ? configFromDetected(detected) : undefined);
    const config = reconcile(file, given, found, fileBatchNorm);
    checkMetadataLabels(file, meta.labels, config);

    const expected = expectedTensors(scheme, config, fileBatchNorm);
    checkTensors(shapes, expected, `${file} (${scheme} names, ${config.name})`);
    const byLayer = weightShapes(config).map(() => new Map<string, ExpectedTensor>());
    for (const e of expected) if (!e.anyShape) byLayer[e.layer].set(e.role, e);
    return {
      config,
      format: 'safetensors',
      source: scheme,
      labels: meta.labels,
      preprocess: meta.preprocess,
      batchNormFolded: fileBatchNorm,
      read: (l) => readLayer(st, prefix, byLayer[l]),
      close: () => st.close(),
    };
  } catch (e) {
    await st.close();
    throw e;
  }
}

function prefixError(file: string, e: unknown): unknown {
  if (e instanceof FormatError && !e.message.startsWith(file)) return new FormatError(`${file}: ${e.message}`);
  return e;
}

/** Reads one layer's tensors into fresh f32 arrays and folds batch norm. */
async function readLayer(st: SafetensorsFile, prefix: string, t: Map<string, ExpectedTensor>): Promise<LayerWeights> {
  const read = (role: string) => st.readF32(prefix + t.get(role)!.name);
  const weight = await read('weight');
  const bias = await read('bias');
  if (t.has('bn.weight')) {
    const [g, b, m, v] = [
      await read('bn.weight'),
      await read('bn.bias'),
      await read('bn.running_mean'),
      await read('bn.running_var'),
    ];
    foldBatchNorm(weight, bias, { weight: g, bias: b, runningMean: m, runningVar: v });
  }
  return { weight, bias };
}
