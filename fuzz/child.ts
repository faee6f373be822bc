/**
 * One fuzzing child process: runs mutants [from, to) of one format through the public API — loadWeights,
 * then, for a file that loads, Model.create and one forward — and reports to the parent (fuzz/run.ts) over
 * IPC: `at` before each input (so a crash or a hang is pinned to its input), and a finding for every
 * outcome that is not a result or a coded VggError, or that grew the peak RSS more than the file justifies.
 */
import * as fs from 'fs';
import * as path from 'path';

import { loadWeights, Model, Tensor, VggError } from '../lib';
import { Format, mutant } from './mutate';
import { EXTENSION, seedFile } from './seeds';

export interface Job {
  format: Format;
  seed: number;
  from: number;
  to: number;
  dir: string;
}
export type ChildMessage =
  | { kind: 'at'; index: number }
  | { kind: 'finding'; index: number; what: 'uncoded' | 'memory'; detail: string }
  | { kind: 'done'; loaded: number; coded: Record<string, number>; maxRssKiB: number };

/** Peak RSS growth allowed for one input: a fixed allowance plus a multiple of the file's size. */
const RSS_ALLOWANCE_KIB = 256 * 1024;
const RSS_PER_FILE_BYTE = 16;

const send = (m: ChildMessage) => process.send!(m);

async function runOne(file: string): Promise<'loaded' | string> {
  const w = await loadWeights(file);
  const model = await Model.create(w.config, w.weights, { device: 'cpu', threads: 1 });
  try {
    const { inChannels: c, inputSize: s } = w.config;
    await model.forward(new Tensor([1, c, s, s], new Float32Array(c * s * s)));
  } finally {
    model.dispose();
  }
  return 'loaded';
}

async function run(job: Job): Promise<void> {
  const seed = seedFile(job.format);
  const file = path.join(job.dir, `input${EXTENSION[job.format]}`);
  const coded: Record<string, number> = {};
  let loaded = 0;
  for (let i = job.from; i < job.to; i++) {
    send({ kind: 'at', index: i });
    const bytes = mutant(job.format, seed, job.seed, i);
    fs.writeFileSync(file, bytes);
    const before = process.resourceUsage().maxRSS;
    try {
      await runOne(file);
      loaded++;
    } catch (e) {
      if (e instanceof VggError && typeof e.code === 'string') coded[e.code] = (coded[e.code] ?? 0) + 1;
      else {
        const err = e as Error;
        send({
          kind: 'finding',
          index: i,
          what: 'uncoded',
          detail: `${err?.name}: ${String(err?.message).slice(0, 300)}`,
        });
      }
    }
    const grown = process.resourceUsage().maxRSS - before;
    if (grown > RSS_ALLOWANCE_KIB + (RSS_PER_FILE_BYTE * bytes.length) / 1024)
      send({
        kind: 'finding',
        index: i,
        what: 'memory',
        detail: `peak RSS grew ${grown} KiB for a ${bytes.length}-byte file`,
      });
  }
  send({ kind: 'done', loaded, coded, maxRssKiB: process.resourceUsage().maxRSS });
}

process.once('message', (job: Job) => {
  run(job).then(
    () => process.disconnect(),
    (e) => {
      console.error(e);
      process.exit(3);
    },
  );
});
