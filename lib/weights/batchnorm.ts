/**
 * Folding batch normalisation into the preceding convolution (the torchvision vgg11_bn … vgg19_bn variants:
 * Conv2d(bias=True) → BatchNorm2d → ReLU). At inference BN is the affine map per output channel k
 *     y_k = γ_k · (x_k − μ_k) / sqrt(σ²_k + ε) + β_k
 * so with s_k = γ_k / sqrt(σ²_k + ε) the conv followed by BN is one conv with
 *     w'_k = w_k · s_k,    b'_k = (b_k − μ_k) · s_k + β_k.
 */

/** PyTorch's BatchNorm2d default ε (torch.nn.BatchNorm2d(num_features, eps=1e-05, …), the value torchvision's
 *  VGG make_layers uses); ONNX BatchNormalization's default `epsilon` is the same 1e-5. */
export const BN_EPS = 1e-5;

export interface BatchNormParams {
  /** γ (K) */
  weight: Float32Array;
  /** β (K) */
  bias: Float32Array;
  /** μ (K) */
  runningMean: Float32Array;
  /** σ² (K) */
  runningVar: Float32Array;
  /** Default BN_EPS. */
  eps?: number;
}

/**
 * Folds BN into conv weights in place: weight (K, C, R, S) OIHW f32 and bias (K) f32. The scale is computed in
 * double precision and each element rounded once to f32.
 */
export function foldBatchNorm(weight: Float32Array, bias: Float32Array, bn: BatchNormParams): void {
  const K = bias.length;
  const per = weight.length / K;
  const eps = bn.eps ?? BN_EPS;
  for (let k = 0; k < K; k++) {
    const s = bn.weight[k] / Math.sqrt(bn.runningVar[k] + eps);
    const base = k * per;
    for (let i = 0; i < per; i++) weight[base + i] *= s;
    bias[k] = (bias[k] - bn.runningMean[k]) * s + bn.bias[k];
  }
}
