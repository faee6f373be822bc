/**
 * `vggnet serve` as a library: a fastify instance serving one classifier over HTTP — POST /v1/classify
 * (routes/classify.ts), the KServe v2 inference protocol (routes/kserve.ts) and GET /metrics (metrics.ts) —
 * with request size limits, errors mapped to 4xx/5xx JSON bodies with vggnet's code (errors.ts), each
 * request's client disconnect turned into an AbortSignal for its queued work, and graceful shutdown.
 *
 * Lifecycle (state.ts): build → listen (live, not ready) → attach(classifier) (ready) → shutdown() (not ready,
 * new inference refused with 503, admitted requests finish, the listener closes, the model is disposed).
 */
import multipart from '@fastify/multipart';
import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import {
  BusyError,
  Classifier,
  FailOn,
  InvalidArgumentError,
  MAX_INPUT_PIXELS,
  MAX_VIEW_PIXELS,
  TimeoutError,
} from '../index';
import { callScheduling, schedulerStats } from './contract';
import { ErrorBody, errorResponse, HttpError } from './errors';
import { mediaType, RAW_IMAGE_TYPE } from './image-body';
import { ServeMetrics } from './metrics';
import { classifyRoutes } from './routes/classify';
import type { ResolvedServeOptions, RouteContext } from './routes/context';
import { kserveRoutes } from './routes/kserve';
import { ModelSlot, ServeState } from './state';

export interface ServeOptions {
  /** The model's name in KServe routes (/v2/models/{name}). Default: the architecture's name (config.name). */
  name?: string;
  /** Largest request body in bytes: a raw image, a multipart image file, a JSON tensor. Default 16 MiB. */
  bodyLimit?: number;
  /**
   * Largest image /v1/classify decodes, in pixels (width × height in its header, checked before decoding; a
   * larger one is a 413): an integer in [1, MAX_INPUT_PIXELS]. Default MAX_VIEW_PIXELS (4096²).
   */
  maxPixels?: number;
  /**
   * Deadline of each inference request in ms from its arrival (its forwards get the time left as
   * ForwardOptions.timeoutMs); past it the answer is 503 ERR_VGG_TIMEOUT. Default none.
   */
  timeoutMs?: number;
  /** Retry-After of 503 answers, seconds (an integer ≥ 0). Default 1. */
  retryAfterS?: number;
  /** Damaged image data on /v1/classify (ImageOptions.failOn): default 'warning', a corrupt image is a 400. */
  failOn?: FailOn;
  /**
   * ms between the start of shutdown() and the listener closing, while readiness already reports false and
   * new inference is refused (so a load balancer polling /v2/health/ready stops sending). Default 0.
   */
  shutdownDelayMs?: number;
}

export const DEFAULT_SERVE_OPTIONS: Readonly<Omit<ResolvedServeOptions, 'timeoutMs'>> = Object.freeze({
  bodyLimit: 16 * 2 ** 20,
  maxPixels: MAX_VIEW_PIXELS,
  retryAfterS: 1,
  shutdownDelayMs: 0,
  failOn: 'warning',
});

const SERVE_OPTION_KEYS = ['name', 'bodyLimit', 'maxPixels', 'timeoutMs', 'retryAfterS', 'shutdownDelayMs', 'failOn'];

const FAIL_ON: readonly FailOn[] = ['none', 'truncated', 'error', 'warning'];
function failOn(v: unknown): FailOn {
  if (v === undefined) return DEFAULT_SERVE_OPTIONS.failOn;
  if (!(FAIL_ON as readonly unknown[]).includes(v))
    throw new InvalidArgumentError(
      `options.failOn: expected ${FAIL_ON.map((f) => `'${f}'`).join(' | ')}, got ${String(v)}`,
    );
  return v as FailOn;
}

/** @throws InvalidArgumentError naming the option: an unknown key, a value out of range */
function resolveServeOptions(options: ServeOptions | null | undefined): ResolvedServeOptions & { name?: string } {
  const o = { ...(options ?? {}) } as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!SERVE_OPTION_KEYS.includes(k))
      throw new InvalidArgumentError(`options.${k}: unknown option; expected one of ${SERVE_OPTION_KEYS.join(', ')}`);
  const int = (key: string, min: number, max: number, dflt: number | undefined): number | undefined => {
    const v = o[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
      throw new InvalidArgumentError(`options.${key}: expected an integer in [${min}, ${max}], got ${String(v)}`);
    return v;
  };
  if (o.name !== undefined && (typeof o.name !== 'string' || !/^[\w.-]{1,128}$/.test(o.name)))
    throw new InvalidArgumentError(
      `options.name: expected 1–128 characters of [A-Za-z0-9_.-], got ${JSON.stringify(o.name)}`,
    );
  const d = DEFAULT_SERVE_OPTIONS;
  return {
    ...(o.name !== undefined ? { name: o.name as string } : {}),
    bodyLimit: int('bodyLimit', 1, 2 ** 31 - 1, d.bodyLimit)!,
    maxPixels: int('maxPixels', 1, MAX_INPUT_PIXELS, d.maxPixels)!,
    timeoutMs: int('timeoutMs', 1, 2 ** 31 - 1, undefined),
    retryAfterS: int('retryAfterS', 0, 86400, d.retryAfterS)!,
    shutdownDelayMs: int('shutdownDelayMs', 0, 600000, d.shutdownDelayMs)!,
    failOn: failOn(o.failOn),
  };
}

export class VggServer {
  readonly app: FastifyInstance;
  readonly options: Readonly<ResolvedServeOptions>;
  readonly metrics: ServeMetrics;
  private readonly slot: ModelSlot;
  private readonly controllers = new WeakMap<FastifyRequest, AbortController>();
  private closing: Promise<void> | undefined;
  /** Inference requests whose body is read and that are not answered yet (see hold): removed on close. */
  private readonly holders = new Set<FastifyRequest>();

  /** @throws InvalidArgumentError for a bad option */
  constructor(options: ServeOptions | null = {}) {
    const { name, ...resolved } = resolveServeOptions(options);
    this.options = Object.freeze(resolved);
    this.slot = new ModelSlot(name);
    this.metrics = new ServeMetrics(
      () => schedulerStats(this.slot.classifier),
      () => this.slot.ready,
    );
    const app = Fastify({ bodyLimit: this.options.bodyLimit, logger: false, return503OnClosing: false });
    this.app = app;
    const ctx: RouteContext = {
      slot: this.slot,
      options: this.options,
      metrics: this.metrics,
      hold: (request) => this.hold(request),
      scheduling: (request, reply) => {
        const signal = this.controllers.get(request)?.signal;
        const { timeoutMs } = this.options;
        if (timeoutMs === undefined) return callScheduling({ signal });
        const left = timeoutMs - reply.elapsedTime;
        if (left <= 0)
          throw new TimeoutError(
            `request: no result within --timeout-ms ${timeoutMs} ms (spent before the model was reached: reading and decoding the body)`,
          );
        return callScheduling({ signal, timeoutMs: left });
      },
    };

    app.register(multipart, { limits: { fileSize: this.options.bodyLimit } });
    app.addContentTypeParser(RAW_IMAGE_TYPE, { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    // Callback hooks, not async ones: under overload every request passes them, and a promise per hook per
    // request is event-loop time the refusals (and /v2/health/live) then wait behind.
    app.addHook('onRequest', (request, reply, done) => {
      try {
        if (this.admit(request, reply)) done();
      } catch (e) {
        done(e as Error);
      }
    });
    app.addHook('onSend', (_request, reply, payload, done) => {
      if (this.slot.state !== 'ready' && this.slot.state !== 'loading') reply.header('Connection', 'close');
      done(null, payload);
    });
    app.addHook('onResponse', (request, reply, done) => {
      this.metrics.observe(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
    app.setErrorHandler((error, request, reply) => {
      const r = errorResponse(error, this.options.bodyLimit, request.headers['content-type']);
      if (r.body.code === 'ERR_VGG_INTERNAL')
        process.stderr.write(`vggnet serve: internal error: ${(error as Error)?.stack ?? String(error)}\n`);
      if (r.retryAfter) reply.header('Retry-After', String(this.options.retryAfterS));
      return reply.code(r.status).send(r.body);
    });
    app.setNotFoundHandler((request, reply) =>
      reply.code(404).send({
        error: `route: no route ${request.method} ${request.url.slice(0, 200)}`,
        code: 'ERR_VGG_INVALID_ARGUMENT',
      }),
    );
    app.get('/metrics', async (_request, reply) => {
      const { contentType, text } = await this.metrics.scrape();
      return reply.type(contentType).send(text);
    });
    classifyRoutes(app, ctx);
    kserveRoutes(app, ctx);
  }

  /** 'loading' | 'ready' | 'draining' | 'closed'. */
  get state(): ServeState {
    return this.slot.state;
  }

  /** The model's name in KServe routes, once known. */
  get name(): string | undefined {
    return this.slot.name;
  }

  /**
   * Makes the server ready with this classifier (its model is disposed by shutdown()). When shutdown has
   * already begun the classifier's model is disposed at once and false is returned.
   */
  attach(c: Classifier): boolean {
    if (this.slot.attach(c)) return true;
    c.model.dispose();
    return false;
  }

  /** Listens on host:port (port 0: any free port). @returns the address, e.g. 'http://127.0.0.1:8080' */
  async listen(port: number, host: string): Promise<string> {
    return this.app.listen({ port, host });
  }

  /**
   * Graceful shutdown: readiness false and new inference refused (503 ERR_VGG_BUSY, Retry-After) at once;
   * after shutdownDelayMs the listener closes; requests admitted before the shutdown finish and are
   * answered; then the model is disposed. Idempotent: later calls return the same promise.
   */
  shutdown(): Promise<void> {
    this.closing ??= (async () => {
      this.slot.drain();
      if (this.options.shutdownDelayMs > 0)
        await new Promise((resolve) => setTimeout(resolve, this.options.shutdownDelayMs));
      await this.app.close();
      this.slot.close();
    })();
    return this.closing;
  }

  /**
   * Requests of the inference routes in flight: admitted (model ready), counted, given an AbortSignal.
   * @returns false when it answered the request itself (503: the queue is full)
   */
  private admit(request: FastifyRequest, reply: FastifyReply): boolean {
    const inference = request.routeOptions.config?.inference;
    if (!inference) return true;
    const c = this.slot.admit(); // throws BusyError (503) while loading or shutting down
    // Shed at arrival, before the body is read, when the requests holding a slot (body read: decoding, queued,
    // computing) fill what the scheduler holds (maxQueue waiting + maxBatch computing): one more would be
    // decoded only to be refused by the scheduler (under 3× overload of /v1/classify that was most of the
    // decodes). A refusal then costs the event loop no JSON parse or image decode, and no Error (its stack
    // trace) either: the answer is the one errorResponse gives a BusyError. The scheduler still has the last word.
    const message = this.full(c);
    if (message) {
      this.metrics.shed.inc();
      const body: ErrorBody = { error: message, code: 'ERR_VGG_BUSY' };
      reply.code(503).header('Retry-After', String(this.options.retryAfterS)).send(body);
      return false;
    }
    const type = mediaType(request);
    if (inference === 'tensor' && type !== 'application/json')
      throw new HttpError(
        415,
        'ERR_VGG_UNSUPPORTED',
        `Content-Type: expected application/json, got ${type ? `'${type}'` : 'none'}`,
      );
    const ac = new AbortController();
    this.controllers.set(request, ac);
    this.metrics.inFlight.inc();
    reply.raw.once('close', () => {
      this.holders.delete(request);
      this.metrics.inFlight.dec();
      if (!reply.raw.writableEnded) ac.abort(new Error('the client disconnected before the answer'));
    });
    return true;
  }

  /** The refusal message when the requests holding a slot fill maxQueue + maxBatch, else ''. */
  private full(c: Classifier): string {
    const { maxQueue, maxBatch } = c.model.schedulerOptions;
    return this.holders.size < maxQueue + maxBatch
      ? ''
      : `queue full: ${this.holders.size} requests in flight for the model (--max-queue ${maxQueue} waiting + ` +
          `--max-batch ${maxBatch} computing); retry later`;
  }

  /**
   * A request whose body is read takes a slot until it is answered (RouteContext.hold). Only then: an upload
   * that never finishes must not hold a slot that requests with a body need.
   * @throws BusyError when the slots are full (a burst of bodies that arrived together), before any decode
   */
  private hold(request: FastifyRequest): void {
    const c = this.slot.classifier!;
    const message = this.full(c);
    if (message) {
      this.metrics.shed.inc();
      throw new BusyError(message);
    }
    this.holders.add(request);
  }
}

/** A server for one classifier; see VggServer. @throws InvalidArgumentError for a bad option */
export function buildServer(options: ServeOptions | null = {}): VggServer {
  return new VggServer(options);
}
