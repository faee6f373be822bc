/**
 * A real redis-server (the Debian package) for the queue tests and bench: 127.0.0.1, a free port, a fresh
 * temporary directory, no persistence; stopped and removed by stop(). Plain JavaScript so that bench/queue.js
 * and the jest suites share it (types: redis-server.d.ts).
 */
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

/** The redis-server executable on PATH (or Debian's /usr/bin), or undefined. */
function redisServerPath() {
  const dirs = [...(process.env.PATH || '').split(path.delimiter), '/usr/bin', '/usr/sbin'];
  for (const d of dirs) {
    const p = path.join(d, 'redis-server');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** A TCP port free now on 127.0.0.1 (another process may take it before redis does: startRedis retries). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts redis-server once on `port`; resolves when it accepts connections, rejects if it exits first. */
function startOnce(exe, port, dir) {
  const child = spawn(
    exe,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'noeviction',
      '--protected-mode',
      'yes',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server did not start within 10 s:\n${log}`));
    }, 10_000);
    const onData = (d) => {
      log += d;
      if (/Ready to accept connections/.test(log)) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.stdout.resume();
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d) => (log += d));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${signal ?? code}) before accepting connections:\n${log}`));
    });
  });
}

/**
 * Starts a redis-server. @returns { url, port, pid, stop() }; stop() shuts it down and removes its directory.
 * @throws when redis-server is not installed or does not start (3 tries on different ports)
 */
async function startRedis() {
  const exe = redisServerPath();
  if (!exe) throw new Error('redis-server not found (Debian package redis-server)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-redis-'));
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    let child;
    try {
      child = await startOnce(exe, port, dir);
    } catch (e) {
      lastError = e;
      continue;
    }
    const exited = new Promise((resolve) => child.once('exit', resolve));
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      pid: child.pid,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

module.exports = { redisServerPath, startRedis };
