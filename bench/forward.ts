/**
 * End-to-end CPU benchmark: our forward vs onnxruntime-node on the same weights, interleaved in one run.
 *   npm run bench -- [arch=vgg16] [size=224] [batch=1] [runs=7]
 * Reports medians after one warm-up, ms and GFLOP/s (FLOPs = 2 × MACs, lib/summary.ts), the ratio
 * ORT time / our time (> 1: we are faster), for 1 and 2 threads; then the peak resident memory of a
 * process that only loads the model and runs it (child process, so ORT's memory does not count).
 */
import { execFileSync } from 'child_process';
import * as ort from 'onnxruntime-node';

import { Model, randomWeights, resolveConfig, summary, Tensor } from '../lib';
import { fillUniform } from '../lib/random';
import { buildOnnxBytes } from '../test/support/onnx-graph';

const [arch = 'vgg16', sizeArg = '224', batchArg = '1', runsArg = '7'] = process.argv.slice(2);
const size = Number(sizeArg), batch = Number(batchArg), runs = Number(runsArg);

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

async function main() {
  if (process.argv[2] === '--memory') return memoryChild();
  const mode = size === 224 ? 'fc' : 'fully-conv';
  const s = summary(arch, size);
  const flops = 2 * s.totalMacs * batch;
  const weights = randomWeights(arch, 1);
  const bytes = buildOnnxBytes(resolveConfig(arch), weights, { style: mode === 'fc' ? 'fc' : 'conv' });
  const x = fillUniform(new Float32Array(batch * 3 * size * size), -1, 1, 42);
  const dims = [batch, 3, size, size];
  console.log(`${arch} ${size}×${size} batch ${batch}, mode ${mode}, ${(flops / 1e9).toFixed(2)} GFLOP per forward, ${runs} runs after warm-up`);
  console.log('threads | vggnet ms | GFLOP/s | onnxruntime ms | GFLOP/s | ORT/vggnet');
  for (const threads of [1, 2]) {
    const model = Model.create(arch, weights, { device: 'cpu', threads });
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1 });
    const input = new Tensor(dims, x);
    const feed = { x: new ort.Tensor('float32', x, dims) };
    const ours: number[] = [], theirs: number[] = [];
    await model.forward(input, { mode });
    await session.run(feed);
    for (let r = 0; r < runs; r++) {
      let t = performance.now();
      await model.forward(input, { mode });
      ours.push(performance.now() - t);
      t = performance.now();
      await session.run(feed);
      theirs.push(performance.now() - t);
    }
    const [a, b] = [median(ours), median(theirs)];
    console.log(`${threads}       | ${a.toFixed(1).padStart(9)} | ${(flops / a / 1e6).toFixed(1).padStart(7)} | ${b.toFixed(1).padStart(14)} | ${(flops / b / 1e6).toFixed(1).padStart(7)} | ${(b / a).toFixed(2)}`);
    model.dispose();
    await session.release();
  }
  const mem = JSON.parse(execFileSync(process.execPath, [__filename, '--memory', arch, String(size), String(batch)]).toString());
  console.log(`peak resident memory (model load + ${mode} forward, separate process): ${mem.peakMB} MB; packed weights ${mem.weightMB} MB; ` +
    `overhead over the weights ${mem.peakMB - mem.weightMB} MB (baseline Node process ${mem.baseMB} MB)`);
}

async function memoryChild() {
  const [, , , a, sz, b] = process.argv;
  const base = process.resourceUsage().maxRSS / 1024;
  const m = Model.create(a, randomWeights(a, 1), { device: 'cpu' });
  global.gc?.();
  const n = Number(sz);
  await m.forward(new Tensor([Number(b), 3, n, n], new Float32Array(Number(b) * 3 * n * n)), { mode: n === 224 ? 'fc' : 'fully-conv' });
  console.log(JSON.stringify({ peakMB: Math.round(process.resourceUsage().maxRSS / 1024), weightMB: Math.round(m.info().weightBytes / 2 ** 20), baseMB: Math.round(base) }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
