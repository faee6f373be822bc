// Shape descriptors shared by reference kernels, optimised kernels, plans and benches.
// Layout convention everywhere: activations NCHW f32, conv weights OIHW f32 (K,C,R,S).
#pragma once
#include <cstdint>

namespace vgg {

// x (N,C,H,W) NCHW; w (K,C,R,S) OIHW; b (K); y (N,K,P,Q) with
// P = floor((H + 2·pad − R)/stride) + 1, Q = floor((W + 2·pad − S)/stride) + 1.
// An FC layer is a conv whose kernel covers the whole input (FC6: R=S=7 on 7×7, pad 0) or a 1×1 conv.
struct ConvShape {
  int N = 1, C = 0, H = 0, W = 0;  // input
  int K = 0, R = 3, S = 3;         // output channels, kernel height/width
  int stride = 1, pad = 1;
  int P() const { return (H + 2 * pad - R) / stride + 1; }
  int Q() const { return (W + 2 * pad - S) / stride + 1; }
  // Multiply-adds of one forward (FLOPs = 2 × MACs).
  int64_t macs() const { return int64_t(N) * K * P() * Q() * C * R * S; }
};

// Max pooling, floor mode: P = floor((H − window)/stride) + 1. VGG: window 2, stride 2 (paper §2.1).
struct PoolShape {
  int N = 1, C = 0, H = 0, W = 0;
  int window = 2, stride = 2;
  int P() const { return (H - window) / stride + 1; }
  int Q() const { return (W - window) / stride + 1; }
};

// Adaptive average pooling to P×Q, as PyTorch's AdaptiveAvgPool2d (torchvision's VGG applies it to pool5 with
// P = Q = 7 before FC6, so its FC head takes any input of at least 32×32): output cell (p, q) is the mean of
// rows [floor(p·H/P), ceil((p+1)·H/P)) and columns [floor(q·W/Q), ceil((q+1)·W/Q)). Windows overlap when H is
// not a multiple of P; when H < P, rows repeat. H = P, W = Q is the identity.
struct AdaptivePoolShape {
  int N = 1, C = 0, H = 0, W = 0;
  int P = 7, Q = 7;
  static int Begin(int i, int in, int out) { return int((int64_t(i) * in) / out); }
  static int End(int i, int in, int out) { return int((int64_t(i + 1) * in + out - 1) / out); }
};

// Local response normalisation across channels (Krizhevsky et al. 2012, used by VGG A-LRN, paper §2.3):
// y = x / (k + alpha · Σ_{c' in window} x_{c'}²)^beta, window of `size` channels centred on c, clipped at
// the edges. alpha multiplies the plain sum (AlexNet convention); Caffe/PyTorch/ONNX use alpha/size.
struct LrnParams {
  int size = 5;
  float alpha = 1e-4f, beta = 0.75f, k = 2.0f;
};

}  // namespace vgg
