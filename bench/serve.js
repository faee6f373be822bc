#!/usr/bin/env node
/**
 * `vggnet serve` under load: autocannon (programmatic) against a `vggnet serve` child on 127.0.0.1.
 *
 * For each model — the embedded MNIST model (POST /v1/classify with a 28×28 PNG digit, and POST
 * /v2/models/mnist-vgg/infer with the same digit as a JSON tensor [1, 1, 28, 28]) and vgg16 with seeded random
 * weights (`--random vgg16`; /v1/classify?mode=fc with a 320×240 JPEG: resize to 256, centre crop 224) — and each
 * batching setting — off (`--max-batch 1`: one forward per request) and on (`--max-batch 8`) — one server is
 * started, and each request kind is sent in three phases (5 s each for MNIST, 10 s for vgg16; --quick: 2 s, 4 s):
 *   capacity  closed loop, 16 connections (vgg16: 8): the 2xx req/s the server sustains; then (MNIST) the
 *             batching server alone at 24, 32, 48 connections while its p99 stays within the other server's
 *             p99 at capacity: the best of those is its req/s "at equal p99" (issue 9's measure), which
 *             one-forward-per-request cannot raise with more connections (it is saturated: only waits grow);
 *   below     as many connections, paced (autocannon overallRate) to half the lower of the two servers' capacities;
 *   overload  256 connections paced to 3× the server's own capacity, client timeout 5 s: the bounded queue
 *             (--max-queue) refuses the excess with 503 + Retry-After (which autocannon does not honour).
 * The two servers of a model (batching off and on) are up together and their phases alternate.
 * Per phase: offered req/s (all answers), 2xx req/s, p50/p99 latency of the 2xx answers (ms), the share of 503
 * answers, client timeouts, and the p99 of GET /v2/health/live (probed every 10 ms from a separate process during
 * the phase); from the server's /metrics after each phase: requests the scheduler computed, requests refused (at
 * arrival or by the scheduler), requests dropped for clients that gave up (aborted + timed out; in parentheses
 * those whose forward was already computing, its result discarded), and the mean images per forward. Per server:
 * peak RSS (VmHWM). A few requests are dropped in every phase: autocannon closes its connections with requests in
 * flight when the phase ends.
 *
 * The load generator shares the host with the server (2 cores here): figures are for comparing rows of one run.
 *
 * Usage: npm run bench:serve [-- --quick] [-- --models mnist,vgg16] [-- --duration 5] [-- --repeat 3]
 *        [-- --capacity-only]   (--repeat: capacity phases per request kind, off and on alternated; the ratios
 *                                of their 2xx req/s are printed at the end)
 */
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const autocannon = require('autocannon');
const sharp = require('sharp');

const root = path.join(__dirname, '..');
const argv = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const quick = argv.includes('--quick');
/** Seconds per phase: MNIST's requests take ms, vgg16's a few hundred ms each. */
const durationOf = (model) => Number(flag('duration', 0)) || (model === 'vgg16' ? (quick ? 4 : 10) : quick ? 2 : 5);
const models = flag('models', 'mnist,vgg16').split(',');
const CLIENT_TIMEOUT_S = 5;
/** Capacity phases per request kind, each alternating off and on (--repeat); --capacity-only skips the others. */
const repeat = Number(flag('repeat', 1));
const capacityOnly = argv.includes('--capacity-only');

const v = require('../dist');

/** Per model: server flags, queue bound, and the requests to load it with (path, Content-Type, body). */
const MODELS = {
  mnist: {
    args: [],
    maxQueue: 64,
    connections: 16,
    equalP99Connections: [24, 32, 48],
    requests: async () => {
      const png = fs.readFileSync(path.join(root, 'samples', 'digit-7-1401.png'));
      const c = await v.loadClassifier();
      const x = await v.loadImage(png, c.preprocess);
      c.model.dispose();
      const json = JSON.stringify({
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28], data: Array.from(x.data) }],
      });
      return [
        { what: 'classify PNG', path: '/v1/classify', type: 'image/png', body: png },
        { what: 'infer JSON 1×1×28×28', path: '/v2/models/mnist-vgg/infer', type: 'application/json', body: json },
      ];
    },
  },
  vgg16: {
    args: ['--random', 'vgg16'],
    maxQueue: 16,
    connections: 8,
    requests: async () => [
      {
        what: 'classify JPEG, mode fc (224)',
        path: '/v1/classify?mode=fc',
        type: 'image/jpeg',
        body: await sharp({
          create: { width: 320, height: 240, channels: 3, noise: { type: 'gaussian', mean: 128, sigma: 40 } },
        })
          .jpeg()
          .toBuffer(),
      },
    ],
  },
};

/** Starts `vggnet serve --port 0 …`; resolves when it printed `ready`. */
function startServer(args) {
  const child = spawn(process.execPath, [path.join(root, 'dist', 'cli.js'), 'serve', '--port', '0', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const url = /listening on (\S+)/.exec(out)?.[1];
      if (url && out.includes('vggnet serve: ready')) resolve({ child, url });
    });
    child.on('exit', (code) => reject(new Error(`vggnet serve exited (${code}):\n${out}`)));
  });
}

/** Peak resident set of a process (VmHWM), MiB. */
function peakRssMiB(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** A separate process that GETs /v2/health/live every 10 ms until stdin closes, then prints the latencies (ms). */
function startProbe(url) {
  const code = `
    const http = require('http');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const lat = [];
    let stop = false;
    process.stdin.on('data', () => {}).on('end', () => { stop = true; });
    (function next() {
      if (stop) return process.stdout.write(JSON.stringify(lat));
      const t = performance.now();
      http.get(${JSON.stringify(`${url}/v2/health/live`)}, { agent, timeout: 10000 }, (res) => {
        res.resume();
        res.on('end', () => { lat.push(performance.now() - t); setTimeout(next, 10); });
      }).on('error', () => { lat.push(Infinity); setTimeout(next, 10); });
    })();`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return {
    stop: () =>
      new Promise((resolve) => {
        child.on('exit', () => resolve(JSON.parse(out || '[]')));
        child.stdin.end();
      }),
  };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The server's scheduler counters from /metrics (0 where absent). */
async function schedulerCounters(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const get = (name) => Number(new RegExp(`^vggnet_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return {
    completed: get('scheduler_completed_total'),
    rejectedBusy: get('scheduler_rejected_busy_total') + get('http_shed_total'),
    aborted: get('scheduler_aborted_total'),
    timedOut: get('scheduler_timed_out_total'),
    discarded: get('scheduler_discarded_total'),
    batches: get('scheduler_batches_total'),
    images: get('scheduler_batched_images_total'),
  };
}

/** One phase of load; latencies of the 2xx answers collected per response. */
async function phase(url, req, { connections, rate, duration }) {
  const ok = [];
  const probe = startProbe(url);
  const before = await schedulerCounters(url);
  const r = await autocannon({
    url: `${url}${req.path}`,
    method: 'POST',
    headers: { 'content-type': req.type },
    body: req.body,
    connections,
    ...(rate ? { overallRate: rate } : {}),
    duration,
    timeout: CLIENT_TIMEOUT_S,
    setupClient: (client) =>
      client.on('response', (status, _bytes, ms) => {
        if (status >= 200 && status < 300) ok.push(ms);
      }),
  });
  const health = (await probe.stop()).sort((a, b) => a - b);
  await new Promise((res) => setTimeout(res, 300)); // let aborted work settle before reading the counters
  const after = await schedulerCounters(url);
  ok.sort((a, b) => a - b);
  const answers = Object.values(r.statusCodeStats).reduce((a, s) => a + Number(s.count), 0);
  const d = (k) => after[k] - before[k];
  return {
    offered: answers / r.duration,
    ok: ok.length / r.duration,
    p50: percentile(ok, 50),
    p99: percentile(ok, 99),
    share503: answers ? Number(r.statusCodeStats['503']?.count ?? 0) / answers : 0,
    timeouts: r.timeouts,
    errors: r.errors,
    health99: percentile(health, 99),
    computed: d('completed'),
    refused: d('rejectedBusy'),
    dropped: d('aborted') + d('timedOut'),
    discarded: d('discarded'),
    imagesPerForward: d('batches') ? d('images') / d('batches') : NaN,
  };
}

/** One request, answered 200. */
async function warmUp(url, req) {
  const r = await fetch(`${url}${req.path}`, { method: 'POST', headers: { 'content-type': req.type }, body: req.body });
  if (r.status !== 200) throw new Error(`warm-up ${req.path}: ${r.status} ${await r.text()}`);
}

const f = (v, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');

async function main() {
  const { execSync } = require('child_process');
  const cpu = /Model name:\s+(.*)/.exec(execSync('lscpu').toString())?.[1] ?? 'unknown CPU';
  console.log(
    `vggnet serve under autocannon: ${cpu}, ${require('os').cpus().length} CPUs, load average ${require('os')
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
  console.log(
    `phases of ${durationOf('mnist')} s (MNIST), ${durationOf('vgg16')} s (vgg16), each request kind after 3 untimed ` +
      `requests; client timeout ${CLIENT_TIMEOUT_S} s`,
  );
  console.log(
    '\n| model | batching | request | phase | conns | offered req/s | 2xx req/s | p50 ms | p99 ms | 503 share | timeouts | health p99 ms | computed | refused | dropped (discarded) | images/forward |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  const rss = [];
  const summary = [];
  for (const name of models) {
    const m = MODELS[name];
    if (!m) throw new Error(`--models: unknown model '${name}'; expected ${Object.keys(MODELS).join(', ')}`);
    const requests = await m.requests();
    const settings = ['off', 'on'];
    // Both servers stay up; their phases alternate, so a change in the neighbours' load hits both alike.
    const servers = {};
    try {
      for (const batching of settings) {
        const sched = ['--max-batch', batching === 'on' ? '8' : '1', '--max-queue', String(m.maxQueue)];
        const t = performance.now();
        servers[batching] = await startServer([...m.args, ...sched]);
        servers[batching].startS = (performance.now() - t) / 1000;
      }
      const duration = durationOf(name);
      for (const req of requests) {
        const row = (batching, ph, conns, r) =>
          console.log(
            `| ${name} | ${batching} | ${req.what} | ${ph} | ${conns} | ${f(r.offered)} | ${f(r.ok)} | ${f(r.p50)} | ${f(r.p99)} | ${f(100 * r.share503)} % | ${r.timeouts} | ${f(r.health99)} | ${r.computed} | ${r.refused} | ${r.dropped} (${r.discarded}) | ${f(r.imagesPerForward, 2)} |`,
          );
        const cap = {};
        for (const b of settings) for (let i = 0; i < 3; i++) await warmUp(servers[b].url, req); // plans built
        const ratios = [];
        const matched = [];
        for (let rep = 0; rep < repeat; rep++) {
          const tag = repeat > 1 ? ` #${rep + 1}` : '';
          for (const b of settings) {
            cap[b] = await phase(servers[b].url, req, { connections: m.connections, duration });
            row(b, `capacity${tag}`, m.connections, cap[b]);
          }
          if (!cap.on) continue;
          ratios.push(cap.on.ok / cap.off.ok);
          // At equal p99: more connections for the batching server while its p99 stays within the other's.
          let best = cap.on.p99 <= cap.off.p99 ? cap.on.ok : NaN;
          for (const conns of m.equalP99Connections ?? []) {
            const r = await phase(servers.on.url, req, { connections: conns, duration });
            row('on', `capacity${tag}, p99 ≤ off's ${f(cap.off.p99)} ms?`, conns, r);
            if (r.p99 > cap.off.p99) break;
            best = Math.max(Number.isNaN(best) ? 0 : best, r.ok);
          }
          if (m.equalP99Connections) matched.push(best / cap.off.ok);
        }
        if (ratios.length)
          summary.push(
            `${name}, ${req.what}: 2xx req/s at capacity, batching on / off: ${ratios.map((r) => f(r, 2)).join(', ')}` +
              (matched.length ? `; at equal p99: ${matched.map((r) => f(r, 2)).join(', ')}` : ''),
          );
        if (capacityOnly) continue;
        // Below: the same offered rate for both, half the lower capacity. Overload: 3× the server's own.
        const below = Math.max(1, Math.round(Math.min(...settings.map((b) => cap[b].ok)) / 2));
        for (const b of settings)
          row(
            b,
            `below (${below}/s)`,
            16,
            await phase(servers[b].url, req, { connections: 16, rate: below, duration }),
          );
        for (const b of settings) {
          const rate = Math.max(1, Math.round(3 * cap[b].ok));
          row(
            b,
            `3× overload (${rate}/s)`,
            256,
            await phase(servers[b].url, req, { connections: 256, rate, duration }),
          );
        }
      }
      for (const b of settings)
        rss.push(
          `${name} batching ${b}: peak RSS ${f(peakRssMiB(servers[b].child.pid), 0)} MiB (start to ready ${f(servers[b].startS)} s)`,
        );
    } finally {
      for (const server of Object.values(servers)) {
        server.child.kill('SIGTERM');
        await new Promise((res) => server.child.on('exit', res));
      }
    }
  }
  console.log('');
  for (const line of [...summary, ...rss]) console.log(line);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
