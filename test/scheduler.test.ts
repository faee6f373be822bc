// The per-model scheduler (lib/scheduler): dynamic batching gives each caller what a forward of its own
// input gives, bit for bit; a full queue refuses at once; abort signals and deadlines drop queued work (it is
// never computed) and reject running work at once; dispose() rejects what waits; the counters add up.
// Real forwards of small configs throughout: what was computed is read from the counters.
import { spawnSync } from 'child_process';
import { getEventListeners } from 'events';
import * as path from 'path';

import {
  AbortedError,
  BusyError,
  DisposedError,
  InvalidArgumentError,
  loadClassifier,
  Model,
  SchedulerStats,
  Tensor,
  TimeoutError,
  VggConfig,
} from '../lib';
import { fillUniform } from '../lib/random';
import { small } from './support/configs';
import { testIf } from './support/skip';

function input(dims: number[], seed: number): Tensor {
  return new Tensor(dims, fillUniform(new Float32Array(dims.reduce((a, b) => a * b, 1)), -1, 1, seed));
}

/** The same bits (not only the same values: -0 vs 0 and NaN payloads count). */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  const [u, v] = [new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length)];
  return u.length === v.length && u.every((w, i) => w === v[i]);
}

/** Every request is in exactly one place: see SchedulerStats. */
function accounted(s: SchedulerStats): number {
  return s.queued + s.running + s.completed + s.failed + s.rejectedBusy + s.aborted + s.timedOut + s.droppedOnDispose;
}

/** How a promise ended, without an unhandled rejection while it is pending. */
function outcome<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

// Slow enough (a 512×512 dense forward: ~0.2 s on one thread) that work queued behind it is still waiting
// when the test acts on it.
const slow: VggConfig = {
  name: 'slow',
  inChannels: 3,
  inputSize: 32,
  stages: [[32, 32], [64]],
  fc: [32],
  numClasses: 4,
};
const BLOCKER = [1, 3, 512, 512];
const IMG = [1, 3, 32, 32];

describe('dynamic batching', () => {
  // small's FC6 is a 4×4 kernel: at 64×64 dense evaluation every layer has many output columns, a path
  // whose per-image result does not depend on the batch.
  test('coalesced requests get, bit for bit, what each gets alone; different dims are not coalesced', async () => {
    const m = await Model.random(small, 5, { device: 'cpu', maxBatch: 4, maxDelayMs: 50 });
    const at = (n: number, s: number, seed: number) => input([n, 3, s, s], seed);
    // A, B, C (N=2) fill a batch of 4 at 64×64 (H, 80×80, between them, is not of it); H runs alone when
    // maxDelayMs has passed; D (N=5 > maxBatch) runs alone; E, F, G form the last batch.
    const xs = [
      at(1, 64, 1),
      at(1, 64, 2),
      at(1, 80, 3),
      at(2, 64, 4),
      at(5, 64, 5),
      at(1, 64, 6),
      at(1, 64, 7),
      at(1, 64, 8),
    ];
    const alone = xs.map((x) => m.forwardSync(x, { mode: 'dense' }).data);
    const got = await Promise.all(xs.map((x) => m.forward(x, { mode: 'dense' })));
    got.forEach((y, i) => {
      expect(y.dims).toEqual([xs[i].dims[0], 5, ...(xs[i].dims[2] === 64 ? [13, 13] : [17, 17])]);
      expect(sameBits(y.data, alone[i])).toBe(true);
    });
    const s = m.stats();
    expect(s.batchSizes).toEqual({ 4: 1, 1: 1, 5: 1, 3: 1 });
    expect(s.batches).toBe(4);
    expect(s.batchedItems).toBe(13);
    expect(s.batchedRequests).toBe(8);
    expect(s.completed).toBe(8);
    m.dispose();
  });

  test('inputs are taken at the call: a caller refilling its buffer while its request waits is harmless', async () => {
    const m = await Model.random(small, 6, { device: 'cpu', maxBatch: 8, maxDelayMs: 30 });
    const x = input([1, 3, 64, 64], 9);
    const want = m.forwardSync(x, { mode: 'dense' }).data;
    const own = new Tensor([1, 3, 64, 64], x.data.slice());
    const pending = [m.forward(own, { mode: 'dense' }), m.forward(own, { mode: 'dense' })];
    own.data.fill(0);
    for (const y of await Promise.all(pending)) expect(sameBits(y.data, want)).toBe(true);
    expect(m.stats().batchSizes).toEqual({ 2: 1 });
    m.dispose();
  });

  test('maxBatch 1 runs every request alone', async () => {
    const m = await Model.random(small, 7, { device: 'cpu', maxBatch: 1 });
    await Promise.all([1, 2, 3].map((s) => m.forward(input([1, 3, 16, 16], s))));
    expect(m.stats().batchSizes).toEqual({ 1: 3 });
    m.dispose();
  });

  // Depends on engineer K's batch-invariant FC layers: before them, the FC head at one image runs a GEMV
  // and at several a GEMM, whose sums round differently (by up to ~3e-5).
  test('fc mode (FC head, one output column per image): batched = alone, bit for bit, on the MNIST model', async () => {
    const c = await loadClassifier(undefined, { device: 'cpu', maxBatch: 8, maxDelayMs: 50 });
    const xs = [1, 2, 3, 4, 5, 6, 7, 8].map((s) => input([1, 1, 28, 28], s));
    const alone = xs.map((x) => c.model.forwardSync(x).data);
    // fc and dense at the training size run the same computation: they share a batch
    const got = await Promise.all(xs.map((x, i) => c.model.forward(x, { mode: i % 2 ? 'dense' : 'fc' })));
    expect(c.model.stats().batchSizes).toEqual({ 8: 1 });
    got.forEach((y, i) => {
      expect(y.dims).toEqual(i % 2 ? [1, 10, 1, 1] : [1, 10]);
      expect(sameBits(y.data, alone[i])).toBe(true);
    });
    c.model.dispose();
  });
});

describe('bounded queue, deadlines, cancellation', () => {
  test('a full queue refuses at once with BusyError; nothing is computed for the refused call', async () => {
    const m = await Model.random(slow, 1, { device: 'cpu', threads: 1, maxQueue: 2, maxBatch: 1 });
    const blocker = m.forward(input(BLOCKER, 1), { mode: 'dense' });
    const queued = [m.forward(input(IMG, 2)), m.forward(input(IMG, 3))];
    const refused = await outcome(m.forward(input(IMG, 4)));
    expect(m.stats()).toMatchObject({ running: 1, queued: 2, rejectedBusy: 1 }); // refused before the blocker ended
    expect(!refused.ok && refused.error).toBeInstanceOf(BusyError);
    expect(!refused.ok && (refused.error as BusyError).code).toBe('ERR_VGG_BUSY');
    expect(!refused.ok && (refused.error as Error).message).toMatch(
      /^Model\.forward \(slow\): the queue is full \(maxQueue: 2 requests waiting, this would be request 3\); retry later$/,
    );
    await Promise.all([blocker, ...queued]);
    const s = m.stats();
    expect(s).toMatchObject({ submitted: 4, completed: 3, rejectedBusy: 1, batches: 3, batchedItems: 3 });
    expect(accounted(s)).toBe(s.submitted);
    m.dispose();
  });

  test('queued requests whose caller aborted or whose deadline passed are dropped: never computed', async () => {
    const m = await Model.random(slow, 1, { device: 'cpu', threads: 1, maxBatch: 1 });
    const blocker = outcome(m.forward(input(BLOCKER, 1), { mode: 'dense' }));
    const ac = new AbortController();
    const aborted = outcome(m.forward(input(IMG, 2), { signal: ac.signal }));
    const late = m.forward(input(IMG, 3), { timeoutMs: 1 });
    const kept = outcome(m.forward(input(IMG, 4), { signal: ac.signal, timeoutMs: 60_000 }));
    const before = new AbortController();
    before.abort(new Error('gone before'));
    const already = await outcome(m.forward(input(IMG, 5), { signal: before.signal }));
    expect(m.stats()).toMatchObject({ running: 1, queued: 3, aborted: 1 });

    ac.abort('client left'); // `kept` has the same signal: it is aborted too
    const lateOutcome = await outcome(late);
    // both rejected while the blocker still computes, before anything behind it ran
    expect(m.stats()).toMatchObject({ running: 1, queued: 0, batches: 1, aborted: 3, timedOut: 1 });

    const a = await aborted;
    expect(!a.ok && a.error).toBeInstanceOf(AbortedError);
    expect(!a.ok && (a.error as AbortedError).code).toBe('ERR_VGG_ABORTED');
    expect(!a.ok && (a.error as Error).cause).toBe('client left');
    expect(!a.ok && (a.error as Error).message).toMatch(
      /aborted by the caller's signal while queued \(it was never computed\)/,
    );
    expect(!already.ok && already.error).toBeInstanceOf(AbortedError);
    expect(!already.ok && ((already.error as Error).cause as Error).message).toBe('gone before');
    expect(!lateOutcome.ok && lateOutcome.error).toBeInstanceOf(TimeoutError);
    expect(!lateOutcome.ok && (lateOutcome.error as Error).message).toMatch(
      /^Model\.forward \(slow\): no result within timeoutMs 1 ms; it passed while queued \(it was never computed\)/,
    );
    expect((await kept).ok).toBe(false);
    expect((await blocker).ok).toBe(true);
    const s = m.stats();
    // only the blocker was ever computed
    expect(s).toMatchObject({ batches: 1, batchedItems: 1, batchSizes: { 1: 1 }, completed: 1, discarded: 0 });
    expect(s.submitted).toBe(5);
    expect(accounted(s)).toBe(s.submitted);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    m.dispose();
  });

  test('a signal or deadline firing while the batch computes rejects at once; the result is discarded', async () => {
    const m = await Model.random(slow, 1, { device: 'cpu', threads: 1, maxBatch: 1 });
    const ac = new AbortController();
    const running = outcome(m.forward(input(BLOCKER, 1), { mode: 'dense', signal: ac.signal }));
    const next = m.forward(input(IMG, 2), { timeoutMs: 30 }); // waits behind the computing forward
    setTimeout(() => ac.abort(new Error('stop')), 10);
    const r = await running;
    expect(m.stats()).toMatchObject({ running: 0, queued: 1, batches: 1, aborted: 1, discarded: 1 });
    expect(!r.ok && r.error).toBeInstanceOf(AbortedError);
    expect(!r.ok && (r.error as Error).message).toMatch(/while its forward was computing \(its result is discarded\)/);
    // one forward at a time: the abandoned forward still runs to its end, and `next` times out behind it
    await expect(next).rejects.toThrow(/no result within timeoutMs 30 ms; it passed while queued/);
    await m.forward(input(IMG, 3)); // starts once the abandoned forward has ended
    const s = m.stats();
    expect(s).toMatchObject({ batches: 2, batchedItems: 2, completed: 1, aborted: 1, timedOut: 1, discarded: 1 });
    expect(accounted(s)).toBe(s.submitted);
    m.dispose();
  });

  test('a signal shared by many requests has one listener while they are pending, none after; no timer is left', async () => {
    const m = await Model.random(small, 2, { device: 'cpu', maxBatch: 4 });
    const ac = new AbortController();
    const calls = Array.from({ length: 40 }, (_, i) =>
      m.forward(input([1, 3, 16, 16], i), { signal: ac.signal, timeoutMs: 30_000 }),
    );
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1); // one per signal, not one per request
    await Promise.all(calls);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    // the 30 s deadline timers were cleared: nothing keeps the event loop alive
    const handles = (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo();
    expect(handles.filter((h) => h === 'Timeout').length).toBeLessThan(5);
    m.dispose();
  });

  test('dispose() rejects queued requests with DisposedError; the running forward completes', async () => {
    const m = await Model.random(slow, 1, { device: 'cpu', threads: 1, maxBatch: 1 });
    const running = m.forward(input(BLOCKER, 1), { mode: 'dense' });
    const queued = [2, 3, 4].map((s) => outcome(m.forward(input(IMG, s))));
    m.dispose();
    for (const q of await Promise.all(queued)) {
      expect(!q.ok && q.error).toBeInstanceOf(DisposedError);
      expect(!q.ok && (q.error as Error).message).toBe(
        'Model.forward (slow): the model was disposed while the request was queued',
      );
    }
    expect((await running).dims).toEqual([1, 4, 121, 121]);
    await expect(m.forward(input(IMG, 5))).rejects.toBeInstanceOf(DisposedError);
    const s = m.stats();
    expect(s).toMatchObject({ droppedOnDispose: 3, completed: 1, batches: 1, batchedItems: 1 });
    expect(accounted(s)).toBe(s.submitted);
  });

  test('per-call options are checked: coded errors naming option, expected and got', async () => {
    const m = await Model.random(small, 1, { device: 'cpu' });
    const x = input([1, 3, 16, 16], 1);
    for (const [o, re] of [
      [{ timeoutMs: 0 }, /^options\.timeoutMs: expected a number of ms in \(0, 2147483647\], got number 0$/],
      [{ timeoutMs: -5 }, /^options\.timeoutMs: .* got number -5$/],
      [{ timeoutMs: NaN }, /^options\.timeoutMs: .* got number NaN$/],
      [{ timeoutMs: Infinity }, /^options\.timeoutMs: .* got number Infinity$/],
      [{ timeoutMs: '5' }, /^options\.timeoutMs: .* got '5'$/],
      [{ signal: {} }, /^options\.signal: expected an AbortSignal, got object$/],
      [{ signal: null }, /^options\.signal: expected an AbortSignal, got null$/],
    ] as [object, RegExp][]) {
      await expect(m.forward(x, o)).rejects.toThrow(re);
      await expect(m.forward(x, o)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    expect(() => m.forwardSync(x, { timeoutMs: 5 })).toThrow(
      /^options\.timeoutMs: forwardSync cannot be cancelled; use forward\(\)$/,
    );
    expect(() => m.forwardSync(x, { signal: new AbortController().signal })).toThrow(InvalidArgumentError);
    expect(m.stats().submitted).toBe(0); // invalid calls never reach the scheduler
    m.dispose();
  });
});

describe('counters', () => {
  test('add up over a mixed run; batch sizes sum to the images computed; times are counted', async () => {
    const m = await Model.random(small, 3, { device: 'cpu', maxBatch: 3, maxQueue: 6, maxDelayMs: 5 });
    const ac = new AbortController();
    const calls = Array.from({ length: 12 }, (_, i) =>
      outcome(m.forward(input([1 + (i % 2), 3, 16, 16], i), i === 4 ? { signal: ac.signal } : {})),
    );
    ac.abort();
    const results = await Promise.all(calls);
    const s = m.stats();
    expect(s.submitted).toBe(12);
    expect(s.rejectedBusy).toBe(results.filter((r) => !r.ok && r.error instanceof BusyError).length);
    // calls 0 and 1 (3 images) fill a batch at once; 2–7 wait (maxQueue 6); 8–11 are refused; 4 is aborted
    expect(s.rejectedBusy).toBe(4);
    expect(s.aborted).toBe(1);
    expect(s.completed).toBe(results.filter((r) => r.ok).length);
    expect(s.completed).toBe(7);
    expect(accounted(s)).toBe(12);
    expect(Object.values(s.batchSizes).reduce((a, n) => a + n, 0)).toBe(s.batches);
    expect(Object.entries(s.batchSizes).reduce((a, [k, n]) => a + Number(k) * n, 0)).toBe(s.batchedItems);
    expect(s.batchedRequests).toBe(7);
    expect(Object.keys(s.batchSizes).every((k) => Number(k) <= 3)).toBe(true);
    expect(s.computeMsSum).toBeGreaterThan(0);
    expect(s.waitMsSum).toBeGreaterThan(0);
    expect(s.latencyMsSum).toBeGreaterThanOrEqual(s.waitMsSum);
    expect(s).toMatchObject({ queued: 0, queuedImages: 0, running: 0, failed: 0 });
    const copy = m.stats();
    copy.batchSizes[99] = 1;
    expect(m.stats().batchSizes[99]).toBeUndefined(); // stats() is a copy
    expect(m.schedulerOptions).toEqual({ maxQueue: 6, maxBatch: 3, maxDelayMs: 5 });
    m.dispose();
  });
});

describe('a failed batch', () => {
  // Four 1024×1024 dense views of a net whose first conv has 64 channels: one view needs 2 × 256 MB of
  // activations, the batch of four 2 × 1 GB. Under a 2.5 GB address-space limit the batch's plan cannot be
  // allocated (DeviceError) while each view alone can: each caller must get what its own forward gives.
  // In a child process, so the limit does not apply to jest.
  testIf(process.platform === 'linux', 'uses bash ulimit -v (Linux only)')(
    "its requests are re-run one by one: each gets the outcome of its own forward, not its neighbours'",
    () => {
      const script = `
        const v = require(${JSON.stringify(path.resolve(__dirname, '..', 'dist'))});
        const cfg = { name: 'wide1', inChannels: 3, inputSize: 16, stages: [[64]], fc: [8], numClasses: 3 };
        const m = v.Model.randomSync(cfg, 1, { device: 'cpu', threads: 1, maxBatch: 4, maxDelayMs: 1000 });
        const n = 3 * 1024 * 1024;
        const xs = [0, 1, 2, 3].map((i) => new v.Tensor([1, 3, 1024, 1024], new Float32Array(n).fill(0.25 * i - 0.3)));
        const same = (a, b) => Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer));
        (async () => {
          const ys = await Promise.all(xs.map((x) => m.forward(x, { mode: 'dense' })));
          const alone = await m.forward(xs[3], { mode: 'dense' });
          const s = m.stats();
          console.log(JSON.stringify({ sameAsAlone: same(ys[3], alone), distinct: !same(ys[0], ys[3]),
            retriedAlone: s.retriedAlone, failed: s.failed, completed: s.completed, batchSizes: s.batchSizes }));
        })().catch((e) => console.log(JSON.stringify({ error: e.code, message: e.message })));`;
      const r = spawnSync('bash', ['-c', `ulimit -v 2500000; exec "${process.execPath}" -e "$0"`, script], {
        encoding: 'utf8',
        env: { ...process.env, MALLOC_ARENA_MAX: '1' }, // glibc reserves 64 MB of address space per arena
      });
      expect(r.status).toBe(0);
      expect(JSON.parse(r.stdout.trim())).toEqual({
        sameAsAlone: true,
        distinct: true,
        retriedAlone: 4,
        failed: 0,
        completed: 5,
        batchSizes: { 4: 1, 1: 5 },
      });
    },
  );
});
