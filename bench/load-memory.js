#!/usr/bin/env node
/**
 * Peak memory and event-loop ticks of every load path users take, vgg16, each load in a fresh child process:
 *
 *   random       Model.random('vgg16', 1)
 *   safetensors  loadClassifier(torchvision-named .safetensors)
 *   onnx         loadClassifier(.onnx, Gemm head as torchvision exports)
 *   pth          loadClassifier(.pth: legacy torch.save layout, as torchvision's VGG releases)
 *   weights      loadWeights(.safetensors): every layer handed to JS (no model)
 *
 * Per load: wall ms; the share of a 5 ms setInterval's expected ticks that fired (issue 9 wants ≥ 90 %) and the
 * longest gap between two; the event loop's utilisation (performance.eventLoopUtilization: the share of the
 * time the JS thread ran rather than waited, which a host's other load does not inflate as it delays timers); peak RSS (the child's maxRSS) against the packed weight bytes (model.info()
 * .weightBytes; issue 16 wants ≤ 1.3×; peakRss: VmHWM), both as the whole process and as the growth over the RSS just before
 * the load (Node, the modules and the addon loaded). The files hold the same seeded weights (weights-files.js);
 * they are written once to os.tmpdir() and read once (page cache) before the children run.
 *
 * Usage: npm run build && node --expose-gc bench/load-memory.js [paths=random,safetensors,onnx,pth,weights] [--reps 3]
 *        node bench/load-memory.js --child PATH [FILE] [--baselines]   (one load; the result as an IPC message)
 *        node bench/load-memory.js --write-pth FILE                     (the vgg16 .pth it loads)
 *        VGGNET_DIST=../other/dist node bench/load-memory.js …   (another build, same files)
 */
'use strict';
const { fork } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const dist = process.env.VGGNET_DIST ? path.resolve(process.env.VGGNET_DIST) : path.join(__dirname, '..', 'dist');

/**
 * This process's peak RSS, bytes: Linux's VmHWM (the high-water mark of this process image's memory). Not
 * maxRSS (getrusage): Linux carries it over exec from the image before, so a child forked from a large parent
 * (a test runner holding 553 MB of weights) starts with the parent's RSS as its "peak".
 */
function peakRss() {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    /* not Linux */
  }
  return process.resourceUsage().maxRSS * 1024;
}

/** The share of a 5 ms timer's ticks during a wait of `ms`, while `busy` threads of this process spin. */
async function waitShare(ms, busy) {
  const { Worker } = require('worker_threads');
  const ws = Array.from(
    { length: busy },
    () => new Worker(`const end = Date.now() + ${ms + 300}; while (Date.now() < end);`, { eval: true }),
  );
  await Promise.all(ws.map((w) => new Promise((r) => w.once('online', r))));
  let fired = 0;
  const t0 = performance.now();
  const timer = setInterval(() => fired++, 5);
  await new Promise((r) => setTimeout(r, ms));
  clearInterval(timer);
  await Promise.all(ws.map((w) => w.terminate()));
  return Math.min(1, fired / Math.floor((performance.now() - t0) / 5));
}

async function child(how, file) {
  const v = require(dist);
  v.backends(); // the addon loaded before the baseline
  // With --baselines: what this host gives a timer while idle and while two threads of ours spin (loading
  // keeps two cores busy), measured just before the load (test/load-memory.test.ts reads the share against them).
  const baselines = process.argv.includes('--baselines')
    ? { idle: await waitShare(1000, 0), busy: await waitShare(1000, 2) }
    : undefined;
  global.gc?.();
  const base = process.memoryUsage().rss;
  let fired = 0;
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  let last = t0;
  let maxGap = 0;
  const timer = setInterval(() => {
    fired++;
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 5);
  let packed;
  if (how === 'random') {
    const m = await v.Model.random('vgg16', 1, { device: 'cpu' });
    packed = m.info().weightBytes;
  } else if (how === 'weights') {
    const w = await v.loadWeights(file);
    packed = w.weights.reduce((a, l) => a + l.weight.byteLength + l.bias.byteLength, 0);
  } else {
    const c = await v.loadClassifier(file, { device: 'cpu' });
    packed = c.model.info().weightBytes;
  }
  const end = performance.now();
  const elu = performance.eventLoopUtilization(elu0).utilization;
  clearInterval(timer);
  const ms = end - t0;
  process.send({
    ms,
    share: Math.min(1, fired / Math.max(1, Math.floor(ms / 5))),
    maxGap: Math.max(maxGap, end - last),
    elu,
    baselines,
    base,
    peak: peakRss(),
    packed,
  });
}

function run(how, file) {
  return new Promise((resolve, reject) => {
    const c = fork(__filename, ['--child', how, file ?? ''], { execArgv: ['--expose-gc'] });
    c.on('message', resolve);
    c.on('exit', (code) => code && reject(new Error(`${how}: exit ${code}`)));
  });
}

/** A legacy torch.save file (torch/serialization.py _legacy_save) of torchvision-named tensors, written piecewise. */
function writePthLegacy(file, config, shapes, w) {
  const le = (n, bytes) => Array.from({ length: bytes }, (_, i) => Number((BigInt(n) >> BigInt(8 * i)) & 0xffn));
  const utf8 = (s) => [...Buffer.from(s)];
  const str = (s) => [0x58, ...le(utf8(s).length, 4), ...utf8(s)];
  const int = (n) => (n < 256 ? [0x4b, n] : n < 65536 ? [0x4d, ...le(n, 2)] : [0x4a, ...le(n, 4)]);
  const tuple = (xs) => [0x28, ...xs.flat(), 0x74];
  const pickle = (...b) => Buffer.from([0x80, 2, ...b.flat(), 0x2e]);
  const tensors = [];
  let l = 0;
  let i = 0;
  const add = (name, shape, data) => tensors.push({ name, key: String(tensors.length), shape, data });
  for (const stage of config.stages) {
    for (let j = 0; j < stage.length; j++, l++, i += 2) {
      add(`features.${i}.weight`, shapes[l].weight, w[l].weight);
      add(`features.${i}.bias`, shapes[l].bias, w[l].bias);
    }
    i += 1;
  }
  for (let j = 0; l < shapes.length; l++, j++) {
    const [K, C, R, S] = shapes[l].weight;
    add(`classifier.${3 * j}.weight`, [K, C * R * S], w[l].weight);
    add(`classifier.${3 * j}.bias`, [K], w[l].bias);
  }
  const rowMajor = (s) => s.map((_, d) => s.slice(d + 1).reduce((a, b) => a * b, 1));
  const entries = tensors.map((t) => [
    ...str(t.name),
    ...[0x63, ...utf8('torch._utils'), 10, ...utf8('_rebuild_tensor_v2'), 10],
    ...tuple([
      [
        ...tuple([
          str('storage'),
          [0x63, ...utf8('torch'), 10, ...utf8('FloatStorage'), 10],
          str(t.key),
          str('cpu'),
          int(t.data.length),
          [0x4e],
        ]),
        0x51,
      ],
      int(0),
      tuple(t.shape.map(int)),
      tuple(rowMajor(t.shape).map(int)),
      [0x89],
      [0x63, ...utf8('collections'), 10, ...utf8('OrderedDict'), 10, 0x29, 0x52],
    ]),
    0x52,
  ]);
  const main = pickle(
    [0x63, ...utf8('collections'), 10, ...utf8('OrderedDict'), 10, 0x29, 0x52],
    [0x28],
    ...entries,
    [0x75],
  );
  const sysInfo = pickle([0x7d, 0x28], str('protocol_version'), int(1001), str('little_endian'), [0x88], [0x75]);
  const magic = pickle([0x8a, 10, ...le(0x1950a86a20f9469cfc6cn, 10)]);
  const keys = pickle([0x5d, 0x28], ...tensors.map((t) => str(t.key)), [0x65]);
  const fd = fs.openSync(file, 'w');
  try {
    for (const b of [magic, pickle(int(1001)), sysInfo, main, keys]) fs.writeSync(fd, b);
    for (const t of tensors) {
      fs.writeSync(fd, Buffer.from(le(t.data.length, 8)));
      fs.writeSync(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
  } finally {
    fs.closeSync(fd);
  }
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(args[1], args[2]);
  if (args[0] === '--write-pth') {
    // node bench/load-memory.js --write-pth FILE: the vgg16 .pth of the seeded weights (for tests)
    const v = require(dist);
    const config = v.resolveConfig('vgg16');
    const { shapes, weights } = require('./weights-files')(v, require(path.join(dist, 'random')).fillUniform, config);
    return writePthLegacy(args[1], config, shapes, weights());
  }
  const r = args.indexOf('--reps');
  const reps = r >= 0 ? Number(args.splice(r, 2)[1]) : 3;
  const paths = (args[0] || 'random,safetensors,onnx,pth,weights').split(',');
  const v = require(dist);
  const { fillUniform } = require(path.join(dist, 'random'));
  const config = v.resolveConfig('vgg16');
  const { shapes, weights, writeTorchvision, writeOnnx } = require('./weights-files')(v, fillUniform, config);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-load-memory-'));
  const files = {
    safetensors: path.join(dir, 'vgg16.safetensors'),
    weights: path.join(dir, 'vgg16.safetensors'),
    onnx: path.join(dir, 'vgg16.onnx'),
    pth: path.join(dir, 'vgg16.pth'),
  };
  try {
    let w = weights();
    if (paths.includes('safetensors') || paths.includes('weights')) writeTorchvision(files.safetensors, w);
    if (paths.includes('onnx')) writeOnnx(files.onnx, w);
    if (paths.includes('pth')) writePthLegacy(files.pth, config, shapes, w);
    w = null;
    for (const p of paths) if (files[p]) fs.readFileSync(files[p]); // page cache
    console.log(
      `${os.cpus()[0].model}, ${os.cpus().length} CPUs; load average ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}`,
    );
    const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    const mb = (b) => `${(b / 1e6).toFixed(0)} MB`;
    for (const p of paths) {
      const runs = [];
      for (let k = 0; k < reps; k++) runs.push(await run(p, files[p]));
      const m = (f) => median(runs.map(f));
      const packed = runs[0].packed;
      console.log(
        `${p.padEnd(12)} ${m((x) => x.ms)
          .toFixed(0)
          .padStart(6)} ms  ticks ${(100 * m((x) => x.share)).toFixed(0)} % ` +
          `(${runs.map((x) => (100 * x.share).toFixed(0)).join('/')}; longest gap ${m((x) => x.maxGap).toFixed(0)} ms; ` +
          `event loop busy ${(100 * m((x) => x.elu)).toFixed(0)} %)  ` +
          `peak RSS ${mb(m((x) => x.peak))} = ${(m((x) => x.peak) / packed).toFixed(2)}× the ${mb(packed)} packed; ` +
          `growth over the ${mb(m((x) => x.base))} before: ${(m((x) => x.peak - x.base) / packed).toFixed(2)}×`,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
