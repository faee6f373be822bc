// bf16 rounding as the CPU's bf16 kernels do it, for the tests' references.

/** Each value rounded to bf16 as the kernels do (native/cpu/cpu_kernels.h RoundToBf16), widened back. */
export function roundToBf16(src: Float32Array): Float32Array {
  const out = new Float32Array(src.length);
  const u = new Uint32Array(out.buffer);
  const f = new Float32Array(1);
  const fu = new Uint32Array(f.buffer);
  for (let i = 0; i < src.length; i++) {
    f[0] = src[i];
    const x = fu[0];
    if ((x & 0x7f800000) === 0)
      u[i] = x & 0x80000000; // ±0 and subnormals → ±0
    else if ((x & 0x7fffffff) > 0x7f800000)
      u[i] = (x | 0x00400000) & 0xffff0000; // NaN, quieted
    else u[i] = (((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) << 16) >>> 0;
  }
  return out;
}
