/**
 * precision 'bf16' on the CPU, end to end: what backends() and Model.info() report, and the accuracy against
 * fp32 of the same weights: top-1 agreement on the 10,000 real MNIST digits with the embedded model (every
 * layer of it runs bf16: its convs have fewer than 64 channels, so GEMM), and the relative error of vgg16's
 * logits (seeded He weights; conv1_1 and FC6–FC8 run bf16, the Winograd layers fp32). Skipped, with the
 * reason, on a CPU without AVX512_BF16 (test/kernels-bf16.test.ts checks the refusal there).
 */
import * as fs from 'fs';

import { backends, loadClassifier, Model, randomWeights, Tensor } from '../lib';
import { testIf } from './support/skip';

const report = backends();
const features = report.cpu.features;
const HAS_BF16 = features.avx512 && features.fma && features.avx512bf16;
const NO_BF16 = 'cpuid reports no avx512 family with AVX512_BF16';

describe('backends(): AVX512_BF16 detection', () => {
  test('features.avx512bf16 is a boolean and precisions lists bf16 exactly when the avx512 family has it', () => {
    expect(typeof features.avx512bf16).toBe('boolean');
    expect(report.cpu.precisions).toEqual(HAS_BF16 ? ['fp32', 'bf16'] : ['fp32']);
  });
  // The kernel's own cpuid reading (/proc/cpuinfo's flag avx512_bf16) is an independent source.
  const cpuinfo = process.platform === 'linux' && process.arch === 'x64' && fs.existsSync('/proc/cpuinfo');
  testIf(cpuinfo, 'no /proc/cpuinfo on this x86-64 Linux host')('agrees with /proc/cpuinfo', () => {
    const flags =
      fs
        .readFileSync('/proc/cpuinfo', 'utf8')
        .match(/^flags\s*:(.*)$/m)?.[1]
        .split(/\s+/) ?? [];
    expect(features.avx512bf16).toBe(flags.includes('avx512_bf16'));
  });
});

function argmax(v: ArrayLike<number>, from: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (v[from + i] > v[from + best]) best = i;
  return best;
}

/** The 10,000 digits of the mnist package (real MNIST test digits), 784 values each in [0, 1], with labels. */
function allDigits(): { x: Float32Array; labels: number[] } {
  const parts: number[][] = [];
  const labels: number[] = [];
  for (let c = 0; c < 10; c++) {
    const flat: number[] = JSON.parse(fs.readFileSync(require.resolve(`mnist/src/digits/${c}.json`), 'utf8')).data;
    parts.push(flat);
    for (let i = 0; i < flat.length / 784; i++) labels.push(c);
  }
  const x = new Float32Array(labels.length * 784);
  let o = 0;
  for (const p of parts) {
    x.set(p, o);
    o += p.length;
  }
  return { x, labels };
}

describe('bf16 vs fp32 on the embedded MNIST model, all 10,000 digits', () => {
  testIf(HAS_BF16, NO_BF16)(
    'top-1 agreement >= 99.8%, accuracy within 0.1 points; info() says bf16 for every layer',
    async () => {
      const { x, labels } = allDigits();
      const n = labels.length;
      expect(n).toBe(10000);
      const fp32 = await loadClassifier(undefined, { device: 'cpu', precision: 'fp32' });
      const bf16 = await loadClassifier(undefined, { device: 'cpu', precision: 'bf16' });
      try {
        expect(fp32.model.info().precision).toBe('fp32');
        const info = bf16.model.info();
        expect(info.precision).toBe('bf16');
        expect(info.convAlgorithms.map((c) => c.precision)).toEqual(info.convAlgorithms.map(() => 'bf16'));
        // bf16 weights: about half the bytes of fp32 (biases stay f32, rows padded to 8).
        expect(info.weightBytes).toBeLessThan(0.6 * fp32.model.info().weightBytes);
        const B = 500;
        let agree = 0,
          right32 = 0,
          right16 = 0,
          maxRel = 0;
        for (let s = 0; s < n; s += B) {
          const t = new Tensor([B, 1, 28, 28], x.slice(s * 784, (s + B) * 784));
          const [a, b] = await Promise.all([
            fp32.model.forward(t, { mode: 'fc' }),
            bf16.model.forward(t, { mode: 'fc' }),
          ]);
          for (let i = 0; i < B; i++) {
            const pa = argmax(a.data, i * 10, 10),
              pb = argmax(b.data, i * 10, 10);
            if (pa === pb) agree++;
            if (pa === labels[s + i]) right32++;
            if (pb === labels[s + i]) right16++;
            let m = 0,
              d = 0;
            for (let j = 0; j < 10; j++) {
              m = Math.max(m, Math.abs(a.data[i * 10 + j]));
              d = Math.max(d, Math.abs(a.data[i * 10 + j] - b.data[i * 10 + j]));
            }
            maxRel = Math.max(maxRel, d / m);
          }
        }
        console.log(
          `MNIST 10,000 digits: top-1 agreement bf16 vs fp32 ${agree}/${n}; accuracy fp32 ${(right32 / 100).toFixed(2)}%, ` +
            `bf16 ${(right16 / 100).toFixed(2)}%; max |Δlogit| / max|logit| per digit ${maxRel.toExponential(2)}`,
        );
        expect(agree / n).toBeGreaterThanOrEqual(0.998);
        expect(Math.abs(right16 - right32) / n).toBeLessThanOrEqual(0.001);
        expect(maxRel).toBeLessThan(0.05);
        expect(maxRel).toBeGreaterThan(0); // it does compute in bf16
      } finally {
        fp32.model.dispose();
        bf16.model.dispose();
      }
    },
    120_000,
  );
});

describe('bf16 vs fp32 on vgg16 (seeded He weights, seeded 224×224 images)', () => {
  testIf(HAS_BF16, NO_BF16)(
    'max relative error of the logits <= 2%; Winograd layers fp32, the others bf16',
    async () => {
      const weights = randomWeights('vgg16', 7);
      const fp32 = await Model.create('vgg16', weights, { device: 'cpu', precision: 'fp32' });
      const bf16 = await Model.create('vgg16', weights, { device: 'cpu', precision: 'bf16' });
      try {
        const layers = bf16.info().convAlgorithms;
        for (const l of layers)
          expect([l.name, l.precision]).toEqual([l.name, l.algorithm === 'gemm' ? 'bf16' : 'fp32']);
        expect(layers.filter((l) => l.precision === 'bf16').map((l) => l.name)).toEqual([
          'conv1_1',
          'fc6',
          'fc7',
          'fc8',
        ]);
        // Images ~ U(−2, 2) (the range of normalised pixels), seeded.
        const N = 2;
        const x = new Float32Array(N * 3 * 224 * 224);
        let a = 12345;
        for (let i = 0; i < x.length; i++) {
          a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
          x[i] = (a / 2 ** 32) * 4 - 2;
        }
        const t = new Tensor([N, 3, 224, 224], x);
        const y32 = await fp32.forward(t, { mode: 'fc' });
        const y16 = await bf16.forward(t, { mode: 'fc' });
        let worst = 0,
          worstMean = 0;
        for (let n = 0; n < N; n++) {
          let m = 0,
            d = 0,
            s = 0;
          for (let j = 0; j < 1000; j++) {
            const u = y32.data[n * 1000 + j],
              v = y16.data[n * 1000 + j];
            m = Math.max(m, Math.abs(u));
            d = Math.max(d, Math.abs(u - v));
            s += Math.abs(u - v);
          }
          worst = Math.max(worst, d / m);
          worstMean = Math.max(worstMean, s / 1000 / m);
        }
        console.log(
          `vgg16 logits bf16 vs fp32: max |Δ| / max|logit| ${worst.toExponential(3)}, mean |Δ| / max|logit| ${worstMean.toExponential(3)}`,
        );
        expect(worst).toBeLessThanOrEqual(0.02);
        expect(worst).toBeGreaterThan(0);
      } finally {
        fp32.dispose();
        bf16.dispose();
      }
    },
    300_000,
  );
});
