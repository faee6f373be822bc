/**
 * What the loader thread (thread.ts) runs: each task is an async generator whose items are sent to the
 * main thread one at a time, when asked for (client.ts workerStream), with their Float32Arrays transferred.
 */
import type { LayerWeights } from '../random-weights';
import { randomLayer } from '../random-weights';
import { resolveConfig, VggConfig, weightShapes } from '../topology';
import type { LoadedWeights } from '../weights/types';
import { openWeights } from '../weights';

/** One conv/FC layer and its index in program order (topology.weightShapes). */
export interface IndexedLayer extends LayerWeights {
  index: number;
}

/** Layer indices in program order, or the largest first (ties in program order). */
export function layerOrder(config: VggConfig, order: 'program' | 'largest'): number[] {
  const shapes = weightShapes(config);
  const idx = shapes.map((_, i) => i);
  if (order === 'program') return idx;
  const size = (i: number) => shapes[i].weight.reduce((a, b) => a * b, 1);
  return idx.sort((a, b) => size(b) - size(a) || a - b);
}

export interface RandomTaskArgs {
  arch: string | VggConfig;
  seed: number;
  order: 'program' | 'largest';
}

/** randomWeights(arch, seed), layer by layer in `order` (bit-identical: the same generator per layer). */
async function* random(args: RandomTaskArgs): AsyncGenerator<IndexedLayer> {
  const config = resolveConfig(args.arch);
  for (const i of layerOrder(config, args.order)) yield { index: i, ...randomLayer(config, args.seed, i) };
}

export interface WeightsTaskArgs {
  file: string;
  arch: string | VggConfig | undefined;
  order: 'program' | 'largest';
}

export type WeightsItem =
  { kind: 'meta'; meta: Omit<LoadedWeights, 'weights'> } | { kind: 'layer'; layer: IndexedLayer };

/** A weights file: its description, then each layer in `order` (read when asked for). */
async function* weights(args: WeightsTaskArgs): AsyncGenerator<WeightsItem> {
  const r = await openWeights(args.file, args.arch === undefined ? {} : { arch: args.arch });
  try {
    const { read: _read, close: _close, ...meta } = r;
    yield { kind: 'meta', meta };
    for (const i of layerOrder(r.config, args.order))
      yield { kind: 'layer', layer: { index: i, ...(await r.read(i)) } };
  } finally {
    await r.close();
  }
}

export const TASKS = { random, weights } as const;
export type TaskName = keyof typeof TASKS;
