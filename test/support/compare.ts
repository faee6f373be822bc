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

/** ‖got − want‖ / ‖want‖ over the finite reference values; non-finite ones must match exactly. */
export function relL2(got: Float32Array, want: Float32Array, what: string): number {
  if (got.length !== want.length) throw new Error(`${what}: length ${got.length}, expected ${want.length}`);
  let num = 0,
    den = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i],
      r = want[i];
    if (!Number.isFinite(r) || !Number.isFinite(g)) {
      if (!(Number.isNaN(r) && Number.isNaN(g)) && g !== r)
        throw new Error(`${what}: element ${i} is ${g}, reference ${r}`);
      continue;
    }
    num += (g - r) * (g - r);
    den += r * r;
  }
  return den > 0 ? Math.sqrt(num / den) : num > 0 ? Infinity : 0;
}
