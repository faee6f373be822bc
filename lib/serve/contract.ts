/**
 * The scheduler contract of issue 9 (engineer B's work: ModelOptions maxQueue/maxBatch/maxDelayMs,
 * ForwardOptions/ClassifyOptions signal/timeoutMs, Model.stats()), as the server uses it, written so that
 * this code compiles and runs whether or not the scheduler is in the library yet: `schedulerPresent` says
 * whether the library knows the options (its defaults list maxBatch), and only then are they passed on.
 * When the scheduler is on main this file shrinks to the types it re-exports.
 */
import { Classifier, DEFAULT_MODEL_OPTIONS, Model } from '../index';

/** True when the library has the per-model scheduler (ModelOptions.maxBatch has a default). */
export const schedulerPresent = Object.prototype.hasOwnProperty.call(DEFAULT_MODEL_OPTIONS, 'maxBatch');

/** The scheduling model options (see ModelOptions): queue bound, images per forward, batching delay in ms. */
export interface SchedulingModelOptions {
  maxQueue?: number;
  maxBatch?: number;
  maxDelayMs?: number;
}

/** What a call may carry to the scheduler: the caller's AbortSignal and a deadline in ms from the call. */
export interface CallScheduling {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/**
 * The counters of a model's scheduler (Model.stats()); the fields the server exports to Prometheus.
 * Times in ms; batchSizes[n] = forwards that computed n images.
 */
export interface SchedulerStats {
  queued: number;
  running: number;
  submitted: number;
  completed: number;
  failed: number;
  rejectedBusy: number;
  aborted: number;
  timedOut: number;
  batches: number;
  batchedItems: number;
  waitMsSum: number;
  computeMsSum: number;
  batchSizes: Record<number, number>;
  /** Of aborted + timedOut: requests whose batch was already computing when they gave up (result discarded). */
  discarded?: number;
}

/** The per-call scheduling fields when the library takes them, else nothing (an unknown option would throw). */
export function callScheduling(s: CallScheduling): CallScheduling {
  if (!schedulerPresent) return {};
  const out: CallScheduling = {};
  if (s.signal) out.signal = s.signal;
  if (s.timeoutMs !== undefined) out.timeoutMs = s.timeoutMs;
  return out;
}

type ScheduledModel = Model & { stats?: () => SchedulerStats; schedulerOptions?: Readonly<SchedulingModelOptions> };

/** The model's scheduler counters, or undefined when the library has no scheduler yet. */
export function schedulerStats(c: Classifier | undefined): SchedulerStats | undefined {
  const model = c?.model as ScheduledModel | undefined;
  if (!model || model.disposed || typeof model.stats !== 'function') return undefined;
  return model.stats();
}

/**
 * The model's queue bound (ModelOptions.maxQueue) and how many requests wait now, or undefined when the
 * library has no scheduler yet.
 */
export function queueDepth(c: Classifier | undefined): { queued: number; maxQueue: number } | undefined {
  const model = c?.model as ScheduledModel | undefined;
  const maxQueue = model?.schedulerOptions?.maxQueue;
  const stats = schedulerStats(c);
  return stats && maxQueue !== undefined ? { queued: stats.queued, maxQueue } : undefined;
}
