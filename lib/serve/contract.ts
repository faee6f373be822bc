/**
 * What the server takes from a model's scheduler (ModelOptions maxQueue/maxBatch/maxDelayMs, ForwardOptions
 * signal/timeoutMs, Model.stats()): the few reads the routes and the metrics need, in one place.
 */
import type { Classifier, ForwardOptions, ModelOptions, SchedulerStats } from '../index';

export type { SchedulerStats } from '../index';

/** The scheduling model options (see ModelOptions): queue bound, images per forward, batching delay in ms. */
export type SchedulingModelOptions = Pick<ModelOptions, 'maxQueue' | 'maxBatch' | 'maxDelayMs'>;

/** What a call carries to the scheduler: the caller's AbortSignal and a deadline in ms from the call. */
export type CallScheduling = Pick<ForwardOptions, 'signal' | 'timeoutMs'>;

/** The per-call scheduling fields that are set (an explicit undefined is left out). */
export function callScheduling(s: CallScheduling): CallScheduling {
  const out: CallScheduling = {};
  if (s.signal) out.signal = s.signal;
  if (s.timeoutMs !== undefined) out.timeoutMs = s.timeoutMs;
  return out;
}

/** The model's scheduler counters, or undefined before a model is attached or after it is disposed. */
export function schedulerStats(c: Classifier | undefined): SchedulerStats | undefined {
  return c && !c.model.disposed ? c.model.stats() : undefined;
}
