/**
 * The scheduler of one model: a bounded FIFO queue of forward requests, their deadlines and abort signals,
 * and dynamic batching. One forward runs at a time. When none is running, the request at the head of the
 * queue forms a batch with the waiting requests of the same per-image dims [C,H,W] (in queue order, up to
 * maxBatch images in all; a request of more than maxBatch images runs alone) and the batch starts when it
 * is full or the head has waited maxDelayMs. The forward computes the batch as one input (ΣN, C, H, W) and
 * each request gets its own images' part of the output.
 *
 * A request that gives up (its signal fires, its deadline passes) is rejected at once: if it was queued it
 * leaves the queue and is never computed; if its batch is computing, its part of the result is discarded.
 *
 * A caller's outcome does not depend on whom it was batched with: when a forward of several requests fails
 * (e.g. out of memory, or over a memory budget, for ΣN images where each request alone fits), its requests go
 * back to the head of the queue, in order, and each runs in a forward of its own; a request fails only with
 * the error of its own forward.
 */
import { AbortedError, BusyError, DisposedError, TimeoutError } from '../errors';
import type { Dims4, NativeOutput, NativeRun } from '../native';
import { AbortWatch } from './abort-watch';
import { gatherInputs, splitOutput } from './batch';
import { GiveUp, Request } from './request';
import { emptyStats, SchedulerStats, snapshotStats } from './stats';

/** The scheduling model options, resolved (see ModelOptions). */
export interface SchedulerOptions {
  maxQueue: number;
  maxBatch: number;
  maxDelayMs: number;
}

/** One request as a caller hands it over. */
export interface Submission {
  /** (N,C,H,W) NCHW, already checked. */
  dims: Dims4;
  /** N·C·H·W f32, NCHW. Copied when the forward does not start at the call: the caller may reuse it. */
  data: Float32Array;
  /** What the forward computes besides the input; only requests with equal runs share a forward. */
  run?: NativeRun;
  signal?: AbortSignal;
  /** Deadline from the call, ms. */
  timeoutMs?: number;
  /**
   * A forward of its own instead of RunForward on `data` (device-resident input or outputs: nothing to copy
   * or coalesce): queued, bounded, cancelled and counted like any request, never batched; `data` is unused.
   */
  own?: () => Promise<NativeOutput[]>;
  /** Frees the outputs of an `own` forward whose caller gave up while it computed (no one else gets them). */
  discard?: (outputs: NativeOutput[]) => void;
}

/**
 * Runs one forward: x (N,C,H,W) → its outputs (each (N, …) with each image's part contiguous: the result,
 * then the taps of `run`). It must copy `x` before returning (the caller's array may be reused at once), and
 * may throw synchronously or reject.
 */
export type RunForward = (dims: Dims4, x: Float32Array, run: NativeRun | undefined) => Promise<Float32Array[]>;

export class Scheduler {
  readonly options: Readonly<SchedulerOptions>;
  private readonly run: RunForward;
  /** How requests are named in messages: 'Model.forward (tiny)'. */
  private readonly label: string;
  private readonly copy: (x: Float32Array) => Float32Array;
  private readonly queue: Request[] = [];
  private running: Request[] | null = null;
  private delay: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private readonly counters: SchedulerStats = emptyStats();
  private readonly signals = new AbortWatch<Request>((r) => this.giveUp(r, 'aborted'));

  /**
   * @param copy  copies an input that has to wait (may throw, e.g. DeviceError when out of memory)
   */
  constructor(
    options: SchedulerOptions,
    run: RunForward,
    label: string,
    copy: (x: Float32Array) => Float32Array = (x) => x.slice(),
  ) {
    this.options = Object.freeze({ ...options });
    this.run = run;
    this.label = label;
    this.copy = copy;
  }

  /**
   * Queues a request, or starts it at once when the model is idle, nothing waits and no delay applies.
   * @returns the request's part (N, …) of each output of its forward
   * @throws (rejects) AbortedError (signal already aborted, or fired before the result; cause: its reason),
   *   TimeoutError (timeoutMs passed first), BusyError (maxQueue requests already wait), DisposedError (the
   *   scheduler was closed), or the forward's own error
   */
  submit(s: Submission): Promise<NativeOutput[]> {
    const c = this.counters;
    if (this.closed) return Promise.reject(new DisposedError(`${this.label}: the model was disposed`));
    c.submitted++;
    if (s.signal?.aborted) {
      c.aborted++;
      return Promise.reject(
        new AbortedError(`${this.label}: aborted before the call (the signal had already fired)`, {
          cause: s.signal.reason,
        }),
      );
    }
    const startsNow =
      this.running === null &&
      this.queue.length === 0 &&
      (this.options.maxDelayMs === 0 || s.dims[0] >= this.options.maxBatch);
    if (!startsNow && this.queue.length >= this.options.maxQueue) {
      c.rejectedBusy++;
      return Promise.reject(
        new BusyError(
          `${this.label}: the queue is full (maxQueue: ${this.options.maxQueue} requests waiting, ` +
            `this would be request ${this.queue.length + 1}); retry later`,
        ),
      );
    }
    let data: Float32Array;
    try {
      data = startsNow || s.own ? s.data : this.copy(s.data);
    } catch (e) {
      c.failed++;
      return Promise.reject(e);
    }
    const r = new Request(s.dims, data, s.run, performance.now(), s.signal, s.timeoutMs, this.signals, (q) =>
      this.giveUp(q, 'timedOut'),
    );
    r.own = s.own;
    r.discard = s.discard;
    r.alone = s.own !== undefined;
    this.queue.push(r);
    c.queued++;
    c.queuedImages += r.images;
    this.pump();
    return r.promise;
  }

  /** The counters now (a copy). */
  stats(): SchedulerStats {
    return snapshotStats(this.counters);
  }

  /**
   * Refuses new requests (DisposedError) and rejects the queued ones with DisposedError (never computed); the
   * forward computing now completes and its requests get their results. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearDelay();
    const c = this.counters;
    for (const r of this.queue.splice(0)) {
      c.queued--;
      c.queuedImages -= r.images;
      c.droppedOnDispose++;
      r.reject(new DisposedError(`${this.label}: the model was disposed while the request was queued`));
    }
  }

  /** Starts the next batch when the model is idle and the head's batch is full or has waited long enough. */
  private pump(): void {
    if (this.running !== null || this.closed) return;
    this.clearDelay();
    if (this.queue.length === 0) return;
    const head = this.queue[0];
    const { batch, full } = this.collect(head);
    const waited = performance.now() - head.submittedAt;
    if (full || waited >= this.options.maxDelayMs) this.start(batch);
    else this.delay = setTimeout(() => this.pump(), this.options.maxDelayMs - waited);
  }

  /**
   * The head's batch: the head, then the waiting requests with its key, in queue order, while the images
   * fit in maxBatch (one that does not fit is passed over: a later, smaller one may). Full when the batch
   * reached maxBatch images or a request with the key had to be passed over.
   */
  private collect(head: Request): { batch: Request[]; full: boolean } {
    const max = this.options.maxBatch;
    if (head.images >= max || head.alone) return { batch: [head], full: true };
    const batch = [head];
    let images = head.images,
      passedOver = false;
    for (let i = 1; i < this.queue.length && images < max; i++) {
      const r = this.queue[i];
      if (r.key !== head.key || r.alone) continue;
      if (images + r.images > max) passedOver = true;
      else {
        batch.push(r);
        images += r.images;
      }
    }
    return { batch, full: passedOver || images >= max };
  }

  private start(batch: Request[]): void {
    const c = this.counters;
    const now = performance.now();
    const members = new Set(batch);
    const rest = this.queue.filter((r) => !members.has(r));
    this.queue.length = 0;
    this.queue.push(...rest);
    let images = 0;
    for (const r of batch) {
      r.state = 'running';
      r.startedAt = now;
      images += r.images;
      c.queued--;
      c.queuedImages -= r.images;
      c.running++;
      c.waitMsSum += now - r.submittedAt;
    }
    c.batches++;
    c.batchedItems += images;
    c.batchedRequests += batch.length;
    c.batchSizes[images] = (c.batchSizes[images] ?? 0) + 1;
    const [, C, H, W] = batch[0].dims;
    let forward: Promise<NativeOutput[]>;
    let x: Float32Array | undefined;
    const own = batch[0].own; // an own forward is always alone
    try {
      if (own) forward = own();
      else {
        x = gatherInputs(batch.map((r) => r.data));
        forward = this.run([images, C, H, W], x, batch[0].run);
      }
    } catch (e) {
      forward = Promise.reject(e);
    }
    this.running = batch;
    // The forward has its own copy now; the gathered input is kept only to re-run the requests of a failed
    // batch one by one (a single request is never re-run).
    const inputs = batch.length > 1 && x ? x : undefined;
    for (const r of batch) r.data = new Float32Array(0);
    forward.then(
      (ys) => {
        const done = performance.now();
        c.computeMsSum += done - now;
        const parts = own ? [ys] : split(ys as Float32Array[], batch);
        batch.forEach((r, i) => {
          if (r.state !== 'running') return r.discard?.(parts[i]); // gave up while computing: counted then
          c.running--;
          c.completed++;
          c.latencyMsSum += done - r.submittedAt;
          r.resolve(parts[i]);
        });
        this.finishBatch();
      },
      (e: unknown) => {
        c.computeMsSum += performance.now() - now;
        if (inputs && !this.closed) this.requeueAlone(batch, inputs);
        else
          for (const r of batch) {
            if (r.state !== 'running') continue;
            c.running--;
            c.failed++;
            r.reject(e);
          }
        this.finishBatch();
      },
    );
  }

  /** The requests of a failed batch that still wait for a result go back to the head, each to run alone. */
  private requeueAlone(batch: Request[], inputs: Float32Array): void {
    const c = this.counters;
    const back: Request[] = [];
    const perImage = inputs.length / batch.reduce((a, r) => a + r.images, 0);
    let at = 0;
    for (const r of batch) {
      const length = r.images * perImage;
      if (r.state === 'running') {
        r.data = inputs.subarray(at, at + length);
        r.state = 'queued';
        r.alone = true;
        c.running--;
        c.queued++;
        c.queuedImages += r.images;
        c.retriedAlone++;
        back.push(r);
      }
      at += length;
    }
    this.queue.unshift(...back);
  }

  private finishBatch(): void {
    this.running = null;
    this.pump();
  }

  /** A request's signal fired or its deadline passed: reject it now; if queued, it leaves the queue. */
  private giveUp(r: Request, why: GiveUp): void {
    const c = this.counters;
    if (r.state === 'settled') return;
    const wasRunning = r.state === 'running';
    if (wasRunning) {
      c.running--;
      c.discarded++;
    } else {
      this.queue.splice(this.queue.indexOf(r), 1);
      c.queued--;
      c.queuedImages -= r.images;
    }
    const where = wasRunning
      ? 'while its forward was computing (its result is discarded)'
      : 'while queued (it was never computed)';
    const elapsed = (performance.now() - r.submittedAt).toFixed(1);
    if (why === 'aborted') {
      c.aborted++;
      r.reject(
        new AbortedError(`${this.label}: aborted by the caller's signal ${where}, after ${elapsed} ms`, {
          cause: r.abortReason,
        }),
      );
    } else {
      c.timedOut++;
      r.reject(
        new TimeoutError(
          `${this.label}: no result within timeoutMs ${Math.round(r.timeoutMs! * 10) / 10} ms; it passed ${where}, after ${elapsed} ms`,
        ),
      );
    }
    if (!wasRunning) this.pump(); // the head may have changed, and with it the batch
  }

  private clearDelay(): void {
    if (this.delay !== undefined) clearTimeout(this.delay);
    this.delay = undefined;
  }
}

/** Each request's part of each output of a forward of the batch. */
function split(ys: Float32Array[], batch: readonly Request[]): Float32Array[][] {
  const byOutput = ys.map((y) =>
    splitOutput(
      y,
      batch.map((r) => r.images),
    ),
  );
  return batch.map((_, i) => byOutput.map((p) => p[i]));
}
