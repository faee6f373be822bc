/**
 * Keras layout of the FC6 weights. Keras VGG16/VGG19 (keras.applications, channels_last) flatten pool5 in
 * H, W, C order and store a Dense kernel as [in, out] (x · W), so FC6's kernel is
 *     kernel [H·W·C, units], row index (h·W + w)·C + c.
 * Ours is the conv kernel (units, C, H, W) OIHW, i.e. torchvision's [units, C·H·W] in C, H, W order:
 *     out[u, c, h, w] = kernel[((h·W + w)·C + c) · units + u].
 * FC7/FC8 kernels [in, out] only need a transpose to [out, in] (OIHW with 1×1); conv kernels in Keras are
 * HWIO [R, S, C, K] (hwioToOihw). The .h5 reader reads Dense kernels in row blocks (denseRowsToOihw), so
 * FC6 never needs its source and its result in memory at once beyond one block.
 */
import { InvalidArgumentError } from '../errors';

/**
 * FC6 from Keras layout: kernel [H·W·C, units] (HWC-flattened input, Dense [in, out]) → OIHW (units, C, H, W).
 * @throws InvalidArgumentError when kernel.length ≠ channels·height·width·units
 */
export function fc6FromKerasLayout(
  kernel: Float32Array,
  channels: number,
  height: number,
  width: number,
  units: number,
): Float32Array {
  const fanIn = channels * height * width;
  if (kernel.length !== fanIn * units)
    throw new InvalidArgumentError(
      `kernel: expected ${fanIn * units} elements ([${height}·${width}·${channels}, ${units}]), got ${kernel.length}`,
    );
  const out = new Float32Array(kernel.length);
  const hw = height * width;
  for (let u = 0; u < units; u++) {
    const ob = u * fanIn;
    for (let c = 0; c < channels; c++)
      for (let p = 0; p < hw; p++) out[ob + c * hw + p] = kernel[(p * channels + c) * units + u];
  }
  return out;
}

/** [rows, cols] row-major → [cols, rows]: a Dense kernel [in, out] → [out, in]. */
export function transposeMatrix(m: Float32Array, rows: number, cols: number): Float32Array {
  if (m.length !== rows * cols)
    throw new InvalidArgumentError(`matrix: expected ${rows}×${cols} = ${rows * cols} elements, got ${m.length}`);
  const out = new Float32Array(m.length);
  const B = 64; // blocked so both sides stay in cache for 4096×4096
  for (let r0 = 0; r0 < rows; r0 += B)
    for (let c0 = 0; c0 < cols; c0 += B) {
      const r1 = Math.min(rows, r0 + B);
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = m[r * cols + c];
    }
  return out;
}

/** Conv kernel HWIO [R, S, C, K] (Keras Conv2D) → OIHW [K, C, R, S]. @throws InvalidArgumentError on a size mismatch */
export function hwioToOihw(kernel: Float32Array, R: number, S: number, C: number, K: number): Float32Array {
  if (kernel.length !== R * S * C * K)
    throw new InvalidArgumentError(
      `kernel: expected ${R * S * C * K} elements ([${R},${S},${C},${K}]), got ${kernel.length}`,
    );
  const out = new Float32Array(kernel.length);
  for (let r = 0; r < R; r++)
    for (let s = 0; s < S; s++)
      for (let c = 0; c < C; c++) {
        const src = ((r * S + s) * C + c) * K;
        for (let k = 0; k < K; k++) out[((k * C + c) * R + r) * S + s] = kernel[src + k];
      }
  return out;
}

/**
 * Rows [r0, r0 + rows) of a Dense kernel [fanIn, units] (Keras [in, out]) scattered into `out`, the OIHW
 * weight [units, fanIn] with fanIn in C, H, W order. With `hwc` the kernel's rows are in H, W, C order
 * (channels_last Flatten before FC6): row (h·W + w)·C + c goes to column c·H·W + h·W + w; without, row r to
 * column r (a transpose).
 */
export function denseRowsToOihw(
  out: Float32Array,
  block: Float32Array,
  r0: number,
  fanIn: number,
  units: number,
  hwc?: { channels: number; hw: number },
): void {
  const rows = block.length / units;
  if (!Number.isInteger(rows) || r0 + rows > fanIn || out.length !== fanIn * units)
    throw new InvalidArgumentError(
      `denseRowsToOihw: a block of ${block.length} values at row ${r0} does not fit [${fanIn}, ${units}]`,
    );
  const col = (r: number) => (hwc ? (r % hwc.channels) * hwc.hw + Math.floor(r / hwc.channels) : r);
  const B = 64; // tiles, so both sides stay in cache for FC6's 25088×4096
  for (let i0 = 0; i0 < rows; i0 += B)
    for (let u0 = 0; u0 < units; u0 += B) {
      const i1 = Math.min(rows, i0 + B),
        u1 = Math.min(units, u0 + B);
      for (let i = i0; i < i1; i++) {
        const c = col(r0 + i),
          src = i * units;
        for (let u = u0; u < u1; u++) out[u * fanIn + c] = block[src + u];
      }
    }
}
