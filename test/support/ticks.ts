/**
 * Event-loop responsiveness: a 5 ms setInterval runs while `fn` is awaited; the share of its expected ticks
 * (elapsed / 5 ms) that fired says how much of that time the JS thread was free. A synchronous call of 1 s
 * inside `fn` costs 200 ticks; work on other threads costs none, unless it starves the JS thread of a core.
 */
import { Worker } from 'worker_threads';

export interface Ticks<T> {
  result: T;
  /** Wall time of fn, ms. */
  ms: number;
  /** Ticks fired / expected, in [0, 1]. */
  share: number;
  /** The longest time between two ticks (or the start/end), ms. */
  longestGapMs: number;
}

export const TICK_MS = 5;

export async function ticksDuring<T>(fn: () => Promise<T>): Promise<Ticks<T>> {
  let fired = 0;
  const t0 = performance.now();
  let last = t0;
  let longestGapMs = 0;
  const timer = setInterval(() => {
    fired++;
    const now = performance.now();
    longestGapMs = Math.max(longestGapMs, now - last);
    last = now;
  }, TICK_MS);
  try {
    const result = await fn();
    const end = performance.now();
    longestGapMs = Math.max(longestGapMs, end - last);
    const ms = end - t0;
    return { result, ms, share: Math.min(1, fired / Math.max(1, Math.floor(ms / TICK_MS))), longestGapMs };
  } finally {
    clearInterval(timer);
  }
}

/** The share of an idle wait of `ms`: what the host itself allows (other processes delay timers too). */
export async function idleShare(ms = 1000): Promise<number> {
  return (await ticksDuring(() => new Promise((r) => setTimeout(r, ms)))).share;
}

/**
 * The share of a wait of `ms` while `threads` worker_threads of this process spin: the best that off-thread
 * work keeping that many cores busy can leave the JS thread on this host. Where the kernel shares the CPU
 * between sessions (Linux autogroup) and other sessions keep the cores busy, our process's busy threads delay
 * its own main thread whatever their nice value; on a quiet host this stays near 100 %.
 */
export async function busyShare(ms = 1000, threads = 2): Promise<number> {
  const code = `const end = Date.now() + ${ms + 300}; while (Date.now() < end);`;
  const ws = Array.from({ length: threads }, () => new Worker(code, { eval: true }));
  await Promise.all(ws.map((w) => new Promise((r) => w.once('online', r))));
  try {
    return (await ticksDuring(() => new Promise((r) => setTimeout(r, ms)))).share;
  } finally {
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

export const fmt = (t: Ticks<unknown>): string =>
  `${(100 * t.share).toFixed(0)} % of ticks in ${t.ms.toFixed(0)} ms (longest gap ${t.longestGapMs.toFixed(0)} ms)`;
