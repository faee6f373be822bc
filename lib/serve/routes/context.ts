/** What the routes share: the model slot, the resolved options, each request's abort signal, the metrics. */
import type { FastifyRequest } from 'fastify';

import type { ServeMetrics } from '../metrics';
import type { ModelSlot } from '../state';

/** The server's options, every field resolved (see ServeOptions for their meaning and units). */
export interface ResolvedServeOptions {
  bodyLimit: number;
  maxPixels: number;
  timeoutMs: number | undefined;
  retryAfterS: number;
  shutdownDelayMs: number;
}

export interface RouteContext {
  readonly slot: ModelSlot;
  readonly options: Readonly<ResolvedServeOptions>;
  readonly metrics: ServeMetrics;
  /** The request's AbortSignal: fires when its client disconnects before the answer is sent. */
  signalOf(request: FastifyRequest): AbortSignal;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** An inference route (classify, infer): admitted only when ready, counted in flight, given an AbortSignal. */
    inference?: boolean;
  }
}
