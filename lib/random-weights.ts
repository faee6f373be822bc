/** Seeded He-initialised weights (Model.random), one layer at a time so a worker can stream them. */
import { describeValue } from './describe';
import { InvalidArgumentError } from './errors';
import { fillNormal, normalStream } from './random';
import { resolveConfig, VggConfig, weightShapes } from './topology';

/** Weights of one conv/FC layer: weight (K,C,R,S) OIHW f32, bias (K) f32. */
export interface LayerWeights {
  weight: Float32Array;
  bias: Float32Array;
}

/** A seed in [0, 2^32), else InvalidArgumentError. */
export function checkSeed(seed: unknown): number {
  if (!Number.isSafeInteger(seed) || (seed as number) < 0 || (seed as number) >= 2 ** 32)
    throw new InvalidArgumentError(`seed: expected an integer in [0, 2^32), got ${describeValue(seed)}`);
  return seed as number;
}

/**
 * Layer `i` (program order) of randomWeights(config, seed): weight ~ N(0, 2/fan_in) (He et al. 2015),
 * fan_in = C·R·S, bias ~ N(0, 0.01²), each from its own seeded generator (seed·1000 + 2i, + 1).
 */
export function randomLayer(config: VggConfig, seed: number, i: number): LayerWeights {
  const [K, C, R, S] = weightShapes(config)[i].weight;
  return {
    weight: fillNormal(new Float32Array(K * C * R * S), Math.sqrt(2 / (C * R * S)), seed * 1000 + 2 * i),
    bias: fillNormal(new Float32Array(K), 0.01, seed * 1000 + 2 * i + 1),
  };
}

/** randomLayer's generators, to fill a layer piecewise: arrays filled in turn hold what randomLayer writes. */
export function randomLayerStreams(
  config: VggConfig,
  seed: number,
  i: number,
): { weight: (out: Float32Array) => Float32Array; bias: (out: Float32Array) => Float32Array } {
  const [, C, R, S] = weightShapes(config)[i].weight;
  return {
    weight: normalStream(Math.sqrt(2 / (C * R * S)), seed * 1000 + 2 * i),
    bias: normalStream(0.01, seed * 1000 + 2 * i + 1),
  };
}

/**
 * Seeded He-initialised weights in layer-program order (see Model.random), on the calling thread (vgg16:
 * 138 M values, seconds).
 * @throws InvalidArgumentError for a seed outside [0, 2^32) or an unknown arch
 */
export function randomWeights(arch: string | VggConfig, seed = 1): LayerWeights[] {
  checkSeed(seed);
  const config = resolveConfig(arch);
  return weightShapes(config).map((_, i) => randomLayer(config, seed, i));
}
