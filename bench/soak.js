#!/usr/bin/env node
/**
 * Soak test of `vggnet serve` (issue 11): a real server (a child process, the embedded MNIST model) under a
 * real load generator (autocannon) for a long time, with valid and hostile requests mixed: images raw and
 * multipart, KServe tensors, and bodies that are truncated, empty, too large, of the wrong type, lying about
 * their shape, or not JSON. Samples the server's RSS; at the end asks it to shut down with SIGTERM.
 *
 *   node bench/soak.js [--minutes 30] [--connections 8] [--warmup-minutes 2]
 *
 * Passes (exit 0) when the server never died, answered no 5xx but 503 (queue full, by design), its RSS at the
 * end is within 5% of its RSS after the warm-up (medians of the last and of the first sampled minute), and it
 * exits 0 on SIGTERM. Connection errors are reported, not failed: a body over --body-limit is answered 413
 * at once and its connection closed while the client still sends, which the client sees as a reset.
 * Prints a summary and the line `soak: PASS|FAIL …`.
 */
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const autocannon = require('autocannon');

const root = path.join(__dirname, '..');
const args = { minutes: 30, connections: 8, warmupMinutes: 2 };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '').replace(/-(\w)/g, (_, c) => c.toUpperCase());
  if (!(key in args)) throw new Error(`unknown option ${process.argv[i]}`);
  args[key] = Number(process.argv[i + 1]);
}

const digit = fs.readFileSync(path.join(root, 'samples', 'digit-7-1401.png'));
const canvas = fs.readFileSync(path.join(root, 'samples', 'canvas-0.png'));
const boundary = 'vggnetsoak';
const multipart = Buffer.concat([
  Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="d.png"\r\n`),
  Buffer.from('Content-Type: image/png\r\n\r\n'),
  digit,
  Buffer.from(`\r\n--${boundary}--\r\n`),
]);
const flipped = Buffer.from(digit);
for (let i = 64; i < flipped.length; i += 97) flipped[i] ^= 0x5a; // a corrupt, not truncated, PNG
const tensor = (shape, n) =>
  JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape, data: new Array(n).fill(0.1) }] });

const png = { 'content-type': 'image/png' };
const json = { 'content-type': 'application/json' };
/** [what, expected status class, request]: the mix each connection cycles through. */
const MIX = [
  ['classify raw PNG', 2, { method: 'POST', path: '/v1/classify?top=3', headers: png, body: digit }],
  ['classify canvas dense+flip', 2, { method: 'POST', path: '/v1/classify?flip=true', headers: png, body: canvas }],
  [
    'classify multipart',
    2,
    {
      method: 'POST',
      path: '/v1/classify',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      body: multipart,
    },
  ],
  [
    'KServe infer',
    2,
    { method: 'POST', path: '/v2/models/mnist-vgg/infer', headers: json, body: tensor([1, 1, 28, 28], 784) },
  ],
  ['health', 2, { method: 'GET', path: '/v2/health/live' }],
  ['metrics', 2, { method: 'GET', path: '/metrics' }],
  [
    'truncated PNG',
    4,
    { method: 'POST', path: '/v1/classify', headers: png, body: digit.subarray(0, digit.length >> 1) },
  ],
  ['corrupt PNG', 4, { method: 'POST', path: '/v1/classify', headers: png, body: flipped }],
  ['empty body', 4, { method: 'POST', path: '/v1/classify', headers: png, body: '' }],
  [
    'wrong content type',
    4,
    { method: 'POST', path: '/v1/classify', headers: { 'content-type': 'text/plain' }, body: 'hello' },
  ],
  ['too large', 4, { method: 'POST', path: '/v1/classify', headers: png, body: Buffer.alloc(300 * 1024, 7) }],
  ['not JSON', 4, { method: 'POST', path: '/v2/models/mnist-vgg/infer', headers: json, body: '{"inputs": [' }],
  [
    'shape lies',
    4,
    { method: 'POST', path: '/v2/models/mnist-vgg/infer', headers: json, body: tensor([100000, 1, 28, 28], 784) },
  ],
  [
    'negative dims',
    4,
    { method: 'POST', path: '/v2/models/mnist-vgg/infer', headers: json, body: tensor([1, 1, -28, 28], 784) },
  ],
  [
    'unknown model',
    4,
    { method: 'POST', path: '/v2/models/nope/infer', headers: json, body: tensor([1, 1, 28, 28], 784) },
  ],
  ['unknown route', 4, { method: 'GET', path: '/v3/whatever' }],
];

const rssKiB = (pid) => Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

async function main() {
  const server = spawn(
    process.execPath,
    [path.join(root, 'dist', 'cli.js'), 'serve', '--port', '0', '--body-limit', String(256 * 1024), '--threads', '2'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let exit = null;
  server.on('exit', (code, signal) => (exit = { code, signal }));
  let out = '';
  const url = await new Promise((resolve, reject) => {
    server.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m && /ready/.test(out)) resolve(m[1]);
    });
    server.on('exit', () => reject(new Error(`server exited before ready:\n${out}`)));
  });
  console.log(`soak: ${url}, ${args.minutes} min, ${args.connections} connections, ${MIX.length} request kinds`);

  const samples = []; // [minutes since start, RSS KiB]
  const started = Date.now();
  const sampler = setInterval(() => {
    if (exit) return;
    samples.push([(Date.now() - started) / 60000, rssKiB(server.pid)]);
  }, 5000);

  const statuses = {};
  const result = await autocannon({
    url,
    connections: args.connections,
    duration: args.minutes * 60,
    requests: MIX.map(([, , r]) => r),
    timeout: 30,
    setupClient: (client) =>
      client.on('response', (status) => {
        statuses[status] = (statuses[status] ?? 0) + 1;
      }),
  });
  clearInterval(sampler);
  const alive = exit === null;
  const exited = alive
    ? await new Promise((resolve) => {
        server.on('exit', (code, signal) => resolve({ code, signal }));
        server.kill('SIGTERM');
      })
    : exit;

  const first = samples.filter(([t]) => t >= args.warmupMinutes && t < args.warmupMinutes + 1).map(([, r]) => r);
  const last = samples.filter(([t]) => t >= args.minutes - 1).map(([, r]) => r);
  const base = median(first),
    end = median(last),
    peak = Math.max(...samples.map(([, r]) => r));
  const growth = (end - base) / base;
  const fiveXX = Object.entries(statuses)
    .filter(([s]) => s >= 500 && s !== '503')
    .reduce((a, [, n]) => a + n, 0);
  console.log(
    `requests: ${result.requests.total} (${result.requests.average.toFixed(0)}/s), connection errors ${result.errors} (the 413s' closed connections), timeouts ${result.timeouts}`,
  );
  console.log(`statuses: ${JSON.stringify(statuses)}`);
  console.log(`latency ms: p50 ${result.latency.p50}, p99 ${result.latency.p99}, max ${result.latency.max}`);
  console.log(
    `server RSS MiB: after warm-up ${(base / 1024).toFixed(1)}, end ${(end / 1024).toFixed(1)} (${(100 * growth).toFixed(2)}%), peak ${(peak / 1024).toFixed(1)}`,
  );
  console.log(
    `server: ${alive ? 'alive at the end' : `DIED (${JSON.stringify(exit)})`}; SIGTERM → ${JSON.stringify(exited)}`,
  );
  const pass = alive && fiveXX === 0 && growth < 0.05 && exited.code === 0;
  console.log(
    `soak: ${pass ? 'PASS' : 'FAIL'} (${args.minutes} min, RSS growth ${(100 * growth).toFixed(2)}%, 5xx other than 503: ${fiveXX})`,
  );
  process.exit(pass ? 0 : 1);
}

main().catch((e) => {
  console.error(`soak: ${e.stack}`);
  process.exit(2);
});
