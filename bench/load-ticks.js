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

const steps = (process.argv[2] || 'create,random,safetensors,onnx,plan').split(',');
const config = v.resolveConfig('vgg16');
const { weights, writeTorchvision, writeOnnx } = require('./weights-files')(v, fillUniform, config);

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
