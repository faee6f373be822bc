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
const { onnx } = require('onnx-proto');
const ort = require('onnxruntime-node');
const v = require('../dist');
const { fillUniform } = require('../dist/random');

const arch = process.argv[2] || 'vgg16';
const reps = Number(process.argv[3] || 3);
const threads = os.cpus().length;
const config = v.resolveConfig(arch);
const shapes = v.weightShapes(config);

/** He-scaled uniform weights: a 65 537-long random block tiled (fast; values need not be independent here). */
function weights() {
  return shapes.map((s, i) => {
    const [K, C, R, S] = s.weight;
    const a = Math.sqrt(6 / (C * R * S));
    const n = K * C * R * S;
    const w = new Float32Array(n);
    w.set(fillUniform(new Float32Array(Math.min(n, 65537)), -a, a, 2 * i + 1));
    for (let len = 65537; len < n; len *= 2) w.copyWithin(len, 0, Math.min(len, n - len));
    return { weight: w, bias: fillUniform(new Float32Array(K), -0.05, 0.05, 2 * i + 2) };
  });
}

/** torchvision names: features.{i} (Conv2d, ReLU per conv, MaxPool2d per stage), classifier.{0,3,6} as [out, in]. */
function writeTorchvision(file, w) {
  const t = {};
  let i = 0;
  let l = 0;
  for (const stage of config.stages) {
    for (let j = 0; j < stage.length; j++, l++, i += 2) {
      t[`features.${i}.weight`] = { dtype: 'F32', shape: shapes[l].weight, data: w[l].weight };
      t[`features.${i}.bias`] = { dtype: 'F32', shape: shapes[l].bias, data: w[l].bias };
    }
    i += 1;
  }
  for (let j = 0; l < shapes.length; l++, j++) {
    const [K, C, R, S] = shapes[l].weight;
    t[`classifier.${3 * j}.weight`] = { dtype: 'F32', shape: [K, C * R * S], data: w[l].weight };
    t[`classifier.${3 * j}.bias`] = { dtype: 'F32', shape: [K], data: w[l].bias };
  }
  v.writeSafetensors(file, t);
}

/** As torchvision exports it: Conv+Relu, MaxPool, Flatten, Gemm(transB=1)+Relu, …, Gemm. */
function writeOnnx(file, w) {
  const A = onnx.AttributeProto.AttributeType;
  const nodes = [];
  const inits = [];
  const init = (name, dims, data) =>
    inits.push({ name, dims, dataType: 1, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
  let cur = 'x';
  let l = 0;
  const add = (opType, input, attribute = []) => {
    const out = `${opType.toLowerCase()}_${nodes.length}`;
    nodes.push({ name: out, opType, input, output: [out], attribute });
    cur = out;
  };
  for (const stage of config.stages) {
    for (let j = 0; j < stage.length; j++, l++) {
      const [, , R] = shapes[l].weight;
      const p = R === 3 ? 1 : 0;
      init(`w${l}`, shapes[l].weight, w[l].weight);
      init(`b${l}`, shapes[l].bias, w[l].bias);
      add(
        'Conv',
        [cur, `w${l}`, `b${l}`],
        [
          { name: 'kernel_shape', type: A.INTS, ints: [R, R] },
          { name: 'pads', type: A.INTS, ints: [p, p, p, p] },
        ],
      );
      add('Relu', [cur]);
    }
    add(
      'MaxPool',
      [cur],
      [
        { name: 'kernel_shape', type: A.INTS, ints: [2, 2] },
        { name: 'strides', type: A.INTS, ints: [2, 2] },
      ],
    );
  }
  add('Flatten', [cur], [{ name: 'axis', type: A.INT, i: 1 }]);
  for (; l < shapes.length; l++) {
    const [K, C, R, S] = shapes[l].weight;
    init(`w${l}`, [K, C * R * S], w[l].weight);
    init(`b${l}`, [K], w[l].bias);
    add('Gemm', [cur, `w${l}`, `b${l}`], [{ name: 'transB', type: A.INT, i: 1 }]);
    if (l < shapes.length - 1) add('Relu', [cur]);
  }
  const vi = (name, dims) => ({
    name,
    type: {
      tensorType: {
        elemType: 1,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: arch,
      node: nodes,
      initializer: inits,
      input: [vi('x', ['N', config.inChannels, config.inputSize, config.inputSize])],
      output: [vi(cur, ['N', config.numClasses])],
    },
  });
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
}

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
