/**
 * vggnet against torchvision's own VGG forward (scripts/torch/reference.py, Debian's python3-torch and
 * python3-torchvision): the same state_dict loaded from torchvision's names, the same inputs, and the logits
 * and intermediate features compared, in the 'torchvision' mode (AdaptiveAvgPool2d(7) before FC6, any size
 * ≥ 32) at 224×224, 256×256, 320×240 and 32×32, plus 'fc' at 224. vgg11_bn checks batch norm folding.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { Features, InvalidArgumentError, loadClassifier, Model, Tensor } from '../lib';
import { SafetensorsFile } from '../lib/weights';
import { maxRelErr } from './support/compare';
import { tiny } from './support/configs';
import { pythonMissing, runPython } from './support/python';
import { testIf } from './support/skip';

const missing = pythonMissing('torch', 'torchvision');
const withTorch = testIf(missing === null, missing ?? '');
const SCRIPT = path.join(__dirname, '..', 'scripts', 'torch', 'reference.py');
const SIZES = ['224x224', '256x256', '320x240', '32x32'];

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-torchvision-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** maxRelErr, after checking the sizes agree and the reference is not all zeros (it would compare nothing). */
function relError(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  expect(b.some((v) => v !== 0)).toBe(true);
  return maxRelErr(a, b);
}

async function readReference(file: string): Promise<Map<string, Tensor>> {
  const f = await SafetensorsFile.open(file);
  try {
    const out = new Map<string, Tensor>();
    for (const name of f.names()) out.set(name, new Tensor(f.entry(name).shape, await f.readF32(name)));
    return out;
  } finally {
    await f.close();
  }
}

describe.each([
  ['vgg16', 2, SIZES, ['conv1_2', 'conv4_3', 'conv5_3:pre-relu', 'pool5', 'fc6', 'fc7:pre-relu', 'fc7', 'fc8']],
  ['vgg11_bn', 1, ['224x224', '320x240'], ['conv1_1', 'conv4_2:pre-relu', 'pool5', 'fc7']],
])('torchvision %s (batch %d): logits and features', (arch, batch, sizes, LAYERS) => {
  let ref: Map<string, Tensor>;
  let model: Model;
  beforeAll(async () => {
    if (missing) return;
    const weights = path.join(dir, `${arch}.safetensors`);
    const outputs = path.join(dir, `${arch}.outputs.safetensors`);
    runPython(SCRIPT, [
      '--arch',
      arch,
      '--batch',
      String(batch),
      '--sizes',
      sizes.join(','),
      '--layers',
      LAYERS.join(','),
      weights,
      outputs,
    ]);
    ref = await readReference(outputs);
    model = (await loadClassifier(weights, { threads: 2 })).model;
    fs.rmSync(weights);
  }, 600_000);
  afterAll(() => model?.dispose());

  withTorch.each(sizes)("mode 'torchvision' at %s: logits and every feature ≤ 1e-4 relative", async (size) => {
    const x = ref.get(`input.${size}`)!;
    const y = await model.forward(x, { mode: 'torchvision' });
    expect(y.dims).toEqual(ref.get(`logits.${size}`)!.dims);
    expect(relError(y.data, ref.get(`logits.${size}`)!.data)).toBeLessThan(1e-4);
    const f: Features = await model.forward(x, { mode: 'torchvision', outputs: LAYERS });
    expect(Object.keys(f)).toEqual(LAYERS);
    for (const name of LAYERS) {
      const want = ref.get(`${name}.${size}`)!;
      expect([name, f[name].dims]).toEqual([name, want.dims]);
      expect([name, relError(f[name].data, want.data)]).toEqual([name, expect.any(Number)]);
      expect(relError(f[name].data, want.data)).toBeLessThan(1e-4);
    }
    // fc8 is the logits, bit for bit whether asked for as a feature or as the result.
    if (f.fc8) expect(f.fc8.data).toEqual(y.data);
  });

  withTorch("mode 'fc' at 224 gives torchvision's logits; 'dense' at 224 the same numbers as a 1×1 map", async () => {
    const x = ref.get('input.224x224')!;
    const fc = await model.forward(x, { mode: 'fc' });
    expect(relError(fc.data, ref.get('logits.224x224')!.data)).toBeLessThan(1e-4);
    const dense = await model.forward(x, { mode: 'dense' });
    expect(dense.dims).toEqual([batch, 1000, 1, 1]);
    expect(dense.data).toEqual(fc.data);
  });
});

describe('features (ForwardOptions.outputs) and the torchvision mode, without torch', () => {
  let m: Model;
  beforeAll(async () => {
    m = await Model.random(tiny, 3, { threads: 2, maxBatch: 8, maxDelayMs: 20 });
  });
  afterAll(() => m.dispose());
  const input = (n: number, h: number, w: number, seed = 1) => {
    const data = new Float32Array(n * tiny.inChannels * h * w);
    let s = seed;
    for (let i = 0; i < data.length; i++) data[i] = ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    return new Tensor([n, tiny.inChannels, h, w], data);
  };

  test('every layer can be asked for; layouts follow the mode; forwardSync gives the same', async () => {
    const names = m.plan([1, tiny.inChannels, tiny.inputSize, tiny.inputSize]).map((p) => p.name);
    const x = input(2, tiny.inputSize, tiny.inputSize);
    const f = await m.forward(x, { outputs: names });
    const s = m.forwardSync(x, { outputs: [...names].reverse() });
    expect(Object.keys(s)).toEqual([...names].reverse());
    for (const n of names) {
      expect(s[n].data).toEqual(f[n].data);
      expect(f[n].layout).toBe(n.startsWith('fc') ? 'NC' : 'NCHW');
    }
    expect(f[names.at(-1)!].data).toEqual((await m.forward(x)).data);
    const big = input(1, tiny.inputSize * 2, tiny.inputSize * 2);
    const d = await m.forward(big, { mode: 'dense', outputs: ['fc6', names.at(-1)!] });
    expect(d.fc6.layout).toBe('NCHW');
    expect(d.fc6.dims.length).toBe(4);
  });

  test("'torchvision' equals 'fc' at the training size and runs any size ≥ 2^stages", async () => {
    const x = input(1, tiny.inputSize, tiny.inputSize);
    expect((await m.forward(x, { mode: 'torchvision' })).data).toEqual((await m.forward(x)).data);
    const min = 2 ** tiny.stages.length;
    for (const [h, w] of [
      [min, min],
      [min + 3, tiny.inputSize * 3],
    ]) {
      const y = await m.forward(input(1, h, w), { mode: 'torchvision' });
      expect(y.dims).toEqual([1, tiny.numClasses]);
      expect(y.data.every(Number.isFinite)).toBe(true);
      expect(m.outputShape([1, tiny.inChannels, h, w], 'torchvision')).toEqual([1, tiny.numClasses]);
    }
    expect(() => m.forwardSync(input(1, min - 1, min), { mode: 'torchvision' })).toThrow(
      new RegExp(`mode 'torchvision' needs at least ${min}×${min}`),
    );
  });

  test('the reference backend computes the same adaptive pool and taps', async () => {
    const ref = await Model.random(tiny, 3, { device: 'reference' });
    try {
      const x = input(1, 2 ** tiny.stages.length + 5, tiny.inputSize + 3);
      const a = m.forwardSync(x, { mode: 'torchvision', outputs: ['pool1', 'fc6'] });
      const b = ref.forwardSync(x, { mode: 'torchvision', outputs: ['pool1', 'fc6'] });
      expect(relError(a.pool1.data, b.pool1.data)).toBeLessThan(1e-5);
      expect(relError(a.fc6.data, b.fc6.data)).toBeLessThan(1e-5);
    } finally {
      ref.dispose();
    }
  });

  test('concurrent forwards with different outputs and modes are batched only with their own kind', async () => {
    const xs = [0, 1, 2, 3, 4, 5].map((i) => input(1, tiny.inputSize, tiny.inputSize, i + 10));
    const kinds = [{}, { outputs: ['pool1'] }, { mode: 'torchvision' as const }, { outputs: ['pool1', 'fc6'] }];
    const alone = xs.map((x, i) => m.forwardSync(x, kinds[i % kinds.length]));
    const before = m.stats().batches;
    const together = await Promise.all(xs.map((x, i) => m.forward(x, kinds[i % kinds.length])));
    together.forEach((t, i) => expect(t).toEqual(alone[i]));
    // {} and 'torchvision' at the training size are one run (the adaptive pool is an identity): 3 kinds.
    expect(m.stats().batches - before).toBeLessThanOrEqual(3);
  });

  test('bad outputs are InvalidArgumentErrors naming what is wrong', () => {
    const x = input(1, tiny.inputSize, tiny.inputSize);
    const bad: [unknown, RegExp][] = [
      [
        ['conv9_9'],
        /options\.outputs\[0\]: expected a layer name, one of conv1_1, .*fc\d \(a conv .*\); got 'conv9_9'/,
      ],
      [['pool1:pre-relu'], /options\.outputs\[0\]: 'pool1:pre-relu': pool1 has no ReLU/],
      [['pool1', 'pool1'], /options\.outputs\[1\]: 'pool1' is asked for twice/],
      [[], /options\.outputs: expected 1 to 64 layer names/],
      ['pool1', /options\.outputs: expected 1 to 64 layer names .* got 'pool1'/],
      [[7], /options\.outputs\[0\]: expected a layer name.* got number 7/],
    ];
    for (const [outputs, message] of bad) {
      expect(() => m.forwardSync(x, { outputs: outputs as string[] })).toThrow(InvalidArgumentError);
      expect(() => m.forwardSync(x, { outputs: outputs as string[] })).toThrow(message);
    }
  });
});
