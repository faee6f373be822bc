/**
 * A damaged (not truncated) JPEG: a copy of a baseline JPEG with `n` bytes of its entropy-coded data, 40 % of
 * the way in, replaced by seeded noise. libjpeg warns about it ("Corrupt JPEG data: premature end of data
 * segment": the noise holds marker bytes) and decodes the rest as garbage.
 */
export function corruptJpeg(jpeg: ArrayLike<number>, n = 256): Uint8Array {
  const out = Uint8Array.from(jpeg);
  let sos = 2;
  while (!(out[sos] === 0xff && out[sos + 1] === 0xda)) sos++;
  const at = sos + Math.floor((out.length - sos) * 0.4);
  let seed = 1;
  for (let i = at; i < at + n; i++) out[i] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16;
  return out;
}
