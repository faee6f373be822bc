/**
 * Prometheus metrics of one server (prom-client, its own Registry, text format 0.0.4 on GET /metrics):
 *  - the process defaults (process_cpu_seconds_total, process_resident_memory_bytes, nodejs_eventloop_lag_*,
 *    nodejs_heap_*, …);
 *  - vggnet_http_request_duration_seconds{method, route, status_code}: a histogram of request durations,
 *    `route` the route's pattern ('/v2/models/:name/infer'; 'unmatched' for unknown paths);
 *  - vggnet_http_requests_in_flight: inference requests (classify, infer) admitted and not yet answered;
 *  - vggnet_http_shed_total: inference requests refused (503) before their image or tensor is decoded, most
 *    before their body is read, because those holding a slot (body read) filled maxQueue + maxBatch;
 *  - vggnet_model_ready: 1 when the server is ready, else 0;
 *  - the model scheduler's counters (Model.stats()), read at each scrape, while a model is loaded:
 *    vggnet_scheduler_{queued,running} gauges; counters vggnet_scheduler_{submitted, completed, failed,
 *    rejected_busy, aborted, timed_out, discarded, batches, batched_images}_total, vggnet_scheduler_{wait,compute}_
 *    seconds_total, and vggnet_scheduler_batch_size_total{images} (forwards by images per forward).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import type { SchedulerStats } from './contract';

/** Seconds: from a cached health check (~0.1 ms) to a vgg16 forward on two cores under load. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type CounterField =
  | 'submitted'
  | 'completed'
  | 'failed'
  | 'rejectedBusy'
  | 'aborted'
  | 'timedOut'
  | 'discarded'
  | 'batches'
  | 'batchedItems';

const COUNTERS: readonly [string, CounterField, string][] = [
  ['submitted', 'submitted', 'Requests handed to the model scheduler (valid arguments)'],
  ['completed', 'completed', 'Scheduler requests resolved with their result'],
  ['failed', 'failed', 'Scheduler requests whose forward failed'],
  ['rejected_busy', 'rejectedBusy', 'Scheduler requests refused at once because the queue was full'],
  ['aborted', 'aborted', "Scheduler requests dropped because their caller's signal fired (client gone)"],
  ['timed_out', 'timedOut', 'Scheduler requests whose deadline passed'],
  ['discarded', 'discarded', 'Of aborted and timed out: those whose batch was already computing (result discarded)'],
  ['batches', 'batches', 'Forwards run by the scheduler (one batch each)'],
  ['batched_images', 'batchedItems', 'Images computed by those forwards'],
];

export class ServeMetrics {
  readonly registry = new Registry();
  readonly inFlight: Gauge;
  /** Inference requests refused before decoding (most before their body is read): slots full (VggServer.hold). */
  readonly shed: Counter;
  private readonly duration: Histogram<'method' | 'route' | 'status_code'>;

  /**
   * @param stats  the scheduler's counters now, or undefined (no model yet, or no scheduler in this build)
   * @param ready  whether the server is ready now
   */
  constructor(stats: () => SchedulerStats | undefined, ready: () => boolean) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.duration = new Histogram({
      name: 'vggnet_http_request_duration_seconds',
      help: 'HTTP request duration in seconds, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.inFlight = new Gauge({
      name: 'vggnet_http_requests_in_flight',
      help: 'Inference requests (classify, infer) admitted and not yet answered',
      registers,
    });
    this.shed = new Counter({
      name: 'vggnet_http_shed_total',
      help: 'Inference requests refused with 503 before decoding (most before the body is read): maxQueue + maxBatch held',
      registers,
    });
    new Gauge({
      name: 'vggnet_model_ready',
      help: '1 when the server is ready for inference, else 0 (loading, shutting down)',
      registers,
      collect() {
        this.set(ready() ? 1 : 0);
      },
    });
    for (const [name, field] of [
      ['queued', 'queued'],
      ['running', 'running'],
    ] as const)
      new Gauge({
        name: `vggnet_scheduler_${name}`,
        help: `Scheduler requests ${name === 'queued' ? 'waiting in the queue' : 'in the forward computing'} now`,
        registers,
        collect() {
          this.set(stats()?.[field] ?? 0);
        },
      });
    for (const [name, field, help] of COUNTERS)
      counter(`vggnet_scheduler_${name}_total`, help, registers, () => stats()?.[field]);
    counter(
      'vggnet_scheduler_wait_seconds_total',
      'Sum over requests that reached a forward of their time in the queue, seconds',
      registers,
      () => seconds(stats()?.waitMsSum),
    );
    counter(
      'vggnet_scheduler_compute_seconds_total',
      'Sum over forwards of their compute time, seconds',
      registers,
      () => seconds(stats()?.computeMsSum),
    );
    new Counter({
      name: 'vggnet_scheduler_batch_size_total',
      help: 'Forwards by images per forward (label images)',
      labelNames: ['images'],
      registers,
      collect() {
        this.reset();
        for (const [images, n] of Object.entries(stats()?.batchSizes ?? {})) this.inc({ images }, n);
      },
    });
  }

  /** Records one answered request. @param route  the route's pattern, or undefined for an unknown path */
  observe(method: string, route: string | undefined, statusCode: number, seconds: number): void {
    this.duration.observe({ method, route: route ?? 'unmatched', status_code: String(statusCode) }, seconds);
  }

  /** The metrics in Prometheus text format, and its Content-Type. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}

/** A counter whose value is read at scrape time (left at 0 while `read` gives undefined). */
function counter(name: string, help: string, registers: Registry[], read: () => number | undefined): void {
  new Counter({
    name,
    help,
    registers,
    collect() {
      this.reset();
      const v = read();
      if (v !== undefined && v > 0) this.inc(v);
    },
  });
}

function seconds(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : ms / 1000;
}
