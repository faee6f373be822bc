/**
 * ONNX files written by torch.onnx.export from torchvision's VGG code (scripts/torch/export-onnx.py, Debian's
 * python3-torch): opsets 11–17, a dynamic batch dimension, batch norm, and equal initializers aliased through
 * Identity nodes. Each loads, and its logits match torch's own forward: in mode 'fc' at 224 (the export size)
 * and in mode 'torchvision' at other sizes, where torch runs its AdaptiveAvgPool2d.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { loadClassifier, loadWeights, Tensor } from '../lib';
import { SafetensorsFile } from '../lib/weights';
import { maxRelErr } from './support/compare';
import { pythonMissing, runPython } from './support/python';
import { testIf } from './support/skip';

const missing = pythonMissing('torch', 'torchvision');
const withTorch = testIf(missing === null, missing ?? '');
const OPSETS = [11, 12, 13, 14, 15, 16, 17];
const SIZES = ['224x224', '256x256', '320x240'];

let dir: string;
const refs = new Map<string, Map<string, Tensor>>();
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-onnx-export-'));
  if (missing) return;
  const script = path.join(__dirname, '..', 'scripts', 'torch', 'export-onnx.py');
  runPython(script, ['--opsets', OPSETS.join(','), '--sizes', SIZES.join(','), dir]);
  for (const name of ['vgg-small', 'vgg-small-bn']) {
    const f = await SafetensorsFile.open(path.join(dir, `${name}.outputs.safetensors`));
    const m = new Map<string, Tensor>();
    for (const t of f.names()) m.set(t, new Tensor(f.entry(t).shape, await f.readF32(t)));
    await f.close();
    refs.set(name, m);
  }
}, 600_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const files = ['vgg-small', 'vgg-small-bn'].flatMap((name) => [
  ...OPSETS.map((o) => [name, `${name}-opset${o}.onnx`]),
  [name, `${name}-dynamic.onnx`],
]);

withTorch.each(files)('%s: %s loads and gives torch’s logits at every size', async (name, file) => {
  const c = await loadClassifier(path.join(dir, file), { threads: 1 });
  try {
    expect(c.model.config).toMatchObject({ inputSize: 224, numClasses: 10, fc: [64, 64] });
    const ref = refs.get(name)!;
    for (const size of SIZES) {
      const x = ref.get(`input.${size}`)!;
      const y = await c.model.forward(x, { mode: size === '224x224' ? 'fc' : 'torchvision' });
      expect([size, maxRelErr(y.data, ref.get(`logits.${size}`)!.data)]).toEqual([size, expect.any(Number)]);
      expect(maxRelErr(y.data, ref.get(`logits.${size}`)!.data)).toBeLessThan(1e-4);
    }
  } finally {
    c.model.dispose();
  }
});

withTorch('equal initializers behind Identity nodes (zero biases) are read as the tensors they alias', async () => {
  const w = await loadWeights(path.join(dir, 'vgg-small-zero-bias.onnx'));
  expect(w.weights).toHaveLength(11);
  for (const l of w.weights) expect(l.bias.every((b) => b === 0)).toBe(true);
  expect(w.weights[0].weight.some((v) => v !== 0)).toBe(true);
});
