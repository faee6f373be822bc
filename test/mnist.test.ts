// The embedded default model on real data: the 2,000 held-out MNIST digits, dense evaluation on 56×56
// canvases, and the shipped sample PNGs, each compared with the training framework's own evaluation of the
// same weights (models/mnist-vgg.eval.json, written by scripts/train-mnist/train.js with tfjs).
import * as fs from 'fs';
import * as path from 'path';

import { classifyImage, Classifier, loadClassifier, spatialMean, Tensor } from '../lib';
import { packageRoot } from '../lib/native';

const root = packageRoot();
const evalJson = JSON.parse(fs.readFileSync(path.join(root, 'models', 'mnist-vgg.eval.json'), 'utf8'));

/** Held-out digits exactly as the model card splits them: per class c, indices [round(0.8·n_c), n_c). */
function heldOut(): { x: Float32Array; label: number }[] {
  const out: { x: Float32Array; label: number }[] = [];
  for (let c = 0; c < 10; c++) {
    // one flat array: n_c digits of 784 values (row-major 28×28, 0…1)
    const flat: number[] = JSON.parse(fs.readFileSync(require.resolve(`mnist/src/digits/${c}.json`), 'utf8')).data;
    const n = flat.length / 784;
    for (let i = Math.round(0.8 * n); i < n; i++)
      out.push({ x: Float32Array.from(flat.slice(i * 784, (i + 1) * 784)), label: c });
  }
  return out;
}

function argmax(v: ArrayLike<number>, from = 0, n = v.length): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (v[from + i] > v[from + best]) best = i;
  return best;
}

describe('embedded MNIST model (models/mnist-vgg.safetensors)', () => {
  let c: Classifier;
  const digits = heldOut();
  beforeAll(async () => {
    c = await loadClassifier(undefined, { device: 'cpu' });
  });
  afterAll(() => c.model.dispose());

  test('the split gives the 2,000 held-out digits of the model card', () => {
    expect(digits.length).toBe(2000);
    expect(evalJson.heldout.count).toBe(2000);
  });

  test('held-out accuracy >= 97% and within 0.2 points of tfjs on the same weights', async () => {
    const B = 250,
      n = 28 * 28;
    let correct = 0,
      agree = 0;
    for (let s = 0; s < digits.length; s += B) {
      const batch = digits.slice(s, s + B);
      const x = new Float32Array(batch.length * n);
      batch.forEach((d, i) => x.set(d.x, i * n));
      const y = await c.model.forward(new Tensor([batch.length, 1, 28, 28], x), { mode: 'fc' });
      batch.forEach((d, i) => {
        const p = argmax(y.data, i * 10, 10);
        if (p === d.label) correct++;
        if (p === evalJson.heldout.predictions[s + i]) agree++;
      });
    }
    const acc = correct / digits.length;
    console.log(
      `held-out accuracy: vggnet ${(100 * acc).toFixed(2)}%, tfjs ${(100 * evalJson.heldout.accuracy).toFixed(2)}%, same prediction on ${agree}/2000`,
    );
    expect(acc).toBeGreaterThanOrEqual(0.97);
    expect(Math.abs(acc - evalJson.heldout.accuracy)).toBeLessThanOrEqual(0.002);
  });

  test('dense evaluation: a digit pasted at a random position of a 56×56 canvas is found >= 90% of the time', async () => {
    const positions: [number, number][] = evalJson.dense.positions; // [x (column), y (row)], seeded in the card
    const B = 200,
      S = 56;
    let correct = 0;
    for (let s = 0; s < digits.length; s += B) {
      const batch = digits.slice(s, s + B);
      const x = new Float32Array(batch.length * S * S);
      batch.forEach((d, i) => {
        const [px, py] = positions[s + i];
        for (let r = 0; r < 28; r++) x.set(d.x.subarray(r * 28, r * 28 + 28), i * S * S + (py + r) * S + px);
      });
      const map = await c.model.forward(new Tensor([batch.length, 1, S, S], x), { mode: 'dense' });
      expect(map.dims).toEqual([batch.length, 10, 8, 8]);
      const scores = spatialMean(map);
      batch.forEach((d, i) => (correct += argmax(scores, i * 10, 10) === d.label ? 1 : 0));
    }
    const acc = correct / digits.length;
    console.log(
      `dense 56×56 canvas accuracy: vggnet ${(100 * acc).toFixed(2)}%, tfjs ${(100 * evalJson.dense.accuracy).toFixed(2)}%`,
    );
    expect(acc).toBeGreaterThanOrEqual(0.9);
    expect(Math.abs(acc - evalJson.dense.accuracy)).toBeLessThanOrEqual(0.002);
  });

  test('sample PNGs: logits match tfjs, and the CLI path classifies them', async () => {
    for (const smp of evalJson.samples as { file: string; label: number; size: number; tfjsLogits: number[] }[]) {
      const file = path.join(root, smp.file);
      if (smp.size !== 28) {
        // a canvas: dense evaluation, the score map's spatial mean against tfjs's averaged logits
        const { loadImage } = await import('../lib');
        const map = await c.model.forward(await loadImage(fs.readFileSync(file), c.preprocess), { mode: 'dense' });
        const scores = spatialMean(map);
        expect(Math.max(...smp.tfjsLogits.map((v, k) => Math.abs(v - scores[k])))).toBeLessThan(1e-3);
        expect(argmax(scores)).toBe(smp.label);
        continue;
      }
      const r = await classifyImage(c, file, { mode: 'fc', scales: [28], top: 1 });
      expect(r.top[0].label).toBe(String(argmax(smp.tfjsLogits)));
      // the library's defaults for our own model (dense, the image's own size) agree
      expect((await classifyImage(c, file)).top[0].label).toBe(String(smp.label));
      const img = fs.readFileSync(file);
      const { loadImage } = await import('../lib');
      const y = await c.model.forward(await loadImage(img, c.preprocess), { mode: 'fc' });
      const maxDiff = Math.max(...smp.tfjsLogits.map((v, k) => Math.abs(v - y.data[k])));
      expect(maxDiff).toBeLessThan(1e-3);
    }
  });
});
