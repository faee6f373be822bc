/**
 * VGG topologies as data (Simonyan & Zisserman 2014, Table 1) and the layer program built from them.
 *
 * Every conv is stride 1 with ReLU; 3×3 convs have padding 1 (paper §2.1: "the spatial padding of conv.
 * layer input is such that the spatial resolution is preserved"), 1×1 convs (config C) padding 0. Each
 * stage ends in 2×2 max pooling with stride 2. The head is FC6 → FC7 → FC8; FC6 is expressed as a
 * conv whose kernel covers pool5 (7×7 for a 224 input) with no padding, FC7/FC8 as 1×1 convs (§3.2): with
 * pool5 exactly 7×7 this is the dense FC head computed in the same memory order (C,H,W), and on larger
 * inputs it yields a class score map.
 */
import { jsonPreview } from './describe';
import { InvalidArgumentError } from './errors';

/** One conv of a stage: output channels and square kernel size. */
export interface ConvDef {
  channels: number;
  kernel: 1 | 3;
}

export interface VggConfig {
  /** e.g. 'vgg16'. */
  name: string;
  /** Input channels: 3 for RGB (paper §2.1), 1 for greyscale. */
  inChannels: number;
  /** Training crop size; pool5 is inputSize / 2^stages (224 → 7, paper §2.1). */
  inputSize: number;
  /** Conv widths per stage; a number is a 3×3 conv. */
  stages: (number | ConvDef)[][];
  /** A-LRN: local response normalisation after the first conv (Table 1, §2.3). */
  lrn?: boolean;
  /** Hidden FC widths: [4096, 4096] in the paper (§2.1). */
  fc: number[];
  /** Number of classes: 1000 for ILSVRC-2012 (§4). */
  numClasses: number;
}

/** Local response normalisation of AlexNet (Krizhevsky et al. 2012, §3.3), used by A-LRN (paper §2.3):
 *  k = 2, n = 5, α = 1e-4, β = 0.75; α multiplies the plain sum of squares over the n channels. Caffe,
 *  PyTorch and ONNX scale α by 1/n: their `alpha` is our α · n. */
export const LRN_PARAMS = Object.freeze({ size: 5, alpha: 1e-4, beta: 0.75, k: 2 });

const c1 = (channels: number): ConvDef => ({ channels, kernel: 1 });
const PAPER = { inChannels: 3, inputSize: 224, fc: [4096, 4096], numClasses: 1000 };

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** The six configurations of Table 1 (deeply frozen). */
export const ARCHS: Readonly<Record<string, VggConfig>> = deepFreeze({
  vgg11: { name: 'vgg11', ...PAPER, stages: [[64], [128], [256, 256], [512, 512], [512, 512]] },
  vgg11_lrn: { name: 'vgg11_lrn', ...PAPER, lrn: true, stages: [[64], [128], [256, 256], [512, 512], [512, 512]] },
  vgg13: {
    name: 'vgg13',
    ...PAPER,
    stages: [
      [64, 64],
      [128, 128],
      [256, 256],
      [512, 512],
      [512, 512],
    ],
  },
  vgg16_c: {
    name: 'vgg16_c',
    ...PAPER,
    stages: [
      [64, 64],
      [128, 128],
      [256, 256, c1(256)],
      [512, 512, c1(512)],
      [512, 512, c1(512)],
    ],
  },
  vgg16: {
    name: 'vgg16',
    ...PAPER,
    stages: [
      [64, 64],
      [128, 128],
      [256, 256, 256],
      [512, 512, 512],
      [512, 512, 512],
    ],
  },
  vgg19: {
    name: 'vgg19',
    ...PAPER,
    stages: [
      [64, 64],
      [128, 128],
      [256, 256, 256, 256],
      [512, 512, 512, 512],
      [512, 512, 512, 512],
    ],
  },
});

/** Paper letters and common spellings → canonical names. */
const ALIASES: Record<string, string> = {
  a: 'vgg11',
  'a-lrn': 'vgg11_lrn',
  a_lrn: 'vgg11_lrn',
  b: 'vgg13',
  c: 'vgg16_c',
  d: 'vgg16',
  e: 'vgg19',
  'vgg11-lrn': 'vgg11_lrn',
  'vgg16-c': 'vgg16_c',
};

/** Resolves a name ('vgg16', 'D', 'A-LRN', ...) or validates a custom config. Throws InvalidArgumentError. */
export function resolveConfig(arch: string | VggConfig): VggConfig {
  if (typeof arch === 'string') {
    const key = arch.toLowerCase();
    const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k); // not 'constructor' & co.
    const name = has(ARCHS, key) ? key : has(ALIASES, key) ? ALIASES[key] : undefined;
    const cfg = name === undefined ? undefined : ARCHS[name];
    if (!cfg)
      throw new InvalidArgumentError(
        `arch: expected one of ${Object.keys(ARCHS).join(', ')} or A, A-LRN, B, C, D, E, got '${arch}'`,
      );
    return cfg;
  }
  validateConfig(arch);
  // A frozen copy: later changes to the caller's object must not reach a model built from it.
  return deepFreeze(JSON.parse(JSON.stringify(arch)) as VggConfig);
}

/** Widths are capped so that a typo fails fast instead of allocating terabytes. */
const MAX_WIDTH = 1 << 16;

function posInt(v: unknown, name: string, max = MAX_WIDTH): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max)
    throw new InvalidArgumentError(`${name}: expected an integer in [1, ${max}], got ${jsonPreview(v)}`);
  return v;
}

export function validateConfig(cfg: VggConfig): void {
  if (typeof cfg !== 'object' || cfg === null) throw new InvalidArgumentError('config: expected an object');
  if (typeof cfg.name !== 'string')
    throw new InvalidArgumentError(`config.name: expected a string, got ${typeof cfg.name}`);
  posInt(cfg.inChannels, 'config.inChannels');
  posInt(cfg.inputSize, 'config.inputSize');
  posInt(cfg.numClasses, 'config.numClasses', 1 << 20);
  if (!Array.isArray(cfg.stages) || cfg.stages.length === 0 || cfg.stages.length > 16)
    throw new InvalidArgumentError('config.stages: expected an array of 1 to 16 stages');
  cfg.stages.forEach((st, i) => {
    if (!Array.isArray(st) || st.length === 0)
      throw new InvalidArgumentError(`config.stages[${i}]: expected a non-empty array of conv widths`);
    st.forEach((c, j) => {
      const d = convDef(c);
      if (!d || typeof d !== 'object')
        throw new InvalidArgumentError(`config.stages[${i}][${j}]: expected a width or {channels, kernel}`);
      posInt(d.channels, `config.stages[${i}][${j}].channels`);
      if (d.kernel !== 1 && d.kernel !== 3)
        throw new InvalidArgumentError(`config.stages[${i}][${j}].kernel: expected 1 or 3, got ${d.kernel}`);
    });
  });
  if (!Array.isArray(cfg.fc)) throw new InvalidArgumentError('config.fc: expected an array of hidden FC widths');
  cfg.fc.forEach((w, i) => posInt(w, `config.fc[${i}]`));
  const pool5 = cfg.inputSize / 2 ** cfg.stages.length;
  if (!Number.isInteger(pool5) || pool5 < 1)
    throw new InvalidArgumentError(
      `config.inputSize: ${cfg.inputSize} is not divisible by 2^${cfg.stages.length} (one 2×2 pool per stage)`,
    );
}

function convDef(c: number | ConvDef): ConvDef {
  return typeof c === 'number' ? { channels: c, kernel: 3 } : c;
}

/** One step of the layer program sent to the native planner. */
export type LayerStep =
  | {
      kind: 'conv';
      name: string;
      inChannels: number;
      outChannels: number;
      kernel: number;
      stride: 1;
      pad: number;
      relu: boolean;
    }
  | { kind: 'maxpool'; name: string; window: 2; stride: 2 }
  | { kind: 'lrn'; name: string; size: number; alpha: number; beta: number; k: number };

/** Spatial size of pool5 for the training input: the FC6 kernel (7 for 224 and 5 stages). */
export function pool5Size(cfg: VggConfig): number {
  return cfg.inputSize / 2 ** cfg.stages.length;
}

/**
 * The layer program: features (convs with ReLU, LRN, pools) then the head (FC6 as a pool5-sized conv,
 * FC7.. as 1×1 convs, the last without ReLU). Names follow the paper: conv{stage}_{i}, pool{stage},
 * fc6, fc7, fc8 (fc{6+j} for custom heads).
 */
export function layerProgram(cfg: VggConfig): LayerStep[] {
  const steps: LayerStep[] = [];
  let c = cfg.inChannels;
  cfg.stages.forEach((stage, si) => {
    stage.forEach((conv, ci) => {
      const d = convDef(conv);
      steps.push({
        kind: 'conv',
        name: `conv${si + 1}_${ci + 1}`,
        inChannels: c,
        outChannels: d.channels,
        kernel: d.kernel,
        stride: 1,
        pad: d.kernel === 3 ? 1 : 0,
        relu: true,
      });
      c = d.channels;
      if (cfg.lrn && si === 0 && ci === 0) steps.push({ kind: 'lrn', name: 'lrn1', ...LRN_PARAMS });
    });
    steps.push({ kind: 'maxpool', name: `pool${si + 1}`, window: 2, stride: 2 });
  });
  const widths = [...cfg.fc, cfg.numClasses];
  widths.forEach((w, j) => {
    const kernel = j === 0 ? pool5Size(cfg) : 1;
    steps.push({
      kind: 'conv',
      name: `fc${6 + j}`,
      inChannels: c,
      outChannels: w,
      kernel,
      stride: 1,
      pad: 0,
      relu: j < widths.length - 1,
    });
    c = w;
  });
  return steps;
}

/** Convolutions of the program in order, with their weight shapes (K,C,R,S) OIHW and bias (K). */
export function weightShapes(
  cfg: VggConfig,
): { name: string; weight: [number, number, number, number]; bias: [number] }[] {
  return layerProgram(cfg)
    .filter((s): s is Extract<LayerStep, { kind: 'conv' }> => s.kind === 'conv')
    .map((s) => ({ name: s.name, weight: [s.outChannels, s.inChannels, s.kernel, s.kernel], bias: [s.outChannels] }));
}
