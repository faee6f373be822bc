/**
 * Keras .h5 weights: keras.applications VGG16/VGG19 (`vgg16_weights_tf_dim_ordering_tf_kernels.h5`) and
 * VGG-style Keras models, in Keras's HDF5 format (Keras 2's hdf5_format.py, Keras 3's
 * keras/src/legacy/saving/legacy_h5_format.py), read through h5wasm (h5.ts).
 *
 * What the files hold:
 *  - `model.save_weights('x.h5')`: at the root, attribute `layer_names` (every layer in model order; split
 *    over `layer_names0`, `layer_names1`, … past 64512 bytes); one group per layer with attribute
 *    `weight_names` (trainable weights first, in order; empty for layers without weights), each weight a
 *    dataset at `<layer>/<weight name>`. Names: 'block1_conv1/kernel:0' (Keras 2), 'block1_conv1/kernel'
 *    (Keras 3, which adds an empty `top_level_model_weights` group), 'block1_conv1_W_1:0' (Keras 1). Keras
 *    loads by order, not by name, and so do we.
 *  - `model.save('x.h5')`: the same under `/model_weights`, and the model's JSON in the root attribute
 *    `model_config`, from which the layers' classes and settings are checked (padding 'same', stride 1,
 *    ReLU, 2×2/2 max pooling, data_format).
 *  - Keras 3's own `model.save_weights('x.weights.h5')`: `layers/<class>[_<n>]/vars/<i>` (keras3Layers); it
 *    records no pools, so options.arch must give the stages.
 * Layouts: Conv2D kernel (kh, kw, in, out) HWIO → OIHW; Dense kernel (in, out) → (out, in); the first Dense
 * reads Flatten's output, H,W,C order for channels_last (the keras.applications files), C,H,W for
 * channels_first. Stages end at each MaxPooling2D (from model_config, else from layer names containing
 * 'pool'). FC8 gives logits: Keras's `predictions` layer applies softmax after them.
 *
 * These models expect Caffe-style input (keras.applications `preprocess_input` mode 'caffe': BGR, 0–255,
 * ImageNet mean subtracted), so the reader's `preprocess` is PRESETS.caffe.
 *
 * Refused with UnsupportedError: include_top=False files (no Dense layers: no classifier), layers VGG has not
 * (BatchNormalization, average pooling, strided or dilated convs, other activations), Theano-ordered files,
 * f16 datasets; with FormatError: anything missing or mis-shaped (named), soft and external links.
 */
import { FormatError, UnsupportedError } from '../errors';
import type { LayerWeights } from '../model';
import { PRESETS } from '../preprocess';
import { ConvDef, VggConfig, weightShapes } from '../topology';
import { configFromDetected, pool5FromFanIn } from './detect';
import { H5DatasetInfo, H5File } from './h5';
import { denseRowsToOihw, hwioToOihw } from './keras';
import { LoadWeightsOptions, reconcile, resolveGivenArch, WeightsReader } from './types';

/** Rows of a Dense kernel read at once: 4 MB blocks of FC6 (25088 × 4096) rather than 411 MB. */
const DENSE_BLOCK_VALUES = 1 << 20;

/** A layer as the file lists it, with its class and settings when model_config gives them. */
interface KerasLayer {
  name: string;
  className?: string;
  config?: Record<string, unknown>;
  weights: H5DatasetInfo[];
}

/** One weighted layer of the network, in program order. */
interface Planned {
  keras: string;
  kernel: H5DatasetInfo;
  bias?: H5DatasetInfo;
  kind: 'conv' | 'dense';
  /** FC6 of a channels_last model: kernel rows in H,W,C order. */
  hwc?: { channels: number; hw: number };
}

/** Opens a Keras .h5 file and checks it as a VGG network. Errors as loadWeights (index.ts). */
export async function openKerasWeights(file: string, options: LoadWeightsOptions): Promise<WeightsReader> {
  const given = resolveGivenArch(options.arch);
  const h5 = await H5File.open(file);
  try {
    const layers = listLayers(h5, given?.config);
    const { planned, detected } = plan(file, layers);
    const config = reconcile(file, given, configFromDetected(detected), false);
    const shapes = weightShapes(config);
    if (shapes.length !== planned.length)
      throw new FormatError(`${file}: the file's layers do not match ${config.name}`);
    return {
      config,
      format: 'keras',
      source: 'keras',
      preprocess: PRESETS.caffe,
      preprocessByConvention: true,
      batchNormFolded: false,
      read: async (i) => readLayer(h5, planned[i], shapes[i].weight),
      close: async () => h5.close(),
    };
  } catch (e) {
    h5.close();
    throw e;
  }
}

/** The weights group, its layers in order and their datasets. */
function listLayers(h5: H5File, given: VggConfig | undefined): KerasLayer[] {
  const file = h5.file;
  const hasNames = (p: string) =>
    h5.kind(p) === 'group' && h5.attributeNames(p).some((a) => a === 'layer_names' || a === 'layer_names0');
  const base = hasNames('/') ? '' : hasNames('/model_weights') ? '/model_weights' : null;
  if (base === null) {
    if (h5.kind('/layers') === 'group') return keras3Layers(h5, given);
    throw new FormatError(
      `${file}: an HDF5 file without Keras's 'layer_names' attribute (at the root or in /model_weights): not a Keras weights file`,
    );
  }
  const at = base || '/';
  const backend = h5.string(at, 'backend') ?? h5.string('/', 'backend');
  if (backend === 'theano')
    throw new UnsupportedError(
      `${file}: Theano-ordered Keras weights (backend 'theano': flipped channels_first kernels); use the TensorFlow-ordered file (…_tf_dim_ordering_tf_kernels.h5)`,
    );
  const names = chunkedStrings(h5, at, 'layer_names')!;
  const classes = modelConfigLayers(h5);
  return names.map((name) => {
    const group = `${base}/${name}`;
    if (h5.kind(group) !== 'group')
      throw new FormatError(`${file}: layer '${name}' is listed in layer_names but its group '${group}' is missing`);
    const weightNames = chunkedStrings(h5, group, 'weight_names') ?? [];
    const weights = weightNames.map((w) => {
      if (h5.kind(`${group}/${w}`) === null)
        throw new FormatError(`${file}: layer '${name}': weight '${w}' is listed in weight_names but missing`);
      return h5.dataset(`${group}/${w}`);
    });
    return { name, weights, ...classes.get(name) };
  });
}

/**
 * Keras 3's own weights file (`model.save_weights('x.weights.h5')`, keras/src/saving/saving_lib.py
 * H5IOStore): `layers/<class in snake case>[_<n>]/vars/<i>`, the n-th layer of a class in model order, its
 * variables in order; layers without variables (pools) leave no trace. The convs and Dense layers are in
 * order, the stages are not: options.arch gives them.
 */
function keras3Layers(h5: H5File, given: VggConfig | undefined): KerasLayer[] {
  const file = h5.file;
  const byClass = (cls: string): KerasLayer[] => {
    const re = new RegExp(`^${cls}(?:_(\\d+))?$`);
    const found = h5
      .members('/layers')
      .map((name) => [name, re.exec(name)] as const)
      .filter(([, m]) => m)
      .map(([name, m]) => ({ name, n: m![1] === undefined ? 0 : Number(m![1]) }))
      .sort((a, b) => a.n - b.n);
    found.forEach(({ name }, i) => {
      if (found[i].n !== i)
        throw new FormatError(
          `${file}: Keras 3 weights: '/layers/${name}' out of sequence (expected ${i ? `${cls}_${i}` : cls})`,
        );
    });
    return found.map(({ name }) => {
      const vars = `/layers/${name}/vars`;
      const n = h5.kind(vars) === 'group' ? h5.members(vars).length : 0;
      const weights = Array.from({ length: n }, (_, i) => h5.dataset(`${vars}/${i}`));
      return { name, className: cls === 'conv2d' ? 'Conv2D' : 'Dense', weights };
    });
  };
  const convs = byClass('conv2d');
  const dense = byClass('dense');
  // Layers of other classes may have left an empty group (older Keras 3 made one for every layer).
  const others = h5
    .members('/layers')
    .filter((n) => !/^(conv2d|dense)(_\d+)?$/.test(n))
    .filter((n) => h5.kind(`/layers/${n}/vars`) === 'group' && h5.members(`/layers/${n}/vars`).length > 0);
  if (others.length)
    throw new UnsupportedError(
      `${file}: Keras 3 weights: layers ${others.map((n) => `'${n}'`).join(', ')} hold weights and are neither Conv2D nor Dense; not a VGG network`,
    );
  const sizes = given?.stages.map((st) => st.length);
  if (!sizes)
    throw new UnsupportedError(
      `${file}: a Keras 3 '.weights.h5' file records no pooling layers, so the stages are unknown: give options.arch ('vgg16', 'vgg19' or a VggConfig)`,
    );
  if (sizes.reduce((a, b) => a + b, 0) !== convs.length)
    throw new FormatError(
      `${file}: arch '${given!.name}' has ${sizes.reduce((a, b) => a + b, 0)} convs, the file ${convs.length}`,
    );
  const layers: KerasLayer[] = [];
  let at = 0;
  sizes.forEach((n, i) => {
    layers.push(...convs.slice(at, at + n), { name: `pool${i + 1}`, className: 'MaxPooling2D', weights: [] });
    at += n;
  });
  return [...layers, ...dense];
}

/** A string-list attribute as Keras writes it: `name`, or `name0`, `name1`, … (legacy_h5_format.py
 *  load_attributes_from_hdf5_group). */
function chunkedStrings(h5: H5File, path: string, name: string): string[] | undefined {
  const whole = h5.strings(path, name);
  if (whole) return whole;
  const out: string[] = [];
  for (let i = 0; ; i++) {
    const part = h5.strings(path, `${name}${i}`);
    if (!part) return i === 0 ? undefined : out;
    out.push(...part);
  }
}

/** Layer name → class and settings, from the root attribute model_config (model.save); empty without it. */
function modelConfigLayers(h5: H5File): Map<string, { className: string; config: Record<string, unknown> }> {
  const out = new Map<string, { className: string; config: Record<string, unknown> }>();
  const text = h5.string('/', 'model_config');
  if (text === undefined) return out;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FormatError(`${h5.file}: attribute model_config is not valid JSON (${(e as Error).message})`);
  }
  const layers = (json as { config?: { layers?: unknown } })?.config?.layers;
  if (!Array.isArray(layers)) return out;
  for (const l of layers as { class_name?: unknown; name?: unknown; config?: Record<string, unknown> }[]) {
    const name = l?.config?.name ?? l?.name;
    if (typeof name === 'string' && typeof l.class_name === 'string')
      out.set(name, { className: l.class_name, config: l.config ?? {} });
  }
  return out;
}

const same = (v: unknown, want: unknown[]) =>
  Array.isArray(v) && v.length === want.length && v.every((x, i) => x === want[i]);

/** Reads the layer list as a VGG network: conv stages closed by max pools, then Dense layers. */
function plan(file: string, layers: KerasLayer[]) {
  const fail = (l: KerasLayer, why: string) =>
    new UnsupportedError(
      `${file}: layer '${l.name}'${l.className ? ` (${l.className})` : ''}: ${why}; not a VGG network`,
    );
  const planned: Planned[] = [];
  const stages: ConvDef[][] = [];
  let stage: ConvDef[] = [];
  let channels = 0;
  let inChannels = 0;
  let channelsFirst = false;
  const fc: number[] = [];
  let pool5 = 0;
  for (const l of layers) {
    const cls = l.className;
    const conf = l.config ?? {};
    if (conf.data_format === 'channels_first') channelsFirst = true;
    if (l.weights.length === 0) {
      const pool = cls ? cls === 'MaxPooling2D' : /pool/i.test(l.name) && !/avg|average|global/i.test(l.name);
      if (cls ? /Pool/.test(cls) && !pool : /pool/i.test(l.name) && !pool)
        throw fail(l, "VGG's pools are 2×2 max pools with stride 2");
      if (!pool) continue; // InputLayer, Flatten, Dropout, Activation: no weights, nothing to do
      if (l.config && (!same(conf.pool_size, [2, 2]) || !(conf.strides == null || same(conf.strides, [2, 2]))))
        throw fail(
          l,
          `pool_size ${JSON.stringify(conf.pool_size)}, strides ${JSON.stringify(conf.strides)}: expected 2×2 with stride 2`,
        );
      if (fc.length) throw fail(l, 'a pool after the Dense layers');
      if (!stage.length) throw fail(l, 'a pool with no conv before it');
      stages.push(stage);
      stage = [];
      continue;
    }
    const [kernel, bias, ...extra] = l.weights;
    const k = kernel.shape;
    const isConv = k.length === 4 && (bias === undefined || bias.shape.length === 1) && !extra.length;
    const isDense = k.length === 2 && (bias === undefined || bias.shape.length === 1) && !extra.length;
    if (!isConv && !isDense)
      throw fail(
        l,
        `weights ${l.weights.map((w) => `[${w.shape.join(',')}]`).join(', ')} are neither a Conv2D (kernel, bias) nor a Dense (kernel, bias)`,
      );
    if (cls && cls !== (isConv ? 'Conv2D' : 'Dense'))
      throw fail(l, `weights shaped like a ${isConv ? 'Conv2D' : 'Dense'} layer's`);
    const units = k[k.length - 1];
    if (bias && bias.shape[0] !== units)
      throw new FormatError(
        `${file}: layer '${l.name}': bias '${bias.path}' has shape [${bias.shape.join(',')}], expected [${units}]`,
      );
    if (isConv) {
      if (fc.length) throw fail(l, 'a conv after the Dense layers');
      const [R, S, C] = k;
      if (R !== S || (R !== 3 && R !== 1)) {
        const oihw = (k[2] === 3 || k[2] === 1) && k[2] === k[3];
        throw fail(
          l,
          `kernel [${k.join(',')}]: expected HWIO [3,3,in,out] or [1,1,in,out]${oihw ? ' (this looks like a channels_first/Theano kernel [out,in,h,w])' : ''}`,
        );
      }
      if (l.config) {
        if (
          !(conf.strides == null || same(conf.strides, [1, 1])) ||
          !(conf.dilation_rate == null || same(conf.dilation_rate, [1, 1]))
        )
          throw fail(
            l,
            `strides ${JSON.stringify(conf.strides)}, dilation ${JSON.stringify(conf.dilation_rate)}: VGG's convs have stride 1`,
          );
        if (R === 3 && conf.padding !== 'same')
          throw fail(l, `padding '${String(conf.padding)}': VGG's 3×3 convs keep the size ('same')`);
        if (conf.activation !== 'relu')
          throw fail(l, `activation '${String(conf.activation)}': VGG's convs are followed by ReLU`);
      }
      const expectC = planned.length ? channels : C;
      if (C !== expectC)
        throw new FormatError(
          `${file}: layer '${l.name}': kernel '${kernel.path}' [${k.join(',')}] takes ${C} channels, the layer before gives ${expectC}`,
        );
      if (!planned.length) inChannels = C;
      stage.push({ channels: units, kernel: R as 1 | 3 });
      planned.push({ keras: l.name, kernel, bias, kind: 'conv' });
      channels = units;
    } else {
      if (!planned.length) throw fail(l, 'a Dense layer before any conv');
      if (stage.length) throw fail(l, 'Dense after a conv with no pool between: the last stage must end in a max pool');
      if (l.config && l !== layers.filter((x) => x.weights.length).slice(-1)[0] && conf.activation !== 'relu')
        throw fail(l, `activation '${String(conf.activation)}': VGG's hidden FC layers are followed by ReLU`);
      const [fanIn] = k;
      let hwc: Planned['hwc'];
      if (!fc.length) {
        pool5 = pool5FromFanIn(fanIn, channels, kernel.path, k);
        if (!channelsFirst) hwc = { channels, hw: pool5 * pool5 };
      } else if (fanIn !== fc[fc.length - 1])
        throw new FormatError(
          `${file}: layer '${l.name}': kernel '${kernel.path}' [${k.join(',')}] takes ${fanIn} inputs, the layer before gives ${fc[fc.length - 1]}`,
        );
      fc.push(units);
      planned.push({ keras: l.name, kernel, bias, kind: 'dense', hwc });
    }
  }
  if (!fc.length)
    throw new UnsupportedError(
      `${file}: no Dense layers after the convs: an include_top=False file (like …_notop.h5) holds the features only, and vggnet's models are classifiers (FC6–FC8 are part of the network); use the file with the top (vgg16_weights_tf_dim_ordering_tf_kernels.h5)`,
    );
  if (!stages.length)
    throw new UnsupportedError(`${file}: no max pool between the convs and the Dense layers; not a VGG network`);
  const numClasses = fc.pop()!;
  return { planned, detected: { inChannels, stages, fc, numClasses, pool5, batchNorm: false } };
}

/** Layer i as OIHW f32 with its bias (zeros for a layer without one). */
function readLayer(h5: H5File, p: Planned, shape: number[]): LayerWeights {
  const [K, C, R, S] = shape;
  const bias = p.bias ? h5.read(p.bias) : new Float32Array(K);
  if (p.kind === 'conv') return { weight: hwioToOihw(h5.read(p.kernel), R, S, C, K), bias };
  const fanIn = C * R * S;
  const weight = new Float32Array(fanIn * K);
  const step = Math.max(1, Math.floor(DENSE_BLOCK_VALUES / K));
  for (let r0 = 0; r0 < fanIn; r0 += step) {
    const r1 = Math.min(fanIn, r0 + step);
    denseRowsToOihw(weight, h5.rows(p.kernel, r0, r1), r0, fanIn, K, p.hwc);
  }
  return { weight, bias };
}
