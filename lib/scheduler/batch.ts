/**
 * Coalescing along N: requests of the same per-image dims [C,H,W] are concatenated into one input
 * (ΣN, C, H, W) NCHW, and the forward's output (ΣN, …) is split back per request in the same order.
 * Along N, an NCHW image (and an NC or NCHW result) is one contiguous block, so both are plain copies.
 */

/** The inputs one after another (a single input is returned as it is). */
export function gatherInputs(inputs: readonly Float32Array[]): Float32Array {
  if (inputs.length === 1) return inputs[0];
  const out = new Float32Array(inputs.reduce((a, x) => a + x.length, 0));
  let at = 0;
  for (const x of inputs) {
    out.set(x, at);
    at += x.length;
  }
  return out;
}

/**
 * The output of a forward of ΣN images split into one array per request, request i taking images[i]
 * images; each part is its own copy (a single request gets `y` itself).
 */
export function splitOutput(y: Float32Array, images: readonly number[]): Float32Array[] {
  if (images.length === 1) return [y];
  const total = images.reduce((a, n) => a + n, 0);
  const perImage = y.length / total;
  let at = 0;
  return images.map((n) => {
    const part = y.slice(at, at + n * perImage);
    at += n * perImage;
    return part;
  });
}
