/**
 * End-to-end CPU benchmark: our forward vs onnxruntime-node on the same weights, interleaved in one run.
 *   npm run bench -- [arch=vgg16] [size=224] [batch=1] [runs=7]
 * Reports medians after one warm-up, ms and GFLOP/s (FLOPs = 2 × MACs, lib/summary.ts), the ratio
 * ORT time / our time (> 1: we are faster), for 1 and 2 threads; then the resident memory of a process
 * that only loads the model from a safetensors file and runs it (so ORT's memory does not count).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';

import { ForwardMode, loadWeights, Model, randomWeights, resolveConfig, saveWeights, summary, Tensor } from '../lib';
import { fillUniform } from '../lib/random';
import { buildOnnxBytes } from '../test/support/onnx-graph';

const [arch = 'vgg16', sizeArg = '224', batchArg = '1', runsArg = '7'] = process.argv.slice(2);
const size = Number(sizeArg),
  batch = Number(batchArg),
  runs = Number(runsArg);

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

async function main() {
  if (process.argv[2] === '--memory') return memoryChild();
  const mode: ForwardMode = size === 224 ? 'fc' : 'dense';
  const s = summary(arch, size);
  const flops = 2 * s.totalMacs * batch;
  const weights = randomWeights(arch, 1);
  const bytes = buildOnnxBytes(resolveConfig(arch), weights, { style: mode === 'fc' ? 'fc' : 'conv' });
  const x = fillUniform(new Float32Array(batch * 3 * size * size), -1, 1, 42);
  const dims = [batch, 3, size, size];
  console.log(
    `${arch} ${size}×${size} batch ${batch}, mode ${mode}, ${(flops / 1e9).toFixed(2)} GFLOP per forward, ${runs} runs after warm-up`,
  );
  console.log('threads | vggnet ms | GFLOP/s | onnxruntime ms | GFLOP/s | ORT/vggnet');
  for (const threads of [1, 2]) {
    const model = await Model.create(arch, weights, { device: 'cpu', threads });
    const session = await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
    });
    const input = new Tensor(dims, x);
    const feed = { x: new ort.Tensor('float32', x, dims) };
    const ours: number[] = [],
      theirs: number[] = [];
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
    console.log(
      `${threads}       | ${a.toFixed(1).padStart(9)} | ${(flops / a / 1e6).toFixed(1).padStart(7)} | ${b.toFixed(1).padStart(14)} | ${(flops / b / 1e6).toFixed(1).padStart(7)} | ${(b / a).toFixed(2)}`,
    );
    model.dispose();
    await session.release();
  }
  // Memory, in a fresh process (ru_maxrss survives exec, so /proc's VmHWM/VmRSS are read instead).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-bench-'));
  const file = path.join(dir, `${arch}.safetensors`);
  saveWeights(file, arch, weights);
  try {
    const mem = JSON.parse(
      execFileSync(process.execPath, [
        '--expose-gc',
        __filename,
        '--memory',
        file,
        String(size),
        String(batch),
      ]).toString(),
    );
    console.log(
      `memory (separate process, weights loaded from safetensors): packed weights ${mem.weightMB} MB; ` +
        `resident after the forward ${mem.rssMB} MB (weights + ${mem.rssMB - mem.weightMB} MB); peak during load ${mem.peakMB} MB; empty Node ${mem.baseMB} MB`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function procStatusMB(key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

async function memoryChild() {
  const [, , , file, sz, b] = process.argv;
  const base = procStatusMB('VmRSS');
  let loaded: Awaited<ReturnType<typeof loadWeights>> | null = await loadWeights(file);
  const m = await Model.create(loaded.config, loaded.weights, { device: 'cpu' });
  // eslint-disable-next-line no-useless-assignment -- drops the last reference before gc()
  loaded = null; // the JS copies can go: the model holds packed weights
  global.gc?.();
  const n = Number(sz);
  const x = new Tensor([Number(b), 3, n, n], new Float32Array(Number(b) * 3 * n * n));
  await m.forward(x, { mode: n === 224 ? 'fc' : 'dense' });
  // V8 frees dropped ArrayBuffer backing stores in a later task, not inside gc()
  await new Promise((r) => setTimeout(r, 200));
  global.gc?.();
  await new Promise((r) => setTimeout(r, 200));
  console.log(
    JSON.stringify({
      rssMB: procStatusMB('VmRSS'),
      peakMB: procStatusMB('VmHWM'),
      weightMB: Math.round(m.info().weightBytes / 2 ** 20),
      baseMB: base,
    }),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
