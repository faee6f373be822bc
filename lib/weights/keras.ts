/**
 * Keras layout of the FC6 weights. Keras VGG16/VGG19 (keras.applications, channels_last) flatten pool5 in
 * H, W, C order and store a Dense kernel as [in, out] (x · W), so FC6's kernel is
 *     kernel [H·W·C, units], row index (h·W + w)·C + c.
 * Ours is the conv kernel (units, C, H, W) OIHW, i.e. torchvision's [units, C·H·W] in C, H, W order:
 *     out[u, c, h, w] = kernel[((h·W + w)·C + c) · units + u].
 * FC7/FC8 kernels [in, out] only need a transpose to [out, in] (OIHW with 1×1); conv kernels in Keras are
 * HWIO [R, S, C, K] → OIHW by a transpose as well. Neither needs a helper beyond transposeMatrix().
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
