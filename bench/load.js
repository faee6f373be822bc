#!/usr/bin/env node
/**
 * Load time: weights file → model ready to run.
 *
 *   ours (safetensors)  loadWeights(torchvision-named .safetensors) + Model.create(..., {device: 'cpu'})
 *   ours (onnx)         loadWeights(.onnx) + Model.create(...)                  (the ONNX import path)
 *   onnxruntime         ort.InferenceSession.create(.onnx, graph optimisation 'all', CPU)
 *
 * Both files hold the same random weights (seeded, He-scaled); they are written once to os.tmpdir() and deleted
 * at the end. One untimed warm-up of each (page cache), then `reps` interleaved timed runs; medians reported, and
 * the ratio onnxruntime / ours (> 1: ours is faster).
 *
 * Usage: npm run build && node bench/load.js [arch=vgg16] [reps=3]
 */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const ort = require('onnxruntime-node');
const v = require('../dist');
const { fillUniform } = require('../dist/random');

const arch = process.argv[2] || 'vgg16';
const reps = Number(process.argv[3] || 3);
const threads = os.cpus().length;
const config = v.resolveConfig(arch);
const { weights, writeTorchvision, writeOnnx } = require('./weights-files')(v, fillUniform, config);

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const now = () => Number(process.hrtime.bigint()) / 1e6;

async function ours(file) {
  const t0 = now();
  const loaded = await v.loadWeights(file);
  const t1 = now();
  const model = await v.Model.create(loaded.config, loaded.weights, { device: 'cpu', threads });
  const t2 = now();
  model.dispose();
  return { total: t2 - t0, load: t1 - t0, create: t2 - t1 };
}

async function onnxruntime(file) {
  const t0 = now();
  const session = await ort.InferenceSession.create(file, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  });
  const t1 = now();
  await session.release();
  return { total: t1 - t0 };
}

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-bench-load-'));
  const st = path.join(dir, `${arch}.safetensors`);
  const ox = path.join(dir, `${arch}.onnx`);
  try {
    let w = weights();
    writeTorchvision(st, w);
    writeOnnx(ox, w);
    w = null;
    const mb = (f) => (fs.statSync(f).size / 1e6).toFixed(0);
    console.log(
      `${arch}: ${mb(st)} MB safetensors, ${mb(ox)} MB onnx; ${threads} threads; Node ${process.version}, onnxruntime-node ${require('onnxruntime-node/package.json').version}`,
    );
    await ours(st); // warm-ups: page cache, lazy initialisation
    await ours(ox);
    await onnxruntime(ox);
    const r = { st: [], ox: [], ort: [] };
    for (let i = 0; i < reps; i++) {
      r.st.push(await ours(st));
      r.ox.push(await ours(ox));
      r.ort.push(await onnxruntime(ox));
    }
    const m = (a, k) => median(a.map((x) => x[k]));
    const row = (name, a, split) =>
      console.log(
        `  ${name.padEnd(40)} ${m(a, 'total').toFixed(0).padStart(6)} ms${split ? `   (read ${m(a, 'load').toFixed(0)} ms + Model.create ${m(a, 'create').toFixed(0)} ms)` : ''}`,
      );
    console.log(`median of ${reps} (after one warm-up each):`);
    row('ours: safetensors → Model ready', r.st, true);
    row('ours: onnx → Model ready', r.ox, true);
    row('onnxruntime: InferenceSession.create', r.ort, false);
    console.log(`ratio onnxruntime / ours (safetensors): ${(m(r.ort, 'total') / m(r.st, 'total')).toFixed(2)}×`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
