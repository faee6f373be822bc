/**
 * Keras .h5 weights: files written by h5py exactly as Keras writes them (scripts/keras/make-h5.py: model.save
 * and model.save_weights, Keras 1/2/3 weight names, split layer_names, channels_first; Keras 3's own
 * .weights.h5) from a seeded
 * torchvision-layout VGG16 at 1/8 width (pool5 7×7, so FC6's H,W,C rows must be reordered), loaded with
 * loadWeights: every tensor equal to torchvision's, and our forward against torchvision's (≤ 1e-4
 * relative). Then the files Keras users meet that are no classifier, and hostile files, each a coded error.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { defaultScales, FormatError, loadClassifier, loadWeights, PRESETS, UnsupportedError } from '../lib';
import { mutant } from '../fuzz/mutate';
import { seedFile } from '../fuzz/seeds';
import { maxRelErr } from './support/compare';
import { runPython } from './support/python';
import { testIf } from './support/skip';
import {
  compareLayers,
  mini16,
  ourLogits,
  pythonMissing,
  readReference,
  REFERENCE_MODULES,
  TorchReference,
} from './support/torch-reference';

const SCRIPT = path.join(__dirname, '..', 'scripts', 'keras', 'make-h5.py');
const missing = pythonMissing('h5py', ...REFERENCE_MODULES);
const can = testIf(!missing, missing ?? '');

const GOOD = ['save', 'weights', 'keras3', 'keras1', 'chunked', 'channels_first', 'bigendian', 'float64'];
const MORE = ['keras3_weights'];
const HOSTILE = [
  'notop',
  'wrong_shape',
  'missing_layer',
  'missing_weight',
  'batchnorm',
  'theano',
  'soft_cycle',
  'external_link',
  'avgpool',
  'no_layer_names',
  'float16',
];

let dir: string;
let ref: TorchReference;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-keras-'));
  if (missing) return;
  runPython(SCRIPT, [
    dir,
    JSON.stringify(mini16),
    '--seed',
    '3',
    '--layouts',
    [...GOOD, ...MORE, ...HOSTILE].join(','),
  ]);
  ref = readReference(dir);
}, 300_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const file = (layout: string) => path.join(dir, `${layout}.h5`);

describe('the layouts Keras writes', () => {
  can.each(GOOD)('%s: detected as the network it holds, every tensor equal to torchvision’s', async (layout) => {
    const w = await loadWeights(file(layout));
    expect({ ...w.config, name: 'mini16' }).toEqual(mini16);
    expect(w.config.name).toBe('custom');
    expect([w.format, w.source, w.batchNormFolded]).toEqual(['keras', 'keras', false]);
    expect(w.preprocess).toEqual(PRESETS.caffe);
    expect(compareLayers(w.weights, ref, w.config)).toEqual([]);
  });

  // FC6 is the classic bug: Keras flattens pool5 in H,W,C order (channels_last) or C,H,W (channels_first).
  can.each(['save', 'channels_first', 'keras3'])('%s: our forward equals torchvision’s', async (layout) => {
    const w = await loadWeights(file(layout));
    const logits = await ourLogits(w.config, w.weights, ref.input);
    expect(maxRelErr(logits, ref.logits)).toBeLessThanOrEqual(1e-4);
  });

  can('Keras 3 .weights.h5 (no pools recorded): read with options.arch giving the stages', async () => {
    await expect(loadWeights(file('keras3_weights'))).rejects.toThrow(
      /records no pooling layers, so the stages are unknown: give options.arch/,
    );
    const w = await loadWeights(file('keras3_weights'), { arch: mini16 });
    expect(w.config).toEqual(mini16);
    expect(compareLayers(w.weights, ref, w.config)).toEqual([]);
    await expect(loadWeights(file('keras3_weights'), { arch: 'vgg16' })).rejects.toThrow(/arch 'vgg16' does not match/);
  });

  can('options.arch: a matching VggConfig is taken (and named), another architecture is refused', async () => {
    const w = await loadWeights(file('weights'), { arch: mini16 });
    expect(w.config.name).toBe('mini16');
    await expect(loadWeights(file('weights'), { arch: 'vgg16' })).rejects.toThrow(
      /arch 'vgg16' does not match the file: the file holds custom/,
    );
  });

  can('loadClassifier: BGR-mean preprocessing by default, and the usual test scales (not the image size)', async () => {
    const c = await loadClassifier(file('save'), { device: 'cpu' });
    try {
      expect(c.preprocess).toEqual(PRESETS.caffe);
      expect(c.source).toBe('keras');
      expect(c.ownPreprocess).toBe(false);
      expect(defaultScales(c.model.config.inputSize, 'dense', c.ownPreprocess)).toEqual([384]);
      expect(defaultScales(c.model.config.inputSize, 'fc', c.ownPreprocess)).toEqual([256]);
    } finally {
      c.model.dispose();
    }
    const t = await loadClassifier(file('save'), { device: 'cpu', preprocess: 'torchvision' });
    expect(t.preprocess).toEqual(PRESETS.torchvision);
    t.model.dispose();
  });
});

describe('files that are no VGG classifier, and hostile files: coded errors', () => {
  const cases: [string, typeof FormatError | typeof UnsupportedError, RegExp][] = [
    ['notop', UnsupportedError, /include_top=False.*vgg16_weights_tf_dim_ordering_tf_kernels\.h5/],
    [
      'wrong_shape',
      FormatError,
      /layer 'block2_conv1': kernel .* \[3,3,7,16\] takes 7 channels, the layer before gives 8/,
    ],
    [
      'missing_layer',
      FormatError,
      /layer 'block2_conv1' is listed in layer_names but its group '\/block2_conv1' is missing/,
    ],
    ['missing_weight', FormatError, /weight 'block2_conv1\/bias:0' is listed in weight_names but missing/],
    ['batchnorm', UnsupportedError, /layer 'block1_bn': weights \[8\], \[8\], \[8\], \[8\] are neither a Conv2D/],
    ['theano', UnsupportedError, /Theano-ordered/],
    ['soft_cycle', FormatError, /'\/block1_conv1' is a soft link \(to '\/loop_b'\)/],
    ['external_link', FormatError, /'\/block1_conv1' is an external link \(to 'external_link\.h5\.other\.h5'\)/],
    ['avgpool', UnsupportedError, /layer 'block1_pool' \(AveragePooling2D\): VGG's pools are 2×2 max pools/],
    ['no_layer_names', FormatError, /without Keras's 'layer_names' attribute/],
    ['float16', UnsupportedError, /expected f32 or f64 values, found f16/],
  ];
  can.each(cases)('%s', async (layout, cls, message) => {
    const e = await loadWeights(file(layout)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(cls);
    expect((e as Error).message).toMatch(message);
  });

  can('truncated files: FormatError wherever the cut falls', async () => {
    const bytes = new Uint8Array(fs.readFileSync(file('weights')));
    for (const at of [100, 1000, 4096, bytes.length >> 1, bytes.length - 1]) {
      const f = path.join(dir, `cut-${at}.h5`);
      fs.writeFileSync(f, bytes.subarray(0, at));
      await expect(loadWeights(f)).rejects.toThrow(FormatError);
    }
  });

  can('a dataset declaring more than the file holds (never written: HDF5 would return fill values)', async () => {
    const f = path.join(dir, 'unwritten.h5');
    runPython('-c', [
      `import h5py; f = h5py.File(${JSON.stringify(f)}, "w"); f.attrs["layer_names"] = [b"c"]; g = f.create_group("c"); ` +
        `g.attrs["weight_names"] = [b"k", b"b"]; g.create_dataset("k", (3, 3, 3, 65536), "f4"); g.create_dataset("b", (65536,), "f4")`,
    ]);
    await expect(loadWeights(f)).rejects.toThrow(
      /'\/c\/k' declares 7077888 bytes .* more than the \d+-byte file can hold/,
    );
  });

  test('a file on which the HDF5 library loops for ever: FormatError once a call exceeds its time', async () => {
    // Found by `npm run fuzz` (mutant 1621 of seed 1): a bent attribute of the committed h5py seed.
    const f = path.join(dir, 'loops.h5');
    fs.writeFileSync(f, mutant('keras', seedFile('keras'), 1, 1621));
    await expect(loadWeights(f)).rejects.toThrow(/the HDF5 library did not answer within 15 s/);
    // the loader thread is free again: the next file loads
    const ok = path.join(dir, 'seed.h5');
    fs.writeFileSync(ok, seedFile('keras'));
    expect((await loadWeights(ok)).config.numClasses).toBe(5);
  }, 90_000);

  test('garbage after the HDF5 signature: FormatError from the HDF5 library', async () => {
    const f = path.join(dir, 'garbage.h5');
    const bytes = new Uint8Array(4008).fill(7);
    bytes.set([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
    fs.writeFileSync(f, bytes);
    await expect(loadWeights(f)).rejects.toThrow(/not a readable HDF5 file \(.*\)/);
  });
});
