// Peak loops for the harness's "% of measured peak" (a peak measured in the same run as the benchmark):
// peak_fma_f32 (8 independent FMA chains per thread) and peak_mma_{tf32,bf16,f16} (8 independent
// accumulators per warp, operands in registers), on the instructions the conv kernels use: FFMA and
// mma.sync m16n8k8 tf32 / m16n8k16 bf16, f16 (cuda/ptx.cuh). They measure what those instructions reach
// on this GPU; the datasheet figures (wgmma on Hopper) are reported beside them.
//
// The FLOP count is what runs: the mma instructions are `asm volatile` (the compiler may not delete or
// merge them; bench/RESULTS.md records the HMMA count per iteration in the SASS), every FMA chain feeds
// the value that may be stored, and the operands are non-zero values the compiler cannot know.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda/launch.cuh"
#include "cuda/ptx.cuh"
#include "peak.h"

namespace vgg::cuda {
namespace {

constexpr int kChains = 8;  // independent FMA chains per thread, accumulators per warp

__global__ void __launch_bounds__(kThreads) peak_fma_f32(long long iters, float* sink) {
  float a[kChains];
  const float m = 1.0f + 1e-7f * float(threadIdx.x & 1), c = 1e-7f;
#pragma unroll
  for (int i = 0; i < kChains; ++i) a[i] = float(threadIdx.x + i);
  for (long long it = 0; it < iters; ++it)
#pragma unroll
    for (int i = 0; i < kChains; ++i) a[i] = fmaf(a[i], m, c);
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < kChains; ++i) s += a[i];
  if (s == 12345.678f) sink[threadIdx.x] = s;  // practically never true; keeps the loop alive
}

template <Math M>
__global__ void __launch_bounds__(kThreads) peak_mma(long long iters, float* sink) {
  // Operand registers: k/1024 for k = 1..8 (exact in tf32, bf16 and fp16), two per 32-bit register for
  // the 16-bit types; an accumulator gains at most 16·(8/1024)² per mma, far from overflow.
  unsigned a[4], b[2];
  for (int i = 0; i < 6; ++i) {
    const float v = float(1 + (threadIdx.x + blockIdx.x + i) % 8) / 1024.f;
    unsigned r;
    if constexpr (M == Math::kTf32) {
      r = __float_as_uint(v);
    } else if constexpr (M == Math::kBf16) {
      const __nv_bfloat16 h = __float2bfloat16_rn(v);
      unsigned short u;
      memcpy(&u, &h, 2);
      r = u | unsigned(u) << 16;
    } else {
      const __half h = __float2half_rn(v);
      unsigned short u;
      memcpy(&u, &h, 2);
      r = u | unsigned(u) << 16;
    }
    (i < 4 ? a[i] : b[i - 4]) = r;
  }
  float acc[kChains][4] = {};
  for (long long it = 0; it < iters; ++it)
#pragma unroll
    for (int i = 0; i < kChains; ++i) MmaSync<M>(acc[i], a, b);
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < kChains; ++i) s += acc[i][0] + acc[i][1] + acc[i][2] + acc[i][3];
  if (s == 12345.678f) sink[threadIdx.x] = s;  // practically never true
}

}  // namespace

cudaError_t LaunchPeak(Math math, int blocks, long long iters, float* sink, double* flop, cudaStream_t stream) {
  const double mmas = double(iters) * kChains * double(blocks) * (kThreads / 32);  // per warp per iteration
  switch (math) {
    case Math::kSimt:
      *flop = 2.0 * kChains * double(iters) * double(blocks) * kThreads;
      return Launch<peak_fma_f32>(blocks, kThreads, 0, stream, iters, sink);
    case Math::kTf32:
      *flop = 2.0 * 16 * 8 * 8 * mmas;  // m16n8k8
      return Launch<peak_mma<Math::kTf32>>(blocks, kThreads, 0, stream, iters, sink);
    case Math::kBf16:
      *flop = 2.0 * 16 * 8 * 16 * mmas;  // m16n8k16
      return Launch<peak_mma<Math::kBf16>>(blocks, kThreads, 0, stream, iters, sink);
    case Math::kFp16:
      *flop = 2.0 * 16 * 8 * 16 * mmas;
      return Launch<peak_mma<Math::kFp16>>(blocks, kThreads, 0, stream, iters, sink);
  }
  return cudaErrorInvalidValue;
}

}  // namespace vgg::cuda
