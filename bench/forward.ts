/**
 * End-to-end CPU benchmark: our forward vs onnxruntime-node on the same seeded weights.
 *   npm run bench -- [arch=vgg16] [size=224] [batch=1] [runs=5] [rounds=3]
 * Each engine runs in its own fresh process (onnxruntime's spinning pool threads and its cache traffic
 * would otherwise slow whatever runs next in the same process), the two alternating for `rounds` rounds
 * per thread count (1 and 2), each process timing `runs` forwards after one warm-up. Reports per round the
 * two medians and vggnet / onnxruntime (lower is better for us), then the median of the rounds' ratios,
 * GFLOP/s (FLOPs = 2 × MACs, lib/summary.ts); then the resident memory of a process that only loads the
 * model from a safetensors file and runs it.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';

import { ForwardMode, loadWeights, Model, randomWeights, resolveConfig, saveWeights, summary, Tensor } from '../lib';
import { fillUniform } from '../lib/random';
import { buildOnnxBytes } from '../test/support/onnx-graph';

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

type Engine = 'vggnet' | 'onnxruntime';

async function main() {
  if (process.argv[2] === '--memory') return memoryChild();
  if (process.argv[2] === '--engine') return engineChild();
  const [arch = 'vgg16', sizeArg = '224', batchArg = '1', runsArg = '5', roundsArg = '3'] = process.argv.slice(2);
  const [size, batch, rounds] = [Number(sizeArg), Number(batchArg), Number(roundsArg)];
  const flops = 2 * summary(arch, size).totalMacs * batch;
  console.log(
    `${arch} ${size}×${size} batch ${batch}, mode ${size === 224 ? 'fc' : 'dense'}, ${(flops / 1e9).toFixed(2)} GFLOP ` +
      `per forward; fresh process per engine, alternating, ${rounds} rounds × median of ${runsArg} runs after a warm-up`,
  );
  console.log('threads | round | vggnet ms | onnxruntime ms | vggnet / onnxruntime');
  for (const threads of [1, 2]) {
    const ratios: number[] = [],
      ours: number[] = [],
      theirs: number[] = [];
    for (let r = 1; r <= rounds; r++) {
      const run = (engine: Engine) =>
        Number(
          execFileSync(process.execPath, [
            __filename,
            '--engine',
            engine,
            arch,
            sizeArg,
            batchArg,
            runsArg,
            String(threads),
          ])
            .toString()
            .trim(),
        );
      const [a, b] = [run('vggnet'), run('onnxruntime')];
      ours.push(a);
      theirs.push(b);
      ratios.push(a / b);
      console.log(
        `${threads}       | ${r}     | ${a.toFixed(1).padStart(9)} | ${b.toFixed(1).padStart(14)} | ${(a / b).toFixed(2)}`,
      );
    }
    const [a, b] = [median(ours), median(theirs)];
    console.log(
      `${threads} thread${threads > 1 ? 's' : ''}: median vggnet / onnxruntime ${median(ratios).toFixed(2)} ` +
        `(vggnet ${a.toFixed(1)} ms, ${(flops / a / 1e6).toFixed(1)} GFLOP/s; onnxruntime ${b.toFixed(1)} ms, ` +
        `${(flops / b / 1e6).toFixed(1)} GFLOP/s)`,
    );
  }
  // Memory, in a fresh process (ru_maxrss survives exec, so /proc's VmHWM/VmRSS are read instead).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-bench-'));
  const file = path.join(dir, `${arch}.safetensors`);
  saveWeights(file, arch, randomWeights(arch, 1));
  try {
    const mem = JSON.parse(
      execFileSync(process.execPath, ['--expose-gc', __filename, '--memory', file, sizeArg, batchArg]).toString(),
    );
    console.log(
      `memory (separate process, weights loaded from safetensors): packed weights ${mem.weightMB} MB; ` +
        `resident after the forward ${mem.rssMB} MB (weights + ${mem.rssMB - mem.weightMB} MB); peak during load ${mem.peakMB} MB; empty Node ${mem.baseMB} MB`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** One engine in this process: prints the median ms of `runs` forwards after a warm-up. */
async function engineChild() {
  const [, , , engine, arch, sizeArg, batchArg, runsArg, threadsArg] = process.argv;
  const [size, batch, runs, threads] = [Number(sizeArg), Number(batchArg), Number(runsArg), Number(threadsArg)];
  const mode: ForwardMode = size === 224 ? 'fc' : 'dense';
  const weights = randomWeights(arch, 1);
  const x = fillUniform(new Float32Array(batch * 3 * size * size), -1, 1, 42);
  const dims = [batch, 3, size, size];
  let forward: () => Promise<unknown>;
  if (engine === 'vggnet') {
    const model = await Model.create(arch, weights, { device: 'cpu', threads });
    const input = new Tensor(dims, x);
    forward = () => model.forward(input, { mode });
  } else {
    const bytes = buildOnnxBytes(resolveConfig(arch), weights, { style: mode === 'fc' ? 'fc' : 'conv' });
    const session = await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
    });
    const feed = { x: new ort.Tensor('float32', x, dims) };
    forward = () => session.run(feed);
  }
  await forward();
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    await forward();
    times.push(performance.now() - t);
  }
  console.log(median(times).toFixed(3));
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
