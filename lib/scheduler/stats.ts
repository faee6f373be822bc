/**
 * The counters of a model's scheduler (Model.stats()). Every request that passed validation is counted once
 * in `submitted` and, at any moment, in exactly one of the other request counters:
 *   submitted = queued + running + completed + failed + rejectedBusy + aborted + timedOut + droppedOnDispose.
 */
export interface SchedulerStats {
  /** Requests waiting in the queue now (at most ModelOptions.maxQueue). */
  queued: number;
  /** Images (the N of each request) waiting in the queue now. */
  queuedImages: number;
  /** Requests whose forward is computing now and that still wait for its result. */
  running: number;
  /** Model.forward calls with valid arguments made before dispose(), whatever became of them. */
  submitted: number;
  /** Requests resolved with their result. */
  completed: number;
  /** Requests rejected because their forward failed (DeviceError, …). */
  failed: number;
  /** Requests refused at once because the queue was full (BusyError); nothing was computed for them. */
  rejectedBusy: number;
  /** Requests rejected with AbortedError (their signal fired, or had fired before the call). */
  aborted: number;
  /** Requests rejected with TimeoutError (their timeoutMs passed). */
  timedOut: number;
  /** Requests still queued when the model was disposed (rejected with DisposedError, never computed). */
  droppedOnDispose: number;
  /**
   * Of aborted + timedOut: requests whose batch was already computing when they gave up (their result was
   * discarded). The others of aborted + timedOut left the queue and were never computed.
   */
  discarded: number;
  /**
   * Requests put back in the queue to run alone because the forward of the batch they were in failed (each
   * then gets the outcome of its own forward). Their images count again in batchedItems when they run.
   */
  retriedAlone: number;
  /** Forwards run by the scheduler (each one batch of one or more requests). */
  batches: number;
  /** Images computed by those forwards (the sum of their N). */
  batchedItems: number;
  /** Requests served by those forwards (a batch of several requests counts each). */
  batchedRequests: number;
  /** Forwards by images per forward: batchSizes[n] = how many forwards computed n images. */
  batchSizes: Record<number, number>;
  /** Sum over requests that reached a forward of the time they waited in the queue, ms. */
  waitMsSum: number;
  /** Sum over forwards of their compute time (the native forward, call to result), ms. */
  computeMsSum: number;
  /** Sum over completed requests of their latency (call to result), ms. */
  latencyMsSum: number;
}

/** All counters at zero. */
export function emptyStats(): SchedulerStats {
  return {
    queued: 0,
    queuedImages: 0,
    running: 0,
    submitted: 0,
    completed: 0,
    failed: 0,
    rejectedBusy: 0,
    aborted: 0,
    timedOut: 0,
    droppedOnDispose: 0,
    discarded: 0,
    retriedAlone: 0,
    batches: 0,
    batchedItems: 0,
    batchedRequests: 0,
    batchSizes: {},
    waitMsSum: 0,
    computeMsSum: 0,
    latencyMsSum: 0,
  };
}

/** A copy the caller may keep (batchSizes copied too). */
export function snapshotStats(s: SchedulerStats): SchedulerStats {
  return { ...s, batchSizes: { ...s.batchSizes } };
}
