#!/usr/bin/env node
/**
 * What a new input shape costs: vgg16 dense evaluation, the first forward at each shape against the steady
 * state at that shape (the median of the forwards after it), with the page faults and the arena growth each
 * first forward caused (process.resourceUsage minor faults; model.info().arenaBytes). Issue 16 wants the
 * first forward within 10 % of the steady state.
 *
 *   sizes   224, 256, 320, 384 in sequence (square)
 *   photos  a folder of photos: sides of 256 along the short edge, aspect ratios 4:3, 3:4, 3:2, 16:9, 1:1, 2:3
 *
 * Each set runs `reps` rounds, each from a fresh arena (releasePlans, then a 224 forward); medians over rounds.
 * Wall time on a shared host is noisy: the process CPU time (all threads) is printed beside it.
 *
 * Usage: npm run build && node bench/plan-shapes.js [sizes|photos|both=both] [--steady 3] [--reps 3] [--threads N]
 *        VGGNET_DIST=../other/dist node bench/plan-shapes.js …   (another build)
 */
'use strict';
const os = require('os');
const path = require('path');

const dist = process.env.VGGNET_DIST ? path.resolve(process.env.VGGNET_DIST) : path.join(__dirname, '..', 'dist');
const v = require(dist);
const { fillUniform } = require(path.join(dist, 'random'));

const args = process.argv.slice(2);
const opt = (name, d) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args.splice(i, 2)[1]) : d;
};
const steady = opt('--steady', 3);
const reps = opt('--reps', 3);
const threads = opt('--threads', 0);
const which = args[0] || 'both';

const SETS = {
  sizes: [224, 256, 320, 384].map((s) => [s, s]),
  photos: [
    [256, 341],
    [341, 256],
    [256, 384],
    [256, 455],
    [256, 256],
    [384, 256],
  ],
};

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const faults = () => process.resourceUsage().minorPageFault;

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** One forward: wall ms, process CPU ms (every thread: the pool's too), minor page faults. */
async function timed(model, x) {
  const f = faults();
  const c = cpuMs();
  const t = performance.now();
  await model.forward(x, { mode: 'dense' });
  return { wall: performance.now() - t, cpu: cpuMs() - c, faults: faults() - f };
}

/** `reps` rounds over `shapes` (each from the arena a 224 forward leaves after releasePlans): per shape the
 *  medians over rounds of first/steady, wall and CPU time. */
async function run(model, name, shapes) {
  console.log(`${name} (${reps} rounds; medians over rounds):`);
  const rows = shapes.map(() => []);
  for (let r = 0; r < reps; r++) {
    model.releasePlans();
    await model.forward(new v.Tensor([1, 3, 224, 224], new Float32Array(3 * 224 * 224)), { mode: 'dense' });
    for (const [k, [h, w]] of shapes.entries()) {
      const x = new v.Tensor([1, 3, h, w], fillUniform(new Float32Array(3 * h * w), -1, 1, h * 1000 + w));
      const arena0 = model.info().arenaBytes;
      const first = await timed(model, x);
      const arena1 = model.info().arenaBytes;
      const st = [];
      for (let i = 0; i < steady; i++) st.push(await timed(model, x));
      rows[k].push({
        first,
        wall: median(st.map((t) => t.wall)),
        cpu: median(st.map((t) => t.cpu)),
        faults: median(st.map((t) => t.faults)),
        grew: arena1 - arena0,
      });
    }
  }
  const worst = { wall: 0, cpu: 0 };
  const all = { wall: [], cpu: [] };
  for (const [k, [h, w]] of shapes.entries()) {
    const m = (f) => median(rows[k].map(f));
    const rw = m((x) => x.first.wall / x.wall);
    const rc = m((x) => x.first.cpu / x.cpu);
    worst.wall = Math.max(worst.wall, rw);
    worst.cpu = Math.max(worst.cpu, rc);
    all.wall.push(rw);
    all.cpu.push(rc);
    console.log(
      `  ${String(h).padStart(3)}×${String(w).padEnd(3)} first/steady: wall ${rw.toFixed(2)} (${m((x) => x.first.wall).toFixed(0)} / ${m((x) => x.wall).toFixed(0)} ms), ` +
        `CPU ${rc.toFixed(2)} (${m((x) => x.first.cpu).toFixed(0)} / ${m((x) => x.cpu).toFixed(0)} ms); page faults ${m((x) => x.first.faults)} / ${m((x) => x.faults)}; ` +
        `arena grew ${(m((x) => x.grew) / 1e6).toFixed(0)} MB`,
    );
  }
  console.log(
    `  median first/steady: wall ${median(all.wall).toFixed(2)}, CPU ${median(all.cpu).toFixed(2)}; worst: wall ${worst.wall.toFixed(2)}, CPU ${worst.cpu.toFixed(2)}`,
  );
}

async function main() {
  const config = v.resolveConfig('vgg16');
  const { weights } = require('./weights-files')(v, fillUniform, config);
  const model = await v.Model.create('vgg16', weights(), { device: 'cpu', threads });
  console.log(
    `${os.cpus()[0].model}, ${os.cpus().length} CPUs, load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}; ` + `vgg16 dense, ${model.info().kernelFamily}, ${steady} steady forwards per shape`,
  );
  // A warm-up at a small shape: thread pool, kernels' first use; its arena is the "fresh model" state.
  await model.forward(new v.Tensor([1, 3, 224, 224], new Float32Array(3 * 224 * 224)), { mode: 'dense' });
  for (const name of which === 'both' ? ['sizes', 'photos'] : [which]) await run(model, name, SETS[name]);
  model.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
