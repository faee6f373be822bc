/**
 * Caffe .caffemodel weights: files written by the real protobuf serializer (scripts/caffe/make-caffemodel.py:
 * message classes compiled by protoc from the caffe.proto subset) from a seeded torchvision-layout VGG16 at
 * 1/8 width: V1 `layers` as the authors' release has them (FC blobs 1×1×out×in), V2 `layer` with BlobShape,
 * InnerProduct transpose, unpacked float data, double_data. Loaded with loadWeights: every tensor equal to
 * torchvision's, our forward against torchvision's (≤ 1e-4 relative). Then non-VGG nets and hostile files,
 * each a coded error.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { FormatError, loadClassifier, loadWeights, PRESETS, UnsupportedError } from '../lib';
import { maxRelErr } from './support/compare';
import { runPython } from './support/python';
import { testIf } from './support/skip';
import {
  compareLayers,
  mini16,
  ourLogits,
  protocMissing,
  pythonMissing,
  readReference,
  REFERENCE_MODULES,
  TorchReference,
} from './support/torch-reference';

const SCRIPT = path.join(__dirname, '..', 'scripts', 'caffe', 'make-caffemodel.py');
const missing = pythonMissing('google.protobuf', ...REFERENCE_MODULES) ?? protocMissing();
const can = testIf(!missing, missing ?? '');

const GOOD = ['v1', 'v2', 'v2_transpose', 'v1_unpacked', 'v2_double'];
const cases: [string, typeof FormatError | typeof UnsupportedError, RegExp][] = [
  ['stride2', UnsupportedError, /layer 'conv1_1' \(Convolution\): kernel 3×3, stride 2×2, pad 1×1/],
  ['avepool', UnsupportedError, /layer 'pool1' \(Pooling\): pool AVE/],
  ['leaky', UnsupportedError, /layer 'relu1_1' \(ReLU\): negative_slope 0\.1 \(a leaky ReLU\)/],
  ['batchnorm', UnsupportedError, /layer 'bn1_1' \(BatchNorm\): a layer with 3 blobs; not a VGG network/],
  ['branch', UnsupportedError, /layer 'conv2_1' \(Convolution\): reads 'conv1_1' where the chain is at 'pool1'/],
  ['bad_count', FormatError, /layer 'conv1_1' blob 0: shape \[9,3,3,3\] declares 243 values, the blob holds 216/],
  ['huge', FormatError, /shape \[1099511627776,3,3,3\] declares 29686813949952 values, the blob holds 216/],
  ['no_bias', FormatError, /layer 'conv1_1' \(Convolution\): expected 2 blobs \(weight, bias\), found 1/],
  ['wrong_channels', FormatError, /layer 'conv1_2' .* takes 7 channels, the layer before gives 8/],
  ['both', FormatError, /both V1 'layers' and V2 'layer' messages/],
  ['no_fc', UnsupportedError, /no InnerProduct layers after the convs/],
];

let dir: string;
let ref: TorchReference;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-caffe-'));
  if (missing) return;
  const variants = [...GOOD, ...cases.map((c) => c[0])].join(',');
  runPython(SCRIPT, [dir, JSON.stringify(mini16), '--seed', '5', '--variants', variants]);
  ref = readReference(dir);
}, 300_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const file = (variant: string) => path.join(dir, `${variant}.caffemodel`);

describe('the formats Caffe writes', () => {
  can.each(GOOD)('%s: detected as the network it holds, every tensor equal to torchvision’s', async (variant) => {
    const w = await loadWeights(file(variant));
    expect({ ...w.config, name: 'mini16' }).toEqual(mini16);
    expect([w.format, w.source, w.batchNormFolded]).toEqual(['caffe', 'caffe', false]);
    expect(w.preprocess).toEqual(PRESETS.caffe);
    expect(compareLayers(w.weights, ref, w.config)).toEqual([]);
  });

  can.each(['v1', 'v2_transpose'])('%s: our forward equals torchvision’s', async (variant) => {
    const w = await loadWeights(file(variant));
    const logits = await ourLogits(w.config, w.weights, ref.input);
    expect(maxRelErr(logits, ref.logits)).toBeLessThanOrEqual(1e-4);
  });

  can('options.arch is checked against the file; loadClassifier defaults to BGR mean at the usual scales', async () => {
    expect((await loadWeights(file('v1'), { arch: mini16 })).config.name).toBe('mini16');
    await expect(loadWeights(file('v1'), { arch: 'vgg19' })).rejects.toThrow(/arch 'vgg19' does not match the file/);
    const c = await loadClassifier(file('v2'), { device: 'cpu' });
    expect([c.preprocess, c.source, c.ownPreprocess]).toEqual([PRESETS.caffe, 'caffe', false]);
    c.model.dispose();
  });
});

describe('non-VGG nets and hostile files: coded errors', () => {
  can.each(cases)('%s', async (variant, cls, message) => {
    const e = await loadWeights(file(variant)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(cls);
    expect((e as Error).message).toMatch(message);
  });

  can('truncated files: FormatError wherever the cut falls', async () => {
    const bytes = new Uint8Array(fs.readFileSync(file('v1')));
    for (const at of [1, 30, 200, 5000, bytes.length >> 1, bytes.length - 1]) {
      const f = path.join(dir, `cut-${at}.caffemodel`);
      fs.writeFileSync(f, bytes.subarray(0, at));
      await expect(loadWeights(f)).rejects.toThrow(FormatError);
    }
  });

  test('protobufs that hold no Caffe net, and damaged ones', async () => {
    const write = (name: string, bytes: number[]) => {
      const f = path.join(dir, name);
      fs.writeFileSync(f, new Uint8Array(bytes));
      return f;
    };
    // NetParameter with a name only
    await expect(loadWeights(write('name.caffemodel', [0x0a, 0x01, 0x78]))).rejects.toThrow(/without Caffe layers/);
    // a V1 layer whose length runs past the end of the file
    await expect(loadWeights(write('long.caffemodel', [0x0a, 0x00, 0x12, 0xff, 0x7f, 0x00]))).rejects.toThrow(
      /field 2 at byte 2 runs past the end/,
    );
    // a varint of 11 bytes
    await expect(loadWeights(write('varint.caffemodel', [0x0a, ...Array(11).fill(0xff)]))).rejects.toThrow(
      /longer than 10 bytes/,
    );
    // a group wire type (unused by caffe.proto)
    await expect(loadWeights(write('group.caffemodel', [0x0a, 0x00, 0x13, 0x14]))).rejects.toThrow(/wire type 3/);
    // a V1 layer holding a V0 layer (Caffe before 2014)
    await expect(loadWeights(write('v0.caffemodel', [0x12, 0x02, 0x0a, 0x00]))).rejects.toThrow(UnsupportedError);
  });
});
