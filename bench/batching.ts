/**
 * Dynamic batching in the library's scheduler, without HTTP: `clients` closed-loop callers each send one
 * image at a time to Model.forward for `seconds`, with maxBatch 1 (one forward per request) and maxBatch 8,
 * alternated in one run (the host is shared: compare the ratio, not absolute figures).
 *   tsc -p bench/tsconfig.json && node bench/.build/bench/batching.js [model=mnist|vgg11] [clients=32] [seconds=3] [rounds=3]
 * Reports requests/s, p50/p99 latency (ms) and the mean images per forward, per setting and round, then the
 * median ratio of requests/s (maxBatch 8 / maxBatch 1).
 */
import { loadClassifier, Model, Tensor } from '../lib';
import { fillUniform } from '../lib/random';

const [which = 'mnist', clientsArg = '32', secondsArg = '3', roundsArg = '3'] = process.argv.slice(2);
const clients = Number(clientsArg),
  seconds = Number(secondsArg),
  rounds = Number(roundsArg);

const quantile = (v: number[], q: number) =>
  [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(q * v.length))];
const median = (v: number[]) => quantile(v, 0.5);

async function makeModel(maxBatch: number): Promise<{ model: Model; image: Tensor }> {
  if (which === 'mnist') {
    const c = await loadClassifier(undefined, { device: 'cpu', maxBatch, maxQueue: 1024 });
    return { model: c.model, image: new Tensor([1, 1, 28, 28], fillUniform(new Float32Array(784), 0, 1, 1)) };
  }
  const model = await Model.random(which, 1, { device: 'cpu', maxBatch, maxQueue: 1024 });
  const n = 3 * 224 * 224;
  return { model, image: new Tensor([1, 3, 224, 224], fillUniform(new Float32Array(n), -1, 1, 1)) };
}

async function round(maxBatch: number): Promise<{ rps: number; p50: number; p99: number; perForward: number }> {
  const { model, image } = await makeModel(maxBatch);
  for (let i = 0; i < 3; i++) await model.forward(image); // warm-up: plans for the first sizes
  const before = model.stats();
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await model.forward(image);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const s = model.stats();
  model.dispose();
  return {
    rps: latencies.length / seconds,
    p50: median(latencies),
    p99: quantile(latencies, 0.99),
    perForward: (s.batchedItems - before.batchedItems) / (s.batches - before.batches),
  };
}

async function main() {
  console.log(`${which}: ${clients} closed-loop clients, one image per request, ${seconds} s per round`);
  console.log('round | maxBatch | req/s | p50 ms | p99 ms | images/forward');
  const ratios: number[] = [];
  for (let r = 1; r <= rounds; r++) {
    const one = await round(1);
    const eight = await round(8);
    for (const [b, x] of [
      [1, one],
      [8, eight],
    ] as const)
      console.log(
        `${r} | ${b} | ${x.rps.toFixed(0)} | ${x.p50.toFixed(1)} | ${x.p99.toFixed(1)} | ${x.perForward.toFixed(2)}`,
      );
    ratios.push(eight.rps / one.rps);
  }
  console.log(
    `req/s maxBatch 8 / maxBatch 1: median ${median(ratios).toFixed(2)} (rounds: ${ratios.map((v) => v.toFixed(2)).join(', ')})`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
