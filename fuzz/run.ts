/**
 * `npm run fuzz`: long fuzzing runs of the weights loaders in child processes (fuzz/child.ts), counting
 * crashes (a child dies), hangs (no progress for --timeout-ms), uncoded errors (anything thrown that is not a
 * VggError with a code) and inputs that grew the peak RSS more than their size justifies. Every such input is
 * written to --out, named by format, seed and index (re-create it with mutant(format, seedFile, seed, index)).
 *
 *   npm run fuzz -- [--inputs 100000] [--formats safetensors,onnx,pth-zip,pth-legacy,keras,caffe] [--seed 1] [--jobs N]
 *                   [--timeout-ms 10000] [--chunk 2000] [--out fuzz/findings]
 *
 * Exit status 1 when anything was found. The last line: `fuzz: N inputs, N crashes, N hangs, N uncoded, N memory`.
 */
import { ChildProcess, fork } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import type { ChildMessage, Job } from './child';
import { Format, mutant } from './mutate';
import { EXTENSION, seedFile } from './seeds';

interface Args {
  inputs: number;
  formats: Format[];
  seed: number;
  jobs: number;
  timeoutMs: number;
  chunk: number;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    inputs: 100000,
    formats: ['safetensors', 'onnx', 'pth-zip', 'pth-legacy', 'keras', 'caffe'],
    seed: 1,
    jobs: os.cpus().length,
    timeoutMs: 10000,
    chunk: 2000,
    out: path.join('fuzz', 'findings'),
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    const num = () => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${k}: expected a positive integer, got '${v}'`);
      return n;
    };
    if (k === '--inputs') a.inputs = num();
    else if (k === '--seed') a.seed = num();
    else if (k === '--jobs') a.jobs = num();
    else if (k === '--timeout-ms') a.timeoutMs = num();
    else if (k === '--chunk') a.chunk = num();
    else if (k === '--out') a.out = v;
    else if (k === '--formats') {
      a.formats = v.split(',') as Format[];
      if (!a.formats.every((f) => f in EXTENSION))
        throw new Error(`--formats: expected some of ${Object.keys(EXTENSION).join(',')}, got '${v}'`);
    } else throw new Error(`unknown argument '${k}'`);
  }
  return a;
}

interface Tally {
  inputs: number;
  loaded: number;
  coded: Record<string, number>;
  crashes: number;
  hangs: number;
  uncoded: number;
  memory: number;
  maxRssKiB: number;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  fs.mkdirSync(args.out, { recursive: true });
  const perFormat = Math.ceil(args.inputs / args.formats.length);
  const queue: Omit<Job, 'dir'>[] = [];
  for (const format of args.formats)
    for (let from = 0; from < perFormat; from += args.chunk)
      queue.push({ format, seed: args.seed, from, to: Math.min(perFormat, from + args.chunk) });
  const tally = new Map<Format, Tally>(
    args.formats.map((f) => [
      f,
      { inputs: 0, loaded: 0, coded: {}, crashes: 0, hangs: 0, uncoded: 0, memory: 0, maxRssKiB: 0 },
    ]),
  );
  const seeds = new Map(args.formats.map((f) => [f, seedFile(f)]));
  const keep = (format: Format, index: number, what: string, detail: string) => {
    const name = `${format}-seed${args.seed}-${index}-${what}${EXTENSION[format]}`;
    fs.writeFileSync(path.join(args.out, name), mutant(format, seeds.get(format)!, args.seed, index));
    console.log(`finding: ${what} at ${format} #${index}: ${detail} (saved ${name})`);
  };
  const started = Date.now();

  // Runs one chunk in a child; a crash or a hang resumes the chunk after the input that caused it.
  const runChunk = (job: Omit<Job, 'dir'>): Promise<void> =>
    new Promise((resolve) => {
      const t = tally.get(job.format)!;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-fuzz-'));
      const child: ChildProcess = fork(path.join(__dirname, 'child.js'), {
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      let at = job.from - 1;
      let finished = false;
      let watchdog = setTimeout(() => onHang(), args.timeoutMs);
      const onHang = () => {
        t.hangs++;
        keep(job.format, at, 'hang', `no progress for ${args.timeoutMs} ms`);
        child.kill('SIGKILL');
      };
      child.on('message', (m: ChildMessage) => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => onHang(), args.timeoutMs);
        if (m.kind === 'at') at = m.index;
        else if (m.kind === 'finding') {
          if (m.what === 'uncoded') t.uncoded++;
          else t.memory++;
          keep(job.format, m.index, m.what, m.detail);
        } else {
          finished = true;
          t.loaded += m.loaded;
          for (const [c, n] of Object.entries(m.coded)) t.coded[c] = (t.coded[c] ?? 0) + n;
          t.maxRssKiB = Math.max(t.maxRssKiB, m.maxRssKiB);
        }
      });
      child.on('exit', (code, signal) => {
        clearTimeout(watchdog);
        fs.rmSync(dir, { recursive: true, force: true });
        if (finished) {
          t.inputs += job.to - job.from;
          return resolve();
        }
        if (signal !== 'SIGKILL') {
          t.crashes++;
          keep(job.format, at, 'crash', `child exited with ${signal ?? `code ${code}`}`);
        }
        t.inputs += at + 1 - job.from;
        resolve(at + 1 < job.to ? runChunk({ ...job, from: at + 1 }) : undefined);
      });
      child.send({ ...job, dir });
    });

  const workers = Array.from({ length: args.jobs }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) await runChunk(job);
  });
  await Promise.all(workers);

  const seconds = (Date.now() - started) / 1000;
  let total = 0,
    bad = 0;
  const sum = { crashes: 0, hangs: 0, uncoded: 0, memory: 0 };
  for (const [format, t] of tally) {
    total += t.inputs;
    for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += t[k];
    bad += t.crashes + t.hangs + t.uncoded + t.memory;
    const coded = Object.entries(t.coded)
      .map(([c, n]) => `${c} ${n}`)
      .join(', ');
    console.log(
      `${format}: ${t.inputs} inputs, ${t.loaded} loaded and ran, coded errors: ${coded || 'none'}; ` +
        `${t.crashes} crashes, ${t.hangs} hangs, ${t.uncoded} uncoded, ${t.memory} memory; child peak RSS ${(t.maxRssKiB / 1024).toFixed(0)} MiB`,
    );
  }
  console.log(`(${seconds.toFixed(0)} s, ${args.jobs} jobs, seed ${args.seed})`);
  console.log(
    `fuzz: ${total} inputs, ${sum.crashes} crashes, ${sum.hangs} hangs, ${sum.uncoded} uncoded, ${sum.memory} memory`,
  );
  return bad ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`fuzz: ${(e as Error).message}`);
    process.exit(2);
  },
);
