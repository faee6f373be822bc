// Device helpers shared by the implicit-GEMM conv kernels: the im2col gather of B and the column table
// of the epilogue. See ConvArgs in cuda_kernels.h for the index conventions.
#pragma once
#include "cuda/cuda_kernels.h"
#include "cuda/launch.cuh"
#include "cuda/planted_fault.cuh"

namespace vgg::cuda {

// A column far outside the image: h0 + r stays negative for every r < 2^16, so every bounds test fails
// and the gathered value is 0 (tiles that straddle the last column).
constexpr int kFarAway = -(1 << 30);

// The B-loader state of one column n of the GEMM (fixed for the whole main loop).
struct ColumnSrc {
  long long xbase;  // img · C·H·W
  int h0, w0;       // p·stride − pad, q·stride − pad
};

__device__ __forceinline__ ColumnSrc MakeColumnSrc(const ConvArgs& a, int n) {
  ColumnSrc c{0, kFarAway, kFarAway};
  if (n < a.cols) {
    const int img = n / a.PQ;
    const int pq = n - img * a.PQ;
    const int p = pq / a.Q;
    const int q = pq - p * a.Q;
    c.xbase = (long long)img * a.CHW;
    c.h0 = p * a.stride - a.pad;
    c.w0 = q * a.stride - a.pad;
  }
  return c;
}

// B[j][n] = x[img, c, h0 + r, w0 + s], or 0 outside the image, in the reduction padding (c < 0) and past
// the last column. j < Kpad always (tiles never cross Kpad).
__device__ __forceinline__ float GatherB(const ConvArgs& a, const ColumnSrc& src, int j) {
  const int2 d = __ldg(a.kdec + j);
  const int h = src.h0 + (d.y >> 16);
  const int w = src.w0 + (d.y & 0xffff);
  float v = 0.f;
  if (d.x >= 0 && unsigned(h) < unsigned(a.H) && unsigned(w) < unsigned(a.W))
    v = __ldg(a.x + src.xbase + (d.x * a.HW + h * a.W + w));
  return v;
}

// Output offset of column n without the channel term: img·K·P·Q + pq (−1 past the last column).
__device__ __forceinline__ long long OutColumnOffset(const ConvArgs& a, int n) {
  if (n >= a.cols) return -1;
  const int img = n / a.PQ;
  return (long long)img * a.KPQ + (n - img * a.PQ);
}

// The epilogue of one accumulator value v at (row m < K, column n < cols).
__device__ __forceinline__ void StoreOut(const ConvArgs& a, int split_index, int m, int n, long long col_off, float v) {
  if (a.partial) {
    a.partial[((size_t)split_index * a.K + m) * (size_t)a.cols + n] = v;
  } else {
    v += a.bias[m];
    if (a.relu && v < 0.f) v = 0.f;  // NaN stays NaN (fmaxf would turn it into 0)
    a.y[col_off + (long long)m * a.PQ] = v;
  }
}

}  // namespace vgg::cuda
