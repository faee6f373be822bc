/** The per-model scheduler: bounded queue, deadlines and abort signals, dynamic batching, counters. */
export { Scheduler, SchedulerOptions, Submission, RunForward } from './scheduler';
export { SchedulerStats } from './stats';
