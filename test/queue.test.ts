// Scale-out on BullMQ: a real redis-server (127.0.0.1, a free port, a temp dir), real `vggnet worker` processes
// over the embedded MNIST model, real MNIST digits (the `mnist` package) encoded as PNG, real signals. Each
// worker's answer is compared with the same classification computed here, in one process.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { pathToFileURL } from 'url';

import { Job, Queue, QueueEvents } from 'bullmq';
import sharp from 'sharp';

import {
  Classifier,
  classifyImage,
  classifyImages,
  FetchError,
  FormatError,
  InvalidArgumentError,
  loadClassifier,
} from '../lib';
import { packageRoot } from '../lib/native';
import {
  CLASSIFY_JOB,
  ClassifyJob,
  classifyJobResult,
  ClassifyJobResult,
  enqueueClassify,
  openQueueEvents,
  startClassifyWorker,
  SubmitLine,
} from '../lib/queue';
import { checkJobOptions } from '../lib/queue/job';
import { CliChild, startCli } from './support/cli-child';
import { RedisServer, redisServerPath, startRedis } from './support/redis-server';
import { testIf } from './support/skip';

const haveRedis = redisServerPath() !== undefined;
const withRedis = testIf(
  haveRedis,
  'redis-server is not installed (Debian package redis-server; .ci/deps installs it)',
);
const root = packageRoot();
const sampleDigit = path.join(root, 'samples', 'digit-7-1401.png');

/** 200 real MNIST digits (20 per class, from the `mnist` package), each a 28×28 greyscale PNG. */
async function mnistPngs(): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let c = 0; c < 10; c++) {
    const flat: number[] = JSON.parse(fs.readFileSync(require.resolve(`mnist/src/digits/${c}.json`), 'utf8')).data;
    for (let i = 0; i < 20; i++) {
      const pixels = Uint8Array.from(flat.slice(i * 784, (i + 1) * 784), (v) => Math.round(v * 255));
      out.push(
        await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } })
          .png()
          .toBuffer(),
      );
    }
  }
  return out;
}

/** Common worker flags: one CPU thread each (2 vCPUs here), short locks so a dead worker's jobs come back in seconds. */
const FAST_LOCKS = ['--device', 'cpu', '--threads', '1', '--lock-duration-ms', '3000', '--stalled-interval-ms', '500'];

function startWorker(redis: string, queue: string, name: string, extra: string[] = []): Promise<CliChild> {
  return startCli(['worker', '--redis', redis, '--queue', queue, '--name', name, ...FAST_LOCKS, ...extra], (out) =>
    /vggnet worker: ready/.test(out) ? true : undefined,
  );
}

/** The JSON of a worker's `stopped:` line. */
function stoppedStats(out: string): { completed: number; failed: number; scheduler: { batches: number } } {
  return JSON.parse(/vggnet worker: stopped: (.*)/.exec(out)![1]);
}

/** Runs `node dist/cli.js …args` to its end. */
function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [path.join(root, 'dist', 'cli.js'), ...args], { cwd: root });
  let stdout = '',
    stderr = '';
  const out: NodeJS.EventEmitter = child.stdout.setEncoding('utf8');
  const err: NodeJS.EventEmitter = child.stderr.setEncoding('utf8');
  out.on('data', (d: string) => (stdout += d));
  err.on('data', (d: string) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

async function until(what: string, ok: () => Promise<boolean>, timeoutMs = 20000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('job options are checked where they are given: keys, types and ranges', () => {
  expect(checkJobOptions({ mode: 'fc', scales: [0, 256], flip: true, grid: 3, top: 2 })).toEqual({
    mode: 'fc',
    scales: [0, 256],
    flip: true,
    grid: 3,
    top: 2,
  });
  const bad: [unknown, RegExp][] = [
    [{ mdoe: 'fc' }, /options\.mdoe: unknown option; expected one of mode, scales/],
    [{ mode: 'fully-conv' }, /options\.mode: expected 'dense' \| 'fc' \| 'torchvision', got "fully-conv"/],
    [{ scales: [] }, /options\.scales: expected 1 to 16 integers/],
    [{ scales: [1.5] }, /options\.scales/],
    [{ top: 0 }, /options\.top: expected a positive integer, got 0/],
    [{ grid: 11 }, /options\.grid: expected an integer in \[1, 10\]/],
    [{ flip: 'yes' }, /options\.flip: expected a boolean/],
    [[1], /options: expected an object/],
  ];
  for (const [o, message] of bad) expect(() => checkJobOptions(o)).toThrow(message);
});

describe('classify jobs on BullMQ over a real redis-server', () => {
  let redis: RedisServer;
  let c: Classifier;
  let queue: Queue;
  let events: QueueEvents;
  let shared: CliChild; // worker B, on QUEUE, for the tests that need a worker
  let holding: CliChild; // worker A, on QUEUE: holds each batch for 1 s (its scheduler waits for more images)
  let draining: CliChild; // worker C, on SIGTERM_QUEUE: holds each batch for 1.5 s
  const children: CliChild[] = [];
  const QUEUE = 'digits';
  const SIGTERM_QUEUE = 'sigterm';

  beforeAll(async () => {
    if (!haveRedis) return;
    redis = await startRedis();
    c = await loadClassifier(undefined, { device: 'cpu', threads: 1 });
    queue = new Queue(QUEUE, { connection: { url: redis.url } });
    events = await openQueueEvents(QUEUE, { url: redis.url });
    const hold = (ms: number) => ['--max-batch', '64', '--max-delay-ms', String(ms)];
    [shared, holding, draining] = await Promise.all([
      startWorker(redis.url, QUEUE, 'B', ['--concurrency', '8']),
      startWorker(redis.url, QUEUE, 'A', ['--concurrency', '4', ...hold(1000)]),
      startWorker(redis.url, SIGTERM_QUEUE, 'C', ['--concurrency', '3', ...hold(1500)]),
    ]);
    children.push(shared, holding, draining);
  });
  afterAll(async () => {
    if (!haveRedis) return;
    for (const ch of children) if (ch.child.exitCode === null && ch.child.signalCode === null) ch.child.kill('SIGKILL');
    await Promise.all(children.map((ch) => ch.exit));
    await Promise.allSettled([events?.close(), queue?.close()]);
    c?.model.dispose();
    await redis?.stop();
  });

  withRedis(
    '2 workers, 200 MNIST digits, one worker SIGKILLed mid-run: every result present and equal to the single-process answer; a corrupt image fails once with ERR_VGG_FORMAT',
    async () => {
      const pngs = await mnistPngs();
      const expected = (await classifyImages(c, pngs, { top: 10 })).map((r) => r.top);
      const a = holding; // it holds each batch for 1 s: it is killed holding jobs

      const jobs: ClassifyJob[] = await Promise.all(
        pngs.slice(0, 100).map((png) => enqueueClassify(queue, png, { top: 10 })),
      );
      const corrupt = await enqueueClassify(queue, Buffer.from('\x89PNG\r\n\x1a\n this is not an image'), {
        attempts: 3,
      });
      jobs.push(...(await Promise.all(pngs.slice(100).map((png) => enqueueClassify(queue, png, { top: 10 })))));

      let heldByA: string[] = [];
      await until('worker A to hold jobs', async () => {
        heldByA = (await queue.getActive()).filter((j) => j.processedBy === 'A').map((j) => j.id!);
        return heldByA.length > 0;
      });
      a.child.kill('SIGKILL');
      expect(await a.exit).toBeNull(); // ended by the signal

      const results: ClassifyJobResult[] = await Promise.all(jobs.map((j) => classifyJobResult(j, events, 60000)));
      expect(results).toHaveLength(200);
      results.forEach((r, i) => {
        expect(r.top).toEqual(expected[i]); // all 10 classes: the whole posterior, bit for bit
        expect(r).toMatchObject({ views: 1, mode: 'dense', scales: [0], flip: false, arch: 'mnist-vgg' });
      });

      // The jobs A held when it died were taken back (stalled) and finished by B.
      const finished = await Promise.all(jobs.map((j) => Job.fromId(queue, j.id!)));
      const recovered = finished.filter((j) => j!.stalledCounter > 0);
      expect(recovered.length).toBeGreaterThan(0);
      for (const j of recovered) expect(j!.processedBy).toBe('B');
      console.log(
        `A held ${heldByA.length} jobs when killed; ${recovered.length} jobs were taken back from it and finished by B`,
      );

      const failure = await classifyJobResult(corrupt, events, 60000).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(FormatError);
      expect(failure).toMatchObject({ code: 'ERR_VGG_FORMAT', jobId: corrupt.id });
      const failed = await Job.fromId(queue, corrupt.id!);
      expect(await failed!.getState()).toBe('failed');
      expect(failed!.attemptsMade).toBe(1); // of 3 allowed: not retried
      expect(failed!.failedReason).toMatch(/^ERR_VGG_FORMAT: /);
      expect(shared.child.exitCode).toBeNull(); // the poison job did not take B down
    },
  );

  withRedis(
    'malformed jobs and a 404 image URL fail at once with their code; a 503 image URL is retried, then fails with ERR_VGG_FETCH',
    async () => {
      const served = fs.readFileSync(sampleDigit);
      const server = http.createServer((req, res) => {
        if (req.url === '/digit.png') res.writeHead(200, { 'content-type': 'image/png' }).end(served);
        else if (req.url === '/busy.png') res.writeHead(503).end();
        else res.writeHead(404).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      try {
        const want = (await classifyImage(c, sampleDigit, { top: 3 })).top;
        const byUrl = await enqueueClassify(queue, new URL(`${base}/digit.png`), { top: 3 });
        const byPath = await enqueueClassify(queue, sampleDigit, { send: 'path', top: 3 });
        const byFileUrl = await enqueueClassify(queue, pathToFileURL(sampleDigit), { top: 3 });
        for (const j of [byUrl, byPath, byFileUrl])
          expect((await classifyJobResult(j, events, 30000)).top).toEqual(want);
        expect(byPath.data.image).toEqual({ path: sampleDigit });

        // [job, its error code, its message, attempts made: 1 for what a retry cannot cure]
        const cases: [Promise<Job>, string, RegExp, number?][] = [
          [
            queue.add(CLASSIFY_JOB, { hello: 1 }, { attempts: 3 }),
            'ERR_VGG_INVALID_ARGUMENT',
            /job data\.v: expected 1/,
          ],
          [queue.add('resize', { v: 1 }, { attempts: 3 }), 'ERR_VGG_INVALID_ARGUMENT', /job name: expected 'classify'/],
          [
            queue.add(
              CLASSIFY_JOB,
              { v: 1, image: { path: 'samples/digit-7-1401.png' }, options: {} },
              { attempts: 3 },
            ),
            'ERR_VGG_INVALID_ARGUMENT',
            /expected an absolute path/,
          ],
          [
            queue.add(CLASSIFY_JOB, { v: 1, image: { bytes: 'not base64!' }, options: {} }, { attempts: 3 }),
            'ERR_VGG_INVALID_ARGUMENT',
            /expected base64/,
          ],
          [
            queue.add(
              CLASSIFY_JOB,
              { v: 1, image: { bytes: served.toString('base64') }, options: { top: -1 } },
              { attempts: 3 },
            ),
            'ERR_VGG_INVALID_ARGUMENT',
            /options\.top: expected a positive integer/,
          ],
          [enqueueClassify(queue, new URL(`${base}/missing.png`), { attempts: 3 }), 'ERR_VGG_FETCH', /HTTP 404/, 1],
          [enqueueClassify(queue, `${base}/busy.png`, { attempts: 2, backoffMs: 50 }), 'ERR_VGG_FETCH', /HTTP 503/, 2],
        ];
        for (const [added, code, message, attempts = 1] of cases) {
          const job = (await added) as ClassifyJob;
          const e = await classifyJobResult(job, events, 30000).then(
            () => undefined,
            (err: unknown) => err as Error & { code: string },
          );
          expect(e?.code).toBe(code);
          expect(e?.message).toMatch(message);
          const after = await Job.fromId(queue, job.id!);
          expect(after!.attemptsMade).toBe(attempts);
          if (code === 'ERR_VGG_FETCH') expect(e).toBeInstanceOf(FetchError);
        }
      } finally {
        server.close();
      }
    },
  );

  withRedis('bad arguments are refused before anything reaches Redis', async () => {
    const before = await queue.count();
    await expect(enqueueClassify(queue, sampleDigit, { top: 0 })).rejects.toThrow(InvalidArgumentError);
    await expect(enqueueClassify(queue, sampleDigit, { jobId: '12' })).rejects.toThrow(/options\.jobId/);
    await expect(enqueueClassify(queue, sampleDigit, { maxImageBytes: 100 })).rejects.toThrow(/at most 100 bytes/);
    await expect(enqueueClassify(queue, path.join(root, 'no-such.png'))).rejects.toThrow(/cannot read/);
    await expect(enqueueClassify(queue, 42 as unknown as string)).rejects.toThrow(/expected a path, a URL, a Buffer/);
    expect(await queue.count()).toBe(before);
    await expect(startClassifyWorker(c, { redis: redis.url, queue: QUEUE, concurrency: 65 })).rejects.toThrow(
      /options\.concurrency: expected an integer in \[1, 64\]/,
    );
    await expect(startClassifyWorker(c, { redis: 'http://x', queue: QUEUE })).rejects.toThrow(/redis:\/\//);
    await expect(startClassifyWorker(c, { redis: redis.url, queue: 'a:b' })).rejects.toThrow(/without ':'/);
  });

  withRedis(
    '`vggnet submit` a folder: one JSON line per image, each equal to classifyImage here; a corrupt file is a line with its code; exit 1',
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-submit-'));
      try {
        const digits = fs.readdirSync(path.join(root, 'samples')).filter((f) => f.startsWith('digit-'));
        for (const f of digits) fs.copyFileSync(path.join(root, 'samples', f), path.join(dir, f));
        fs.mkdirSync(path.join(dir, 'more'));
        fs.writeFileSync(path.join(dir, 'more', 'broken.png'), 'not a png');
        fs.writeFileSync(path.join(dir, 'notes.txt'), 'not an image: skipped');
        const outFile = path.join(dir, 'results.jsonl');
        const submit = await runCli([
          'submit',
          dir,
          '--redis',
          redis.url,
          '--queue',
          QUEUE,
          '--top',
          '3',
          '--out',
          outFile,
          '--no-progress',
        ]);
        expect(submit.code).toBe(1);
        expect(submit.stderr).toMatch(/vggnet submit: 11 images: 10 classified, 1 failed/);
        const lines: SubmitLine[] = fs
          .readFileSync(outFile, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l));
        expect(lines.map((l) => path.basename(l.file)).sort()).toEqual([...digits, 'broken.png'].sort());
        for (const line of lines) {
          if (path.basename(line.file) === 'broken.png') {
            expect('error' in line && line.error.code).toBe('ERR_VGG_FORMAT');
            expect(await queue.getJob(line.job)).toBeDefined(); // failed jobs stay for inspection
            continue;
          }
          expect('top' in line && line.top).toEqual((await classifyImage(c, line.file, { top: 3 })).top);
          expect(await queue.getJob(line.job)).toBeUndefined(); // removed once its line was written
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  withRedis('SIGTERM: the worker finishes the jobs it holds, takes no new ones and exits 0', async () => {
    const name = SIGTERM_QUEUE;
    const q = new Queue(name, { connection: { url: redis.url } });
    const ev = await openQueueEvents(name, { url: redis.url });
    try {
      const w = draining;
      const png = fs.readFileSync(sampleDigit);
      const held = await Promise.all([1, 2, 3].map(() => enqueueClassify(q, png)));
      await until('worker C to hold 3 jobs', async () => (await q.getActiveCount()) === 3);
      w.child.kill('SIGTERM');
      const later = await Promise.all([1, 2].map(() => enqueueClassify(q, png)));
      expect(await w.exit).toBe(0);
      expect(w.stderr()).toMatch(/SIGTERM: finishing the 3 job\(s\) in progress/);
      expect(stoppedStats(w.stdout())).toMatchObject({ completed: 3, failed: 0 });
      for (const j of held) {
        const after = await Job.fromId(q, j.id!);
        expect(await after!.getState()).toBe('completed');
        expect(after!.stalledCounter).toBe(0);
        expect(after!.processedBy).toBe('C');
      }
      for (const j of later) expect(await q.getJobState(j.id!)).toBe('waiting');
    } finally {
      await Promise.allSettled([ev.close(), q.close()]);
    }
  });

  withRedis('the shared worker stops on SIGTERM with exit 0 and reports its batches (Model.stats())', async () => {
    shared.child.kill('SIGTERM');
    expect(await shared.exit).toBe(0);
    const s = stoppedStats(shared.stdout());
    expect(s.completed).toBeGreaterThan(0);
    expect(s.scheduler.batches).toBeGreaterThan(0);
    expect(shared.stderr()).toMatch(/job .* failed: ERR_VGG_FORMAT/);
  });
});
