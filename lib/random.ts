/** Seeded pseudo-random numbers for reproducible test weights and inputs (not for security). */

// Module-scope copies: under jest (a vm context) every global `Math.x` lookup is slow, ~25x in fillNormal.
const { imul, sqrt, log, cos, sin, PI } = Math;

/** mulberry32: a small, fast 32-bit generator; uniform in [0, 1). */
export function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fills `out` with N(0, std²) samples (Box–Muller) from a seeded generator. */
export function fillNormal(out: Float32Array, std: number, seed: number): Float32Array {
  const u = uniform(seed);
  for (let i = 0; i < out.length; i += 2) {
    const r = sqrt(-2 * log(1 - u())) * std;
    const t = 2 * PI * u();
    out[i] = r * cos(t);
    if (i + 1 < out.length) out[i + 1] = r * sin(t);
  }
  return out;
}

/**
 * fillNormal in pieces: each call fills its array with the next samples of the same sequence, so arrays
 * filled one after another hold exactly what fillNormal(seed) writes into one array of their total length.
 */
export function normalStream(std: number, seed: number): (out: Float32Array) => Float32Array {
  const u = uniform(seed);
  let spare: number | null = null; // the sine half of a pair whose cosine half ended the previous array
  return (out) => {
    let i = 0;
    if (spare !== null && out.length > 0) {
      out[i++] = spare;
      spare = null;
    }
    for (; i < out.length; i += 2) {
      const r = sqrt(-2 * log(1 - u())) * std;
      const t = 2 * PI * u();
      out[i] = r * cos(t);
      if (i + 1 < out.length) out[i + 1] = r * sin(t);
      else spare = r * sin(t);
    }
    return out;
  };
}

/** Fills `out` with uniform samples in [lo, hi). */
export function fillUniform(out: Float32Array, lo: number, hi: number, seed: number): Float32Array {
  const u = uniform(seed);
  for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * u();
  return out;
}
