// Reference kernels: plain loops, double accumulation. They are the specification that every optimised
// kernel (native/cpu, native/cuda) is tested against; they are never used for speed.
#pragma once
#include <cstddef>

#include "core/shapes.h"

namespace vgg::ref {

// y (N,K,P,Q) = [relu](conv(x (N,C,H,W), w (K,C,R,S)) + b (K)); b may be null.
void conv2d(const ConvShape& s, const float* x, const float* w, const float* b, bool relu, float* y);

// y (N,C,P,Q) = max over each window of x (N,C,H,W). NaN propagates.
void maxpool2d(const PoolShape& s, const float* x, float* y);

// x = max(x, 0) in place; NaN stays NaN (as the convs' fused ReLU).
void relu(float* x, size_t n);

// y (N,C,P,Q) = mean over each adaptive window of x (N,C,H,W), see AdaptivePoolShape.
void adaptive_avgpool2d(const AdaptivePoolShape& s, const float* x, float* y);

// y (N,C,H,W) = LRN(x) across channels, see LrnParams.
void lrn(int N, int C, int H, int W, const LrnParams& p, const float* x, float* y);

}  // namespace vgg::ref
