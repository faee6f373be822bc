#!/usr/bin/env node
/**
 * Event-loop responsiveness while loading: a 5 ms setInterval runs during each load step and the share of its
 * expected ticks that fired is reported with the step's wall time (issue 9: ≥ 90 % wanted).
 *
 *   create      Model.create('vgg16', weights in memory, {device: 'cpu'})
 *   random      Model.random('vgg16', 1)
 *   safetensors loadClassifier(vgg16 torchvision-named .safetensors)
 *   onnx        loadClassifier(vgg16 .onnx, Gemm head as torchvision exports)
 *   plan        model.plan([1, 3, 1024, 1024], "dense") (a new shape)
 *
 * Files are written once to os.tmpdir() and deleted at the end; one untimed warm-up read (page cache).
 * After each step the share of a 1 s idle wait is printed too: the host's own contention (other processes on
 * a shared machine delay timers as well), the baseline to read the step's share against.
 * Also prints the peak RSS of the process (ru_maxrss) after each step, and the packed weight bytes.
 *
 * Usage: npm run build && node bench/load-ticks.js [steps=create,random,safetensors,onnx,plan]
 *        VGGNET_DIST=../other/dist node bench/load-ticks.js …   (another build, same files and steps)
 */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
// VGGNET_DIST: another build's dist/ folder (e.g. the main branch's, for a before/after in one run).
const dist = process.env.VGGNET_DIST ? path.resolve(process.env.VGGNET_DIST) : path.join(__dirname, '..', 'dist');
const v = require(dist);
const { fillUniform } = require(path.join(dist, 'random'));
const { onnx } = require('onnx-proto');

const steps = (process.argv[2] || 'create,random,safetensors,onnx,plan').split(',');
const config = v.resolveConfig('vgg16');
const shapes = v.weightShapes(config);

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

/** Runs `fn` with a 5 ms interval going: [ms, ticks fired / expected]. */
async function ticks(fn) {
  let n = 0;
  const t0 = performance.now();
  let last = t0;
  let maxGap = 0;
  const t = setInterval(() => {
    n++;
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 5);
  const r = await fn();
  const ms = performance.now() - t0;
  clearInterval(t);
  return { ms, share: n / Math.max(1, Math.floor(ms / 5)), maxGap: Math.max(maxGap, performance.now() - last), r };
}

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
      init(`w${l}`, shapes[l].weight, w[l].weight);
      init(`b${l}`, shapes[l].bias, w[l].bias);
      add(
        'Conv',
        [cur, `w${l}`, `b${l}`],
        [
          { name: 'kernel_shape', type: A.INTS, ints: [3, 3] },
          { name: 'pads', type: A.INTS, ints: [1, 1, 1, 1] },
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
    if (l + 1 < shapes.length) add('Relu', [cur]);
  }
  const m = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'vgg16',
      node: nodes,
      initializer: inits,
      input: [
        {
          name: 'x',
          type: {
            tensorType: {
              elemType: 1,
              shape: { dim: [{ dimValue: 1 }, { dimValue: 3 }, { dimValue: 224 }, { dimValue: 224 }] },
            },
          },
        },
      ],
      output: [{ name: cur, type: { tensorType: { elemType: 1 } } }],
    },
  });
  fs.writeFileSync(file, onnx.ModelProto.encode(m).finish());
}

const rssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-ticks-'));
  const st = path.join(dir, 'vgg16.safetensors');
  const ox = path.join(dir, 'vgg16.onnx');
  let w = weights();
  if (steps.includes('safetensors')) writeTorchvision(st, w);
  if (steps.includes('onnx')) writeOnnx(ox, w);
  if (!steps.includes('create')) w = null;
  for (const f of [st, ox]) if (fs.existsSync(f)) fs.readFileSync(f); // page cache
  const opts = { device: 'cpu' };
  const idle = () => ticks(() => new Promise((r) => setTimeout(r, 1000)));
  const report = async (name, t, extra = '') =>
    console.log(
      `${name.padEnd(12)} (idle baseline just after: ${(100 * (await idle()).share).toFixed(0)} %) ${t.ms.toFixed(0).padStart(6)} ms  ticks ${(100 * t.share).toFixed(0).padStart(3)} % (longest gap ${t.maxGap.toFixed(0)} ms)  peak RSS ${rssMb()} MB${extra}`,
    );
  let model;
  try {
    for (const step of steps) {
      if (step === 'create') {
        const t = await ticks(() => v.Model.create('vgg16', w, opts));
        model = t.r;
        await report(step, t, `  packed ${Math.round(model.info().weightBytes / 1e6)} MB`);
        w = null;
      } else if (step === 'random') {
        const t = await ticks(() => v.Model.random('vgg16', 1, opts));
        await report(step, t);
        if (!model) model = t.r;
        else t.r.dispose();
      } else if (step === 'safetensors' || step === 'onnx') {
        const t = await ticks(() => v.loadClassifier(step === 'onnx' ? ox : st, opts));
        await report(step, t);
        if (!model) model = t.r.model;
        else t.r.model.dispose();
      } else if (step === 'plan') {
        const t = await ticks(async () => model.plan([1, 3, 1024, 1024], 'dense'));
        await report(step, t);
      }
      global.gc?.();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
