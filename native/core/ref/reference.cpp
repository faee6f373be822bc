#include "core/ref/reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace vgg::ref {

void conv2d(const ConvShape& s, const float* x, const float* w, const float* b, bool relu, float* y) {
  const int P = s.P(), Q = s.Q();
  for (int n = 0; n < s.N; ++n)
    for (int k = 0; k < s.K; ++k)
      for (int p = 0; p < P; ++p)
        for (int q = 0; q < Q; ++q) {
          double acc = b ? b[k] : 0.0;
          for (int c = 0; c < s.C; ++c)
            for (int r = 0; r < s.R; ++r) {
              const int h = p * s.stride - s.pad + r;
              if (h < 0 || h >= s.H) continue;
              for (int t = 0; t < s.S; ++t) {
                const int wi = q * s.stride - s.pad + t;
                if (wi < 0 || wi >= s.W) continue;
                acc += double(x[((size_t(n) * s.C + c) * s.H + h) * s.W + wi]) *
                       double(w[((size_t(k) * s.C + c) * s.R + r) * s.S + t]);
              }
            }
          float v = float(acc);
          if (relu && v < 0.f) v = 0.f;  // NaN stays NaN
          y[((size_t(n) * s.K + k) * P + p) * Q + q] = v;
        }
}

void maxpool2d(const PoolShape& s, const float* x, float* y) {
  const int P = s.P(), Q = s.Q();
  for (int nc = 0; nc < s.N * s.C; ++nc)
    for (int p = 0; p < P; ++p)
      for (int q = 0; q < Q; ++q) {
        float m = -std::numeric_limits<float>::infinity();
        for (int r = 0; r < s.window; ++r)
          for (int t = 0; t < s.window; ++t) {
            const float v = x[(size_t(nc) * s.H + p * s.stride + r) * s.W + q * s.stride + t];
            if (std::isnan(v) || v > m) m = v;
            if (std::isnan(m)) break;
          }
        y[(size_t(nc) * P + p) * Q + q] = m;
      }
}

void relu(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (x[i] < 0.f) x[i] = 0.f;  // NaN stays NaN
}

void adaptive_avgpool2d(const AdaptivePoolShape& s, const float* x, float* y) {
  for (int nc = 0; nc < s.N * s.C; ++nc)
    for (int p = 0; p < s.P; ++p)
      for (int q = 0; q < s.Q; ++q) {
        const int r0 = AdaptivePoolShape::Begin(p, s.H, s.P), r1 = AdaptivePoolShape::End(p, s.H, s.P);
        const int t0 = AdaptivePoolShape::Begin(q, s.W, s.Q), t1 = AdaptivePoolShape::End(q, s.W, s.Q);
        double acc = 0;
        for (int r = r0; r < r1; ++r)
          for (int t = t0; t < t1; ++t) acc += x[(size_t(nc) * s.H + r) * s.W + t];
        y[(size_t(nc) * s.P + p) * s.Q + q] = float(acc / double((r1 - r0) * (t1 - t0)));
      }
}

void lrn(int N, int C, int H, int W, const LrnParams& prm, const float* x, float* y) {
  const size_t plane = size_t(H) * W;
  const int half = prm.size / 2;
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (size_t i = 0; i < plane; ++i) {
        double sum = 0;
        for (int j = std::max(0, c - half); j <= std::min(C - 1, c + prm.size - 1 - half); ++j) {
          const double v = x[(size_t(n) * C + j) * plane + i];
          sum += v * v;
        }
        const size_t at = (size_t(n) * C + c) * plane + i;
        y[at] = float(double(x[at]) / std::pow(double(prm.k) + double(prm.alpha) * sum, double(prm.beta)));
      }
}

}  // namespace vgg::ref
