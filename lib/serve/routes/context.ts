/** What the routes share: the model slot, the resolved options, each request's abort signal, the metrics. */
import type { FastifyReply, FastifyRequest } from 'fastify';

import type { FailOn } from '../../index';
import type { CallScheduling } from '../contract';

import type { ServeMetrics } from '../metrics';
import type { ModelSlot } from '../state';

/** The server's options, every field resolved (see ServeOptions for their meaning and units). */
export interface ResolvedServeOptions {
  bodyLimit: number;
  maxPixels: number;
  timeoutMs: number | undefined;
  retryAfterS: number;
  shutdownDelayMs: number;
  failOn: FailOn;
}

export interface RouteContext {
  readonly slot: ModelSlot;
  readonly options: Readonly<ResolvedServeOptions>;
  readonly metrics: ServeMetrics;
  /**
   * Takes one of the model's slots (maxQueue + maxBatch) for this request until it is answered: call it once
   * the body is read, before decoding it. @throws BusyError (503) when they are all taken
   */
  hold(request: FastifyRequest): void;
  /**
   * What the request's library call carries to the model's scheduler: its AbortSignal (fires when the client
   * disconnects before the answer is sent) and the time left of --timeout-ms since the request arrived.
   * @throws TimeoutError when that time is already spent (reading and decoding the body took it)
   */
  scheduling(request: FastifyRequest, reply: FastifyReply): CallScheduling;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * An inference route, by what its body holds: 'image' (classify) or 'tensor' (infer, application/json).
     * Admitted only when ready, counted in flight, given an AbortSignal.
     */
    inference?: 'image' | 'tensor';
  }
}
