/**
 * The KServe v2 inference protocol (Open Inference Protocol), HTTP/REST, for the one model this server holds:
 *   GET  /v2/health/live          200 {"live": true} while the process serves HTTP
 *   GET  /v2/health/ready         200 {"ready": true}; 503 {"ready": false, "error", "code"} while the model
 *                                 loads and once shutdown began
 *   GET  /v2                      server metadata {"name": "vggnet", "version", "extensions": []}
 *   GET  /v2/models/{name}        model metadata: input 'input' FP32 [-1, C, -1, -1] (NCHW; H = W = the
 *                                 training size for mode 'fc', any H, W ≥ it for 'dense', ≥ 32 for
 *                                 'torchvision'); outputs 'logits' and 'probabilities' FP32 [-1, K], and the
 *                                 features of every layer (conv1_1 … pool5, fc6 …: Model.forward's outputs)
 *   GET  /v2/models/{name}/ready  200 {"name", "ready": true}; 503 {"name", "ready": false, "error", "code"}
 *   POST /v2/models/{name}/infer  see kserve-tensor.ts; 200 {"model_name", "id"?, "parameters": {"mode"},
 *                                 "outputs": [{"name", "datatype": "FP32", "shape": [N, K], "data"}]}
 * 'logits' are the class scores (mode 'dense': the score map averaged spatially, paper §3.2);
 * 'probabilities' their softmax; a layer's name gives its features (NCHW, or [N, K] for FC layers outside
 * 'dense'), computed in the same forward. Errors: {"error", "code"} (errors.ts); an unknown model name is a 404.
 */
import * as fs from 'fs';
import * as path from 'path';

import type { FastifyInstance, FastifyReply } from 'fastify';

import { Classifier, layerProgram, softmax, spatialMean, Tensor } from '../../index';
import { packageRoot } from '../../native';
import { errorResponse, HttpError } from '../errors';
import { INPUT_NAME, OUTPUT_NAMES, parseInferRequest } from '../kserve-tensor';
import type { RouteContext } from './context';

export interface InferOutput {
  name: string;
  datatype: 'FP32';
  shape: number[];
  data: number[];
}

export interface InferResponse {
  model_name: string;
  id?: string;
  parameters: { mode: string };
  outputs: InferOutput[];
}

let serverVersion: string | undefined;
function version(): string {
  serverVersion ??= String(JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')).version);
  return serverVersion;
}

export function kserveRoutes(app: FastifyInstance, ctx: RouteContext): void {
  /** 503 with the readiness body (the slot's own refusal names why: loading or shutting down). */
  const notReady = (reply: FastifyReply, extra: object) =>
    reply
      .code(503)
      .header('Retry-After', String(ctx.options.retryAfterS))
      .send({ ...extra, ready: false, ...errorResponse(ctx.slot.notReadyError(), ctx.options.bodyLimit).body });
  /** The classifier behind {name}. @throws HttpError 404 for another name, BusyError while loading */
  const model = (name: string): Classifier => {
    if (ctx.slot.name !== undefined && name !== ctx.slot.name)
      throw new HttpError(
        404,
        'ERR_VGG_INVALID_ARGUMENT',
        `model: no model named '${name}'; this server serves '${ctx.slot.name}'`,
      );
    const c = ctx.slot.classifier;
    if (!c) throw ctx.slot.notReadyError(); // still loading
    return c;
  };

  app.get('/v2/health/live', async () => ({ live: true }));
  app.get('/v2/health/ready', async (_request, reply) => (ctx.slot.ready ? { ready: true } : notReady(reply, {})));
  app.get('/v2', async () => ({ name: 'vggnet', version: version(), extensions: [] }));

  app.get<{ Params: { name: string } }>('/v2/models/:name', async (request) => {
    const c = model(request.params.name);
    const { config } = c.model;
    const features = layerProgram(config).map((s) => ({
      name: s.name,
      datatype: 'FP32',
      shape: s.kind === 'conv' && s.name.startsWith('fc') ? [-1, s.outChannels] : [-1, -1, -1, -1],
    }));
    return {
      name: ctx.slot.name,
      platform: 'vggnet',
      inputs: [{ name: INPUT_NAME, datatype: 'FP32', shape: [-1, config.inChannels, -1, -1] }],
      outputs: [
        { name: 'logits', datatype: 'FP32', shape: [-1, config.numClasses] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, config.numClasses] },
        ...features,
      ],
      parameters: {
        architecture: config.name,
        input_size: config.inputSize,
        num_classes: config.numClasses,
        device: c.model.device,
        source: c.source,
        preprocess: JSON.stringify(c.preprocess),
      },
    };
  });

  app.get<{ Params: { name: string } }>('/v2/models/:name/ready', async (request, reply) => {
    model(request.params.name);
    return ctx.slot.ready ? { name: ctx.slot.name, ready: true } : notReady(reply, { name: ctx.slot.name });
  });

  app.post<{ Params: { name: string } }>(
    '/v2/models/:name/infer',
    { config: { inference: 'tensor' } },
    async (request, reply): Promise<InferResponse> => {
      const c = model(request.params.name);
      ctx.hold(request); // the JSON body is read (parsed) by now
      const { config } = c.model;
      const program = layerProgram(config);
      const req = parseInferRequest(
        request.body,
        config.inChannels,
        program.map((s) => s.name),
      );
      const [N, , H, W] = req.dims;
      const mode = req.mode ?? (H === config.inputSize && W === config.inputSize ? 'fc' : 'dense');
      const last = program[program.length - 1].name;
      const layers = req.outputs.filter((n) => !(OUTPUT_NAMES as readonly string[]).includes(n));
      const wantsScores = layers.length < req.outputs.length;
      const x = new Tensor(req.dims, req.data);
      const scheduling = ctx.scheduling(request, reply);
      const features = layers.length
        ? await c.model.forward(x, {
            mode,
            outputs: wantsScores && !layers.includes(last) ? [...layers, last] : layers,
            ...scheduling,
          })
        : undefined;
      const y = features ? features[last] : await c.model.forward(x, { mode, ...scheduling });
      const K = config.numClasses;
      const scores: ArrayLike<number> | undefined = !y ? undefined : mode === 'dense' ? spatialMean(y) : y.data;
      const outputs: InferOutput[] = req.outputs.map((name) => {
        if (features && features[name] && !(OUTPUT_NAMES as readonly string[]).includes(name)) {
          const f = features[name];
          return { name, datatype: 'FP32', shape: [...f.dims], data: Array.from(f.data) };
        }
        const data = new Array<number>(N * K);
        for (let n = 0; n < N; n++) {
          const row = Array.prototype.slice.call(scores!, n * K, (n + 1) * K) as number[];
          const values = name === 'logits' ? row : Array.from(softmax(row));
          for (let k = 0; k < K; k++) data[n * K + k] = Math.fround(values[k]);
        }
        return { name, datatype: 'FP32', shape: [N, K], data };
      });
      return {
        model_name: ctx.slot.name!,
        ...(req.id !== undefined ? { id: req.id } : {}),
        parameters: { mode },
        outputs,
      };
    },
  );
}
