/**
 * Naming schemes of VGG weight files and the architecture detection shared by them.
 *
 * A scheme maps (config, batch norm?) to the ordered list of tensors a file must hold (ExpectedTensor[]);
 * detection goes the other way, from the names and shapes in a file to a VggConfig. Loading then checks the
 * file against the expected list of the detected (or given) config, so every mismatch is reported the same
 * way: the first missing tensor, the unexpected ones, or a tensor with the wrong shape, each named.
 */
import { FormatError } from '../errors';
import { ARCHS, ConvDef, pool5Size, validateConfig, VggConfig, weightShapes } from '../topology';

export type NamingScheme = 'torchvision' | 'timm' | 'vggnet';

/** What a tensor of the file is for. 'bn.*' are folded into the conv of the same layer. */
export type TensorRole =
  'weight' | 'bias' | 'bn.weight' | 'bn.bias' | 'bn.running_mean' | 'bn.running_var' | 'bn.num_batches_tracked';

export interface ExpectedTensor {
  name: string;
  /** Exact shape required (ignored when anyShape). */
  shape: number[];
  /** Index into weightShapes(config) (program order). */
  layer: number;
  /** Our layer name (conv1_1 … fc8). */
  layerName: string;
  role: TensorRole;
  /** May be absent (num_batches_tracked: older PyTorch checkpoints lack it). */
  optional?: boolean;
  /** Shape and dtype not checked, value not read (num_batches_tracked: an I64 scalar). */
  anyShape?: boolean;
}

/** Architecture read off a file's names and shapes. */
export interface DetectedArch {
  scheme: NamingScheme;
  inChannels: number;
  stages: ConvDef[][];
  fc: number[];
  numClasses: number;
  /** pool5 side = FC6 kernel (7 for the paper's nets). */
  pool5: number;
  batchNorm: boolean;
}

export const conv = (channels: number, kernel: number): ConvDef => ({ channels, kernel: kernel as 1 | 3 });
const def = (c: number | ConvDef): ConvDef => (typeof c === 'number' ? { channels: c, kernel: 3 } : c);

/** The tensors of one conv/FC layer with optional BN after it (torchvision BatchNorm2d buffers). */
export function layerTensors(
  layer: number,
  layerName: string,
  weightName: string,
  weightShape: number[],
  biasName: string,
  bnPrefix: string | null,
): ExpectedTensor[] {
  const K = weightShape[0];
  const out: ExpectedTensor[] = [
    { name: weightName, shape: weightShape, layer, layerName, role: 'weight' },
    { name: biasName, shape: [K], layer, layerName, role: 'bias' },
  ];
  if (bnPrefix !== null) {
    for (const r of ['weight', 'bias', 'running_mean', 'running_var'] as const)
      out.push({ name: `${bnPrefix}.${r}`, shape: [K], layer, layerName, role: `bn.${r}` });
    out.push({
      name: `${bnPrefix}.num_batches_tracked`,
      shape: [],
      layer,
      layerName,
      role: 'bn.num_batches_tracked',
      optional: true,
      anyShape: true,
    });
  }
  return out;
}

/**
 * torchvision / timm `features` indices: each conv is Conv2d, [BatchNorm2d,] ReLU; each stage ends in a
 * MaxPool2d. Returns the index of every conv in program order.
 */
export function featureIndices(config: VggConfig, batchNorm: boolean): number[] {
  const idx: number[] = [];
  let i = 0;
  for (const stage of config.stages) {
    for (let j = 0; j < stage.length; j++) {
      idx.push(i);
      i += batchNorm ? 3 : 2;
    }
    i += 1;
  }
  return idx;
}

/** Expected `features.*` tensors (torchvision and timm). */
export function featureTensors(config: VggConfig, batchNorm: boolean): ExpectedTensor[] {
  const shapes = weightShapes(config);
  const idx = featureIndices(config, batchNorm);
  return idx.flatMap((fi, l) =>
    layerTensors(
      l,
      shapes[l].name,
      `features.${fi}.weight`,
      shapes[l].weight,
      `features.${fi}.bias`,
      batchNorm ? `features.${fi + 1}` : null,
    ),
  );
}

/**
 * Reads the conv stages off `features.{i}.*` names: a conv is a 4-D `weight`, BN a 1-D `weight` with
 * `running_mean`. Consecutive convs of a stage are `step` = 2 (conv, relu) or 3 (conv, bn, relu) indices
 * apart; one more index means a MaxPool2d ended the stage.
 */
export function detectFeatures(shapes: Map<string, number[]>): {
  inChannels: number;
  stages: ConvDef[][];
  batchNorm: boolean;
} {
  const re = /^features\.(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$/;
  const convs: number[] = [];
  const modules = new Set<number>();
  let batchNorm = false;
  for (const [name, shape] of shapes) {
    const m = re.exec(name);
    if (!m) continue;
    modules.add(Number(m[1]));
    if (m[2] === 'weight' && shape.length === 4) convs.push(Number(m[1]));
    if (m[2] === 'running_mean') batchNorm = true;
  }
  // A module with a bias (or BN buffers) but no weight: the weight is what is missing.
  for (const i of [...modules].sort((a, b) => a - b))
    if (!shapes.has(`features.${i}.weight`))
      throw new FormatError(`missing tensor 'features.${i}.weight' (the file has other tensors of features.${i})`);
  if (convs.length === 0)
    throw new FormatError(`no conv weights found: expected 4-D 'features.N.weight' tensors (torchvision/timm VGG)`);
  convs.sort((a, b) => a - b);
  if (convs[0] !== 0)
    throw new FormatError(
      `missing tensor 'features.0.weight' (conv1_1): the first conv found is 'features.${convs[0]}.weight'`,
    );
  const step = batchNorm ? 3 : 2;
  const stages: ConvDef[][] = [[]];
  let prev = -1;
  for (const i of convs) {
    const s = shapes.get(`features.${i}.weight`)!;
    if (prev >= 0) {
      if (i === prev + step + 1) stages.push([]);
      else if (i > prev + step + 1)
        throw new FormatError(
          `missing tensor 'features.${prev + step}.weight' (or 'features.${prev + step + 1}.weight' after a max pool): the conv after 'features.${prev}.weight' is 'features.${i}.weight'`,
        );
      else if (i !== prev + step)
        throw new FormatError(
          `tensor 'features.${i}.weight' follows 'features.${prev}.weight': expected index ${prev + step} (next conv of the stage) or ${prev + step + 1} (after a max pool)${batchNorm ? ' with batch norm' : ''}, found ${i}`,
        );
    }
    if (s[2] !== s[3] || (s[2] !== 1 && s[2] !== 3))
      throw new FormatError(
        `tensor 'features.${i}.weight': expected a 3×3 or 1×1 kernel [K,C,3,3] or [K,C,1,1], found [${s.join(',')}]`,
      );
    stages[stages.length - 1].push(conv(s[0], s[2]));
    prev = i;
  }
  return { inChannels: shapes.get('features.0.weight')![1], stages, batchNorm };
}

/** pool5 side p from FC6's fan-in C·p·p; throws FormatError naming the tensor when it is not a square. */
export function pool5FromFanIn(fanIn: number, channels: number, tensor: string, shape: number[]): number {
  const p = Math.round(Math.sqrt(fanIn / channels));
  if (p < 1 || p * p * channels !== fanIn)
    throw new FormatError(
      `tensor '${tensor}': FC6 fan-in ${fanIn} (shape [${shape.join(',')}]) is not C·p·p for the last conv's C = ${channels}`,
    );
  return p;
}

/** Channels out of the last conv. */
export function lastChannels(stages: ConvDef[][]): number {
  const st = stages[stages.length - 1];
  return st[st.length - 1].channels;
}

function sameStages(a: (number | ConvDef)[][], b: (number | ConvDef)[][]): boolean {
  return (
    a.length === b.length &&
    a.every(
      (st, i) =>
        st.length === b[i].length &&
        st.every((c, j) => def(c).channels === def(b[i][j]).channels && def(c).kernel === def(b[i][j]).kernel),
    )
  );
}

/** The same network up to name, input size (beyond pool5) and LRN (which has no weights). */
export function sameWeightsLayout(a: VggConfig, b: VggConfig): boolean {
  return (
    a.inChannels === b.inChannels &&
    sameStages(a.stages, b.stages) &&
    a.fc.length === b.fc.length &&
    a.fc.every((w, i) => w === b.fc[i]) &&
    a.numClasses === b.numClasses &&
    pool5Size(a) === pool5Size(b)
  );
}

/** Short text of a config's shape, for messages: "stages [[64],[128],[256,256],…] fc [4096,4096] → 1000, pool5 7". */
export function describeConfig(c: VggConfig): string {
  const st = c.stages
    .map((s) => `[${s.map((x) => (def(x).kernel === 1 ? `${def(x).channels}(1×1)` : def(x).channels)).join(',')}]`)
    .join(',');
  return `in ${c.inChannels}, stages [${st}], fc [${c.fc.join(',')}] → ${c.numClasses} classes, pool5 ${pool5Size(c)}×${pool5Size(c)}`;
}

/**
 * A VggConfig for a detected architecture: one of ARCHS when the weights match it exactly (vgg11, never
 * vgg11_lrn: LRN has no weights), with '_bn' appended for batch-norm files; otherwise 'custom' ('custom_bn').
 * inputSize = pool5 · 2^stages (224 for the paper's nets).
 * @throws FormatError when the result is no valid config (validateConfig: e.g. 0 classes, a 0×0 input)
 */
export function configFromDetected(d: Omit<DetectedArch, 'scheme'> & { scheme?: NamingScheme }): VggConfig {
  const stages = d.stages.map((st) => st.map((c) => (c.kernel === 3 ? c.channels : { ...c })));
  const cfg: VggConfig = {
    name: 'custom',
    inChannels: d.inChannels,
    inputSize: d.pool5 * 2 ** d.stages.length,
    stages,
    fc: [...d.fc],
    numClasses: d.numClasses,
  };
  const known = Object.values(ARCHS).find((a) => !a.lrn && sameWeightsLayout(a, cfg) && a.inputSize === cfg.inputSize);
  const base = known ? { ...known, stages: known.stages.map((s) => [...s]), fc: [...known.fc] } : cfg;
  try {
    validateConfig(base); // a file can declare what no model can be built from (0 classes, a 0×0 input, …)
  } catch (e) {
    throw new FormatError(`the weights describe no valid network: ${(e as Error).message}`);
  }
  return d.batchNorm ? { ...base, name: `${base.name}_bn` } : base;
}

/**
 * Checks a file's tensors (name → shape) against the expected list.
 * @throws FormatError: the first missing tensor (with its layer and expected shape); unexpected tensors (up to
 *   8 named, then a count); the first tensor whose shape differs (expected vs found)
 */
export function checkTensors(found: Map<string, number[]>, expected: ExpectedTensor[], context: string): void {
  const want = new Map(expected.map((e) => [e.name, e]));
  for (const e of expected)
    if (!e.optional && !found.has(e.name))
      throw new FormatError(
        `${context}: missing tensor '${e.name}' (${e.layerName} ${e.role}, expected shape [${e.shape.join(',')}])`,
      );
  const extra = [...found.keys()].filter((n) => !want.has(n));
  if (extra.length)
    throw new FormatError(
      `${context}: unexpected tensor${extra.length > 1 ? 's' : ''} ${extra
        .slice(0, 8)
        .map((n) => `'${n}'`)
        .join(', ')}${extra.length > 8 ? ` and ${extra.length - 8} more` : ''}`,
    );
  for (const e of expected) {
    const s = found.get(e.name);
    if (!s || e.anyShape) continue;
    if (s.length !== e.shape.length || s.some((d, i) => d !== e.shape[i]))
      throw new FormatError(
        `${context}: tensor '${e.name}' (${e.layerName} ${e.role}): expected shape [${e.shape.join(',')}], found [${s.join(',')}]`,
      );
  }
}
