// gemv_{f32,bf16w,f16w}_x{1..8}: the few-column path of conv2d (batch-1..8 FC layers). Bandwidth bound:
// FC6 streams 411 MB of fp32 weights (206 MB as bf16/fp16) per batch, so each thread keeps 8 independent
// 16-byte loads of A in flight; the gathered columns (im2col_columns, ≤ 8 × C·R·S floats) are re-read
// from L1/L2 by every warp. One warp per row and 4 or 8 warps per block, as the planner chooses so that
// the grid fills the GPU (FC8's 1000 rows: 250 blocks of 4 rows; it was 63 blocks of 16); lanes stride
// the reduction; the warp's partial sums are combined by a butterfly (fixed order: deterministic).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda/cuda_kernels.h"
#include "cuda/launch.cuh"

namespace vgg::cuda {
namespace {

__device__ __forceinline__ void Unpack(const uint4& u, float (&f)[4]) {
  f[0] = __uint_as_float(u.x);
  f[1] = __uint_as_float(u.y);
  f[2] = __uint_as_float(u.z);
  f[3] = __uint_as_float(u.w);
}
__device__ __forceinline__ float2 Pair(unsigned v, __nv_bfloat16) {
  __nv_bfloat162 h;
  memcpy(&h, &v, sizeof h);
  return __bfloat1622float2(h);
}
__device__ __forceinline__ float2 Pair(unsigned v, __half) {
  __half2 h;
  memcpy(&h, &v, sizeof h);
  return __half22float2(h);
}
template <typename H>
__device__ __forceinline__ void Unpack(const uint4& u, float (&f)[8], H tag) {
  const float2 a = Pair(u.x, tag), b = Pair(u.y, tag), c = Pair(u.z, tag), d = Pair(u.w, tag);
  f[0] = a.x;
  f[1] = a.y;
  f[2] = b.x;
  f[3] = b.y;
  f[4] = c.x;
  f[5] = c.y;
  f[6] = d.x;
  f[7] = d.y;
}

template <typename G, int NC>
__global__ void __launch_bounds__(kThreads)
    gemv_rows(const G* __restrict__ A, int Kpad, const float* __restrict__ bias, const float* __restrict__ B, int K,
              int PQ, int relu, float* __restrict__ y) {
  constexpr int VEC = 16 / int(sizeof(G));
  constexpr int U = 8;  // 16-byte loads of A in flight per thread
  constexpr int STEP = 32 * VEC;
  const int m = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (m >= K) return;  // warp-uniform
  const G* a0 = A + (size_t)m * Kpad;

  float acc[NC];
#pragma unroll
  for (int c = 0; c < NC; ++c) acc[c] = 0.f;

  for (int base = lane * VEC; base < Kpad; base += STEP * U) {
    uint4 av[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int j = base + u * STEP;  // Kpad is a multiple of 32 ≥ VEC: a vector is all in or all out
      av[u] = j < Kpad ? __ldg(reinterpret_cast<const uint4*>(a0 + j)) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int j = base + u * STEP;
      if (j < Kpad) {
        float af[VEC];
        if constexpr (VEC == 4) Unpack(av[u], af);
        else Unpack(av[u], af, G());
#pragma unroll
        for (int c = 0; c < NC; ++c) {
          const float4* bp = reinterpret_cast<const float4*>(B + (size_t)c * Kpad + j);
          float bv[VEC];
#pragma unroll
          for (int v = 0; v < VEC / 4; ++v) {
            const float4 t = __ldg(bp + v);
            bv[4 * v + 0] = t.x;
            bv[4 * v + 1] = t.y;
            bv[4 * v + 2] = t.z;
            bv[4 * v + 3] = t.w;
          }
#pragma unroll
          for (int e = 0; e < VEC; ++e) acc[c] = fmaf(af[e], bv[e], acc[c]);
        }
      }
    }
  }

#pragma unroll
  for (int c = 0; c < NC; ++c)
#pragma unroll
    for (int off = 16; off > 0; off /= 2) acc[c] += __shfl_xor_sync(0xffffffffu, acc[c], off);

  if (lane == 0) {
#pragma unroll
    for (int c = 0; c < NC; ++c) {
      float v = acc[c] + bias[m];
      if (relu && v < 0.f) v = 0.f;  // NaN stays NaN
      const int img = c / PQ, pq = c - img * PQ;
      y[((size_t)img * K + m) * PQ + pq] = v;
    }
  }
}

template <typename G>
cudaError_t LaunchGemvT(const void* A, int Kpad, const float* bias, const float* cols, int ncols, int K, int PQ,
                        int relu, int threads, float* y, cudaStream_t stream) {
  if (threads != 128 && threads != 256) return cudaErrorInvalidValue;
  const int rows_per_block = threads / 32;
  const unsigned blocks = unsigned((K + rows_per_block - 1) / rows_per_block);
  const G* a = static_cast<const G*>(A);
  switch (ncols) {
#define VGG_GEMV_CASE(NC) \
  case NC: return Launch<gemv_rows<G, NC>>(blocks, threads, 0, stream, a, Kpad, bias, cols, K, PQ, relu, y);
    VGG_GEMV_CASE(1)
    VGG_GEMV_CASE(2)
    VGG_GEMV_CASE(3)
    VGG_GEMV_CASE(4)
    VGG_GEMV_CASE(5)
    VGG_GEMV_CASE(6)
    VGG_GEMV_CASE(7)
    VGG_GEMV_CASE(8)
#undef VGG_GEMV_CASE
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace

cudaError_t LaunchGemv(Math math, const void* A, int Kpad, const float* bias, const float* cols, int ncols, int K,
                       int PQ, int relu, int threads, float* y, cudaStream_t stream) {
  switch (math) {
    case Math::kSimt:
    case Math::kTf32: return LaunchGemvT<float>(A, Kpad, bias, cols, ncols, K, PQ, relu, threads, y, stream);
    case Math::kBf16: return LaunchGemvT<__nv_bfloat16>(A, Kpad, bias, cols, ncols, K, PQ, relu, threads, y, stream);
    case Math::kFp16: return LaunchGemvT<__half>(A, Kpad, bias, cols, ncols, K, PQ, relu, threads, y, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace vgg::cuda
