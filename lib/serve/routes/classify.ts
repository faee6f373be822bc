/**
 * POST /v1/classify: one image → top-k classes with the paper's evaluation protocol (classifyImage).
 *   body   the encoded image (JPEG, PNG, WebP, GIF, TIFF): raw with Content-Type image/* or
 *          application/octet-stream, or the file field `image` of multipart/form-data
 *   query  top: classes to report, an integer in [1, K] (default 5); mode: 'dense' (default) | 'fc' | 'torchvision';
 *          flip: 'true' | 'false' | '1' | '0' (also evaluate the horizontal flip, default false)
 *   200    {"model", "predictions": [{"index", "label", "probability"}], "views", "mode", "flip"}
 *          predictions highest probability first; probability: the posterior averaged over the views
 */
import type { FastifyInstance } from 'fastify';

import { classifyImage, ForwardMode, InvalidArgumentError, Prediction } from '../../index';
import { readImage } from '../image-body';
import type { RouteContext } from './context';

export interface ClassifyResponse {
  model: string;
  predictions: Prediction[];
  views: number;
  mode: ForwardMode;
  flip: boolean;
}

const QUERY_KEYS = ['top', 'mode', 'flip'];

interface ClassifyQuery {
  top: number;
  mode: ForwardMode;
  flip: boolean;
}

/** The query string, checked. @throws InvalidArgumentError naming the parameter, expected and got */
export function parseClassifyQuery(query: unknown, numClasses: number): ClassifyQuery {
  const q = (query ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(q)) {
    if (!QUERY_KEYS.includes(key))
      throw new InvalidArgumentError(`query.${key}: unknown parameter; expected one of ${QUERY_KEYS.join(', ')}`);
    if (typeof q[key] !== 'string') throw new InvalidArgumentError(`query.${key}: expected one value, got several`);
  }
  const out: ClassifyQuery = { top: Math.min(5, numClasses), mode: 'dense', flip: false };
  if (q.top !== undefined) {
    const top = Number(q.top);
    if (!/^\d+$/.test(q.top as string) || top < 1 || top > numClasses)
      throw new InvalidArgumentError(`query.top: expected an integer in [1, ${numClasses}], got '${q.top}'`);
    out.top = top;
  }
  if (q.mode !== undefined) {
    if (q.mode !== 'dense' && q.mode !== 'fc' && q.mode !== 'torchvision')
      throw new InvalidArgumentError(`query.mode: expected 'dense' | 'fc' | 'torchvision', got '${q.mode}'`);
    out.mode = q.mode;
  }
  if (q.flip !== undefined) {
    if (!['true', 'false', '1', '0'].includes(q.flip as string))
      throw new InvalidArgumentError(`query.flip: expected 'true' | 'false' | '1' | '0', got '${q.flip}'`);
    out.flip = q.flip === 'true' || q.flip === '1';
  }
  return out;
}

export function classifyRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.post('/v1/classify', { config: { inference: 'image' } }, async (request, reply): Promise<ClassifyResponse> => {
    const c = ctx.slot.classifier!; // admitted in onRequest: present
    const query = parseClassifyQuery(request.query, c.model.config.numClasses);
    const bytes = await readImage(request, ctx.options.bodyLimit);
    ctx.hold(request);
    const r = await classifyImage(c, bytes, {
      mode: query.mode,
      flip: query.flip,
      top: query.top,
      failOn: ctx.options.failOn,
      maxPixels: ctx.options.maxPixels, // checked on the header by the call that decodes (413: errors.ts)
      ...ctx.scheduling(request, reply),
    });
    return { model: ctx.slot.name!, predictions: r.top, views: r.views, mode: query.mode, flip: query.flip };
  });
}
