/**
 * One request on a scheduler: its input, its promise, and what may end it early — its caller's
 * AbortSignal (watched through the scheduler's AbortWatch) and its deadline. Settles exactly once; settling
 * stops watching the signal and clears the deadline timer, so a long-lived signal keeps nothing of a
 * finished request.
 */
import type { Dims4, NativeOutput, NativeRun } from '../native';
import type { AbortWatch } from './abort-watch';

/** Where a request is: waiting in the queue, in a forward that is computing, or done. */
export type RequestState = 'queued' | 'running' | 'settled';

/** Why a request ended before its result: the caller's signal fired, or its deadline passed. */
export type GiveUp = 'aborted' | 'timedOut';

const EMPTY = new Float32Array(0);

export class Request {
  readonly dims: Dims4;
  /** The input (N,C,H,W) NCHW f32: the caller's own array when the forward starts at the call, else a copy
   *  (a view of its failed batch's input when re-run alone). */
  data: Float32Array;
  /** What its forward computes besides the input (layers, taps, adaptive pool): the same for its batch. */
  readonly run: NativeRun | undefined;
  /** Batch key: the per-image dims 'C,H,W' and the run. */
  readonly key: string;
  /** The deadline from the call, ms (undefined: none). */
  readonly timeoutMs: number | undefined;
  /** performance.now() at the call. */
  readonly submittedAt: number;
  /** performance.now() when its forward started (running state). */
  startedAt = 0;
  state: RequestState = 'queued';
  /** Runs in a forward of its own (an `own` forward, or set when a batch it was in failed: see Scheduler). */
  alone = false;
  /** Its own forward instead of `data` (Submission.own), and what frees that forward's unwanted outputs. */
  own: (() => Promise<NativeOutput[]>) | undefined;
  discard: ((outputs: NativeOutput[]) => void) | undefined;
  /** Resolves to its part of each output of its forward (NativeNetwork.forward with a run). */
  readonly promise: Promise<NativeOutput[]>;
  private resolveFn!: (y: NativeOutput[]) => void;
  private rejectFn!: (e: unknown) => void;
  private readonly signal: AbortSignal | undefined;
  private readonly watch: AbortWatch<Request>;
  private timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param watch  the scheduler's watch of abort signals (it calls the scheduler when `signal` fires)
   * @param onTimeout  called once when the deadline passes before the request settled; it decides what to
   *   do (remove from the queue, reject) — the request itself does nothing
   */
  constructor(
    dims: Dims4,
    data: Float32Array,
    run: NativeRun | undefined,
    now: number,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    watch: AbortWatch<Request>,
    onTimeout: (r: Request) => void,
  ) {
    this.dims = dims;
    this.data = data;
    this.run = run;
    this.key = `${dims[1]},${dims[2]},${dims[3]}|${run === undefined ? '' : JSON.stringify(run)}`;
    this.submittedAt = now;
    this.timeoutMs = timeoutMs;
    this.promise = new Promise<NativeOutput[]>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    this.signal = signal;
    this.watch = watch;
    if (signal) watch.add(signal, this);
    if (timeoutMs !== undefined) this.timer = setTimeout(() => onTimeout(this), timeoutMs);
  }

  /** Images in the request (its N). */
  get images(): number {
    return this.dims[0];
  }

  /** Why the caller's signal fired (AbortSignal.reason), for AbortedError's cause. */
  get abortReason(): unknown {
    return this.signal?.reason;
  }

  resolve(y: NativeOutput[]): void {
    if (this.finish()) this.resolveFn(y);
  }

  reject(e: unknown): void {
    if (this.finish()) this.rejectFn(e);
  }

  /** Marks the request settled and drops its listener and timer; false when it already was. */
  private finish(): boolean {
    if (this.state === 'settled') return false;
    this.state = 'settled';
    if (this.signal) this.watch.remove(this.signal, this);
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.data = EMPTY; // a copied input is not kept alive by whoever still holds the request
    return true;
  }
}
