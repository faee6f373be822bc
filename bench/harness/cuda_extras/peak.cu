// Peak loops for the harness's "% of measured peak" (a peak measured in the same run as the benchmark):
// peak_fma_f32 (8 independent FMA chains per thread) and peak_wmma_{tf32,bf16,f16} (4 independent
// accumulator fragments per warp, operands in registers). They measure what mma.sync/FFMA can reach on
// this GPU; the datasheet figures (wgmma on Hopper) are reported beside them.
//
// The FLOP count assumes every instruction of the loop runs, so every result feeds the value that may be
// stored: each FMA chain and every element of every accumulator fragment (a wmma mma_sync is several
// mma instructions, each writing only some elements: an element left unread lets the compiler delete
// its instruction). Operands are non-zero and not known at compile time.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include "cuda/conv_wmma.cuh"
#include "cuda/launch.cuh"
#include "peak.h"

namespace vgg::cuda {
namespace {

__global__ void __launch_bounds__(kThreads) peak_fma_f32(long long iters, float* sink) {
  float a[8];
  const float m = 1.0f + 1e-7f * float(threadIdx.x & 1), c = 1e-7f;
#pragma unroll
  for (int i = 0; i < 8; ++i) a[i] = float(threadIdx.x + i);
  for (long long it = 0; it < iters; ++it)
#pragma unroll
    for (int i = 0; i < 8; ++i) a[i] = fmaf(a[i], m, c);
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < 8; ++i) s += a[i];
  if (s == 12345.678f) sink[threadIdx.x] = s;  // practically never true; keeps the loop alive
}

template <Math M>
__global__ void __launch_bounds__(kThreads) peak_wmma(long long iters, float* sink) {
  namespace wmma = nvcuda::wmma;
  using T = WmmaTraits<M>;
  using S = typename T::S;
  __shared__ __align__(128) S tile[16 * 16];
  // k/1024 for k = 1..8: exact in tf32, bf16 and fp16; an accumulator gains at most 16·(8/1024)² per
  // mma, so it stays far from overflow over any loop this harness times.
  for (int i = threadIdx.x; i < 16 * 16; i += blockDim.x) tile[i] = T::Convert(float(1 + (i + blockIdx.x) % 8) / 1024.f);
  __syncthreads();
  wmma::fragment<wmma::matrix_a, 16, 16, T::KS, typename T::Frag, wmma::row_major> fa;
  wmma::fragment<wmma::matrix_b, 16, 16, T::KS, typename T::Frag, wmma::row_major> fb;
  wmma::load_matrix_sync(fa, tile, 16);
  wmma::load_matrix_sync(fb, tile, 16);
  wmma::fragment<wmma::accumulator, 16, 16, T::KS, float> acc[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) wmma::fill_fragment(acc[i], 0.f);
  for (long long it = 0; it < iters; ++it)
#pragma unroll
    for (int i = 0; i < 4; ++i) wmma::mma_sync(acc[i], fa, fb, acc[i]);
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int e = 0; e < acc[i].num_elements; ++e) s += acc[i].x[e];
  if (s == 12345.678f) sink[threadIdx.x] = s;  // practically never true; keeps every mma alive
}

}  // namespace

cudaError_t LaunchPeak(Math math, int blocks, long long iters, float* sink, double* flop, cudaStream_t stream) {
  const double warps = double(blocks) * (kThreads / 32);
  switch (math) {
    case Math::kSimt:
      *flop = 2.0 * 8 * double(iters) * double(blocks) * kThreads;
      return Launch<peak_fma_f32>(blocks, kThreads, 0, stream, iters, sink);
    case Math::kTf32:
      *flop = 2.0 * 16 * 16 * 8 * 4 * double(iters) * warps;
      return Launch<peak_wmma<Math::kTf32>>(blocks, kThreads, 0, stream, iters, sink);
    case Math::kBf16:
      *flop = 2.0 * 16 * 16 * 16 * 4 * double(iters) * warps;
      return Launch<peak_wmma<Math::kBf16>>(blocks, kThreads, 0, stream, iters, sink);
    case Math::kFp16:
      *flop = 2.0 * 16 * 16 * 16 * 4 * double(iters) * warps;
      return Launch<peak_wmma<Math::kFp16>>(blocks, kThreads, 0, stream, iters, sink);
  }
  return cudaErrorInvalidValue;
}

}  // namespace vgg::cuda
