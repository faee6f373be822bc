#!/usr/bin/env node
/**
 * Scale-out throughput: classify jobs per second through BullMQ on a real redis-server (127.0.0.1), with 1 and 2
 * `vggnet worker` processes over the embedded MNIST model, and what each job costs Redis.
 *
 * Jobs: real MNIST digits (the `mnist` package) as 28×28 PNGs, sent as bytes (base64 in the job), dense
 * evaluation, top 5 — the same as `vggnet submit`. Per configuration and round: fresh workers on a fresh queue,
 * a warm-up of `warmup` jobs, then `jobs` jobs enqueued at once; jobs/s = jobs / (first enqueue → last result,
 * seen by the producer through the queue's events). Configurations (one per process count, on this machine):
 *   1 worker  × --threads 0 (every core)      the single-process baseline
 *   1 worker  × --threads 1
 *   2 workers × --threads 1 (one per core)
 * Per worker: images per forward (Model.stats() batchedItems / batches, from its `stopped:` line, warm-up
 * included). Per job, over the measured part: CPU time (user + sys, all threads) of the workers (/proc), of Redis
 * (INFO) and of this producer process, and from Redis's INFO its commands (those inside BullMQ's Lua scripts
 * included) and bytes in and out. CPU time per job does not depend on what else runs on the host; jobs/s does:
 * the producer, Redis and the workers share the host's cores with each other and with any neighbour.
 *
 * Usage: npm run build:ts && node bench/queue.js [--jobs 2000] [--warmup 200] [--rounds 3] [--concurrency 16]
 */
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { Queue } = require('bullmq');
const IORedis = require('ioredis');
const sharp = require('sharp');

const { enqueueClassify, openQueueEvents } = require('../dist/queue');
const { startRedis } = require('../test/support/redis-server');

const root = path.join(__dirname, '..');
const argv = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const JOBS = flag('jobs', 2000);
const WARMUP = flag('warmup', 200);
const ROUNDS = flag('rounds', 3);
const CONCURRENCY = flag('concurrency', 16);
const CONFIGS = [
  { label: '1 worker × all cores', workers: 1, threads: 0 },
  { label: '1 worker × 1 thread', workers: 1, threads: 1 },
  { label: '2 workers × 1 thread', workers: 2, threads: 1 },
];

/** `count` real MNIST digits as 28×28 greyscale PNGs (cycling over the classes). */
async function mnistPngs(count) {
  const digits = [];
  for (let c = 0; c < 10; c++) digits.push(require(`mnist/src/digits/${c}.json`).data);
  const out = [];
  for (let i = 0; i < count; i++) {
    const flat = digits[i % 10];
    const k = Math.floor(i / 10) % (flat.length / 784);
    const pixels = Uint8Array.from(flat.slice(k * 784, (k + 1) * 784), (v) => Math.round(v * 255));
    out.push(
      await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } })
        .png()
        .toBuffer(),
    );
  }
  return out;
}

/** Starts a `vggnet worker`; resolves with it once it printed `ready`. */
function startWorker(redis, queue, name, threads) {
  const args = ['worker', '--redis', redis, '--queue', queue, '--name', name, '--device', 'cpu'];
  args.push('--threads', String(threads), '--concurrency', String(CONCURRENCY));
  const child = spawn(process.execPath, [path.join(root, 'dist', 'cli.js'), ...args], { cwd: root });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exit = new Promise((resolve) => child.on('exit', resolve));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      if (/vggnet worker: ready/.test(out)) resolve({ child, exit, stdout: () => out, stderr: () => err });
    });
    exit.then((code) => reject(new Error(`worker exited (${code}) before ready:\n${out}\n${err}`)));
  });
}

/**
 * Redis's counters: commands processed (those run inside BullMQ's Lua scripts included), script calls
 * (EVALSHA), CPU seconds (user + sys), network bytes.
 */
async function redisInfo(client) {
  const text = await client.info('all');
  const num = (key) => Number(new RegExp(`^${key}:([\\d.]+)`, 'm').exec(text)[1]);
  return {
    commands: num('total_commands_processed'),
    scripts: Number(/^cmdstat_evalsha:calls=(\d+)/m.exec(text)?.[1] ?? 0),
    cpuS: num('used_cpu_user') + num('used_cpu_sys'),
    netIn: num('total_net_input_bytes'),
    netOut: num('total_net_output_bytes'),
  };
}

/** CPU seconds (user + sys, all threads) a process has used: /proc/<pid>/stat utime + stime (Linux). */
function processCpuS(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100; // USER_HZ, 100 on Linux x86-64

/** Enqueues `pngs` as jobs and resolves when every result arrived: { seconds, failed }. */
async function runJobs(queue, events, pngs) {
  let left = pngs.length;
  let failed = 0;
  const ids = new Set();
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  const settle = (jobId, ok) => {
    if (!ids.delete(jobId)) return;
    if (!ok) failed++;
    if (--left === 0) done();
  };
  const onCompleted = ({ jobId }) => settle(jobId, true);
  const onFailed = ({ jobId }) => settle(jobId, false);
  events.on('completed', onCompleted).on('failed', onFailed);
  const t0 = performance.now();
  const jobIds = pngs.map((_, i) => `j${i}-${Math.random().toString(36).slice(2)}`);
  jobIds.forEach((id) => ids.add(id));
  await Promise.all(pngs.map((png, i) => enqueueClassify(queue, png, { jobId: jobIds[i], top: 5 })));
  await finished;
  const seconds = (performance.now() - t0) / 1000;
  events.off('completed', onCompleted).off('failed', onFailed);
  return { seconds, failed };
}

async function runConfig(redis, config, round, pngs, warm) {
  const name = `bench-${config.workers}x${config.threads}-${round}`;
  const connection = { url: redis.url };
  const queue = new Queue(name, { connection });
  const events = await openQueueEvents(name, connection);
  const client = new IORedis(redis.url);
  const workers = await Promise.all(
    Array.from({ length: config.workers }, (_, i) => startWorker(redis.url, name, `w${i}`, config.threads)),
  );
  try {
    await runJobs(queue, events, warm);
    const before = await redisInfo(client);
    const cpuBefore = workers.map((w) => processCpuS(w.child.pid));
    const producerBefore = process.cpuUsage();
    const { seconds, failed } = await runJobs(queue, events, pngs);
    const producer = process.cpuUsage(producerBefore);
    const cpuAfter = workers.map((w) => processCpuS(w.child.pid));
    const after = await redisInfo(client);
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exit));
    const perWorker = workers.map((w, i) => {
      const s = JSON.parse(/vggnet worker: stopped: (.*)/.exec(w.stdout())[1]);
      return {
        cpuS: cpuAfter[i] - cpuBefore[i],
        completed: s.completed,
        imagesPerForward: s.scheduler.batchedItems / s.scheduler.batches,
        sizes: s.scheduler.batchSizes,
      };
    });
    const n = pngs.length;
    return {
      jobsPerS: n / seconds,
      failed,
      perWorker,
      workerCpuMsPerJob: (1000 * perWorkerCpu(cpuBefore, cpuAfter)) / pngs.length,
      producerCpuMsPerJob: (producer.user + producer.system) / 1000 / pngs.length,
      redis: {
        commandsPerJob: (after.commands - before.commands) / n,
        scriptsPerJob: (after.scripts - before.scripts) / n,
        cpuMsPerJob: (1000 * (after.cpuS - before.cpuS)) / n,
        bytesInPerJob: (after.netIn - before.netIn) / n,
        bytesOutPerJob: (after.netOut - before.netOut) / n,
      },
    };
  } finally {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await queue.obliterate({ force: true }).catch(() => undefined);
    await Promise.allSettled([events.close(), queue.close()]);
    client.disconnect();
  }
}

const perWorkerCpu = (before, after) => after.reduce((sum, a, i) => sum + a - before[i], 0);
const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];

async function main() {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `vggnet worker over BullMQ: ${cpu}, ${os.cpus().length} CPUs, load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  const redis = await startRedis();
  try {
    const pngs = await mnistPngs(JOBS);
    const warm = await mnistPngs(WARMUP);
    const bytes = pngs.reduce((s, p) => s + p.length, 0) / pngs.length;
    console.log(
      `redis-server ${redis.url}; ${JOBS} jobs (+${WARMUP} warm-up), MNIST 28×28 PNG ${bytes.toFixed(0)} bytes mean` +
        ` (${((bytes * 4) / 3).toFixed(0)} base64), worker --concurrency ${CONCURRENCY}, ${ROUNDS} rounds`,
    );
    const results = new Map(CONFIGS.map((c) => [c.label, []]));
    for (let round = 0; round < ROUNDS; round++)
      for (const config of CONFIGS) {
        const r = await runConfig(redis, config, round, pngs, warm);
        results.get(config.label).push(r);
        const per = r.perWorker.map(
          (w) => `${w.completed} jobs, ${w.imagesPerForward.toFixed(2)} img/fwd ${JSON.stringify(w.sizes)}`,
        );
        console.log(
          `round ${round + 1} ${config.label}: ${r.jobsPerS.toFixed(0)} jobs/s, ${r.failed} failed; per worker: ${per.join(' | ')}` +
            `; Redis per job: ${r.redis.commandsPerJob.toFixed(1)} commands (${r.redis.scriptsPerJob.toFixed(1)} scripts), ${r.redis.cpuMsPerJob.toFixed(3)} ms CPU,` +
            ` ${r.redis.bytesInPerJob.toFixed(0)} B in, ${r.redis.bytesOutPerJob.toFixed(0)} B out` +
            `; CPU per job: workers ${r.workerCpuMsPerJob.toFixed(2)} ms, producer ${r.producerCpuMsPerJob.toFixed(2)} ms`,
        );
      }
    console.log(
      '\n| configuration | jobs/s (median of rounds) | images per forward, per worker (median) | CPU per job: workers, Redis, producer | Redis commands (Lua scripts) per job | bytes into / out of Redis per job |',
    );
    console.log('|---|---|---|---|---|---|');
    for (const [label, rs] of results) {
      const workers = rs[0].perWorker.length;
      const ipf = Array.from({ length: workers }, (_, i) =>
        median(rs.map((r) => r.perWorker[i].imagesPerForward)).toFixed(2),
      );
      console.log(
        `| ${label} | ${median(rs.map((r) => r.jobsPerS)).toFixed(0)} | ${ipf.join(', ')} | ` +
          `${median(rs.map((r) => r.workerCpuMsPerJob)).toFixed(2)}, ${median(rs.map((r) => r.redis.cpuMsPerJob)).toFixed(2)}, ` +
          `${median(rs.map((r) => r.producerCpuMsPerJob)).toFixed(2)} ms | ${median(rs.map((r) => r.redis.commandsPerJob)).toFixed(1)} (${median(rs.map((r) => r.redis.scriptsPerJob)).toFixed(1)}) | ` +
          `${median(rs.map((r) => r.redis.bytesInPerJob)).toFixed(0)} / ${median(rs.map((r) => r.redis.bytesOutPerJob)).toFixed(0)} |`,
      );
    }
  } finally {
    await redis.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
