/**
 * What the loader thread (thread.ts) runs: each task is an async generator whose items are sent to the
 * main thread one at a time, when asked for (client.ts workerStream), with their Float32Arrays transferred.
 */
import type { LayerWeights } from '../random-weights';
import { randomLayer, randomLayerStreams } from '../random-weights';
import { resolveConfig, VggConfig, weightShapes } from '../topology';
import type { LoadedWeights } from '../weights/types';
import { openWeights } from '../weights';

/**
 * One conv/FC layer and its index in program order (topology.weightShapes), or a band of it: with `from`, the
 * weight and bias hold output channels [from, from + bias.length) only; the bands of a layer come in order.
 */
export interface IndexedLayer extends LayerWeights {
  index: number;
  from?: number;
}

/**
 * Layers larger than this many floats (FC6 and FC7 of vgg16) are sent in bands of about BAND_FLOATS, read or
 * generated band by band, so their whole source is never in memory (issue 16: peak ≤ 1.3× the packed weights;
 * FC6 alone is 411 MB of the 730). 4 M floats: 16 MB, 26 bands for vgg16's FC6.
 */
export const BAND_FLOATS = 1 << 22;

/** Output-channel bands [from, to) of a layer of `shape` (K,C,R,S): one band when it is not above BAND_FLOATS. */
export function bands(shape: readonly number[]): [number, number][] {
  const [K, C, R, S] = shape;
  const crs = C * R * S;
  if (K * crs <= BAND_FLOATS) return [[0, K]];
  const rows = Math.max(1, Math.floor(BAND_FLOATS / crs));
  const out: [number, number][] = [];
  for (let k = 0; k < K; k += rows) out.push([k, Math.min(K, k + rows)]);
  return out;
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

/**
 * randomWeights(arch, seed), layer by layer in `order`, large layers in bands (bit-identical: the same
 * generator per layer, continued from band to band).
 */
async function* random(args: RandomTaskArgs): AsyncGenerator<IndexedLayer> {
  const config = resolveConfig(args.arch);
  const shapes = weightShapes(config);
  for (const i of layerOrder(config, args.order)) {
    const b = bands(shapes[i].weight);
    if (b.length === 1) {
      yield { index: i, ...randomLayer(config, args.seed, i) };
      continue;
    }
    const [K, C, R, S] = shapes[i].weight;
    const { weight, bias } = randomLayerStreams(config, args.seed, i);
    const biasAll = bias(new Float32Array(K));
    for (const [from, to] of b)
      yield {
        index: i,
        from,
        weight: weight(new Float32Array((to - from) * C * R * S)),
        bias: biasAll.slice(from, to),
      };
  }
}

export interface WeightsTaskArgs {
  file: string;
  arch: string | VggConfig | undefined;
  order: 'program' | 'largest';
  /** Layers above BAND_FLOATS in bands, where the reader can (for packing; loadWeights wants whole layers). */
  bands?: boolean;
}

export type WeightsItem =
  { kind: 'meta'; meta: Omit<LoadedWeights, 'weights'> } | { kind: 'layer'; layer: IndexedLayer };

/** A weights file: its description, then each layer in `order` (read when asked for). */
async function* weights(args: WeightsTaskArgs): AsyncGenerator<WeightsItem> {
  const r = await openWeights(args.file, args.arch === undefined ? {} : { arch: args.arch });
  try {
    const { read: _read, readRows: _readRows, close: _close, ...meta } = r;
    yield { kind: 'meta', meta };
    const shapes = weightShapes(r.config);
    for (const i of layerOrder(r.config, args.order)) {
      const b = args.bands ? bands(shapes[i].weight) : [];
      const first = b.length > 1 ? await r.readRows?.(i, b[0][0], b[0][1]) : null;
      if (!first) {
        yield { kind: 'layer', layer: { index: i, ...(await r.read(i)) } };
        continue;
      }
      yield { kind: 'layer', layer: { index: i, from: 0, ...first } };
      for (const [from, to] of b.slice(1)) {
        const band = await r.readRows!(i, from, to);
        if (!band) throw new Error(`weights reader: layer ${i} stopped being readable by bands`);
        yield { kind: 'layer', layer: { index: i, from, ...band } };
      }
    }
  } finally {
    await r.close();
  }
}

export const TASKS = { random, weights } as const;
export type TaskName = keyof typeof TASKS;
