/** Comparing outputs with a reference. */

/** max |a − ref| / max |ref|: the error relative to the reference's range (logits, features). */
export function maxRelErr(a: Float32Array, ref: Float32Array): number {
  let num = 0,
    den = 0;
  for (let i = 0; i < ref.length; i++) {
    num = Math.max(num, Math.abs(a[i] - ref[i]));
    den = Math.max(den, Math.abs(ref[i]));
  }
  return num / den;
}
