// The non-GEMM kernels: weight packing, the NCHW → NHWC conversion of the tensor-core path, the GEMV
// column gather, the split-K reduction, and the plain fp32 ops (max pool, LRN). Each follows the loop of its reference
// kernel (native/core/ref/reference.cpp) so that NaN, ±Inf and signed zeros come out the same.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda/conv_common.cuh"
#include "cuda/ptx.cuh"

namespace vgg::cuda {
namespace {

constexpr unsigned kMaxBlocks = 1u << 20;  // grid-stride loops cover the rest

unsigned BlocksFor(size_t n) {
  const size_t b = (n + kThreads - 1) / kThreads;
  return unsigned(b < kMaxBlocks ? (b ? b : 1) : kMaxBlocks);
}

#define VGG_GRID_STRIDE(i, n) \
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += size_t(gridDim.x) * blockDim.x)

template <typename G>
__device__ __forceinline__ G ToStorage(float v, bool tf32);
template <>
__device__ __forceinline__ float ToStorage<float>(float v, bool tf32) {
  return tf32 ? RoundTf32(v) : v;
}
template <>
__device__ __forceinline__ __nv_bfloat16 ToStorage<__nv_bfloat16>(float v, bool) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ __forceinline__ __half ToStorage<__half>(float v, bool) {
  return __float2half_rn(v);
}

// A[m][j] from w (K, C, RS): j = c·RS + rs when Cp = 0, j = rs·Cp + c (KRSC) otherwise.
template <typename G>
__global__ void pack_weights(const float* __restrict__ w, int K, int C, int RS, int Cp, int Kpad, size_t total,
                             bool tf32, G* __restrict__ A) {
  const int kdim = C * RS;
  VGG_GRID_STRIDE(i, total) {
    const size_t m = i / size_t(Kpad);
    const int j = int(i - m * size_t(Kpad));
    int src = -1;  // index into w's row m
    if (Cp == 0) {
      if (j < kdim) src = j;
    } else {
      const int rs = j / Cp, c = j - rs * Cp;
      if (rs < RS && c < C) src = c * RS + rs;
    }
    A[i] = ToStorage<G>(m < size_t(K) && src >= 0 ? w[m * size_t(kdim) + src] : 0.f, tf32);
  }
}

// xh[img][hw][c] = x[img][c][hw] for c < C, 0 for C ≤ c < Cp: 32 channels × 32 pixels per block of 32×8
// threads through shared memory, so that both the reads (along hw) and the writes (along c) coalesce.
template <typename G>
__global__ void nchw_to_nhwc(const float* __restrict__ x, int C, int HW, int Cp, bool tf32, G* __restrict__ xh) {
  __shared__ float tile[32][33];
  const int hw0 = int(blockIdx.x) * 32, c0 = int(blockIdx.y) * 32;
  const size_t img = blockIdx.z;
  const float* xi = x + img * size_t(C) * size_t(HW);
  G* yi = xh + img * size_t(HW) * size_t(Cp);
  for (int i = threadIdx.y; i < 32; i += 8) {
    const int c = c0 + i, hw = hw0 + int(threadIdx.x);
    tile[i][threadIdx.x] = c < C && hw < HW ? xi[size_t(c) * HW + hw] : 0.f;
  }
  __syncthreads();
  for (int i = threadIdx.y; i < 32; i += 8) {
    const int hw = hw0 + i, c = c0 + int(threadIdx.x);
    if (hw < HW && c < Cp) yi[size_t(hw) * Cp + c] = ToStorage<G>(tile[threadIdx.x][i], tf32);
  }
}

__global__ void im2col_columns_f32(const ConvArgs a, float* __restrict__ out) {
  const size_t total = size_t(a.cols) * size_t(a.Kpad);
  VGG_GRID_STRIDE(i, total) {
    const int n = int(i / size_t(a.Kpad));
    const int j = int(i - size_t(n) * size_t(a.Kpad));
    out[i] = GatherB(a, MakeColumnSrc(a, n), j);
  }
}

__global__ void splitk_reduce_bias_relu_f32(const float* __restrict__ partial, int split, int K, int cols, int PQ,
                                            const float* __restrict__ bias, int relu, float* __restrict__ y) {
  const size_t total = size_t(K) * size_t(cols);
  VGG_GRID_STRIDE(i, total) {
    const int m = int(i / size_t(cols));
    const int n = int(i - size_t(m) * size_t(cols));
    float v = 0.f;
    for (int z = 0; z < split; ++z) v += partial[size_t(z) * total + i];
    v += bias[m];
    if (relu && v < 0.f) v = 0.f;  // NaN stays NaN
    const int img = n / PQ, pq = n - img * PQ;
    y[(size_t(img) * K + m) * PQ + pq] = v;
  }
}

// Output element i of a pooling output (NC, P, Q): its plane nc = n·C + c, row p and column q.
struct PoolIndex {
  size_t nc;
  int p, q;
};
__device__ __forceinline__ PoolIndex PoolCell(size_t i, int P, int Q) {
  const size_t t = i / size_t(Q);
  return {t / size_t(P), int(t % size_t(P)), int(i - t * size_t(Q))};
}

// Same loop as ref::maxpool2d, including its inner-loop `break` on NaN.
__global__ void maxpool2d_nchw_f32(const float* __restrict__ x, float* __restrict__ y, long long NC, int H, int W,
                                   int P, int Q, int window, int stride) {
  const size_t total = size_t(NC) * P * Q;
  VGG_GRID_STRIDE(i, total) {
    const auto [nc, p, q] = PoolCell(i, P, Q);
    float m = -INFINITY;
    for (int r = 0; r < window; ++r)
      for (int s = 0; s < window; ++s) {
        const float v = x[(nc * H + size_t(p) * stride + r) * W + size_t(q) * stride + s];
        if (isnan(v) || v > m) m = v;
        if (isnan(m)) break;
      }
    y[i] = m;
  }
}

// x = max(x, 0) in place; NaN stays NaN (the comparison is false for NaN), as ref::relu.
__global__ void relu_f32(float* __restrict__ x, long long n) {
  VGG_GRID_STRIDE(i, size_t(n)) {
    if (x[i] < 0.f) x[i] = 0.f;
  }
}

// Same windows and double accumulation as ref::adaptive_avgpool2d (one thread per output cell).
__global__ void adaptive_avgpool2d_nchw_f32(const float* __restrict__ x, float* __restrict__ y, long long NC, int H,
                                            int W, int P, int Q) {
  const size_t total = size_t(NC) * P * Q;
  VGG_GRID_STRIDE(i, total) {
    const auto [nc, p, q] = PoolCell(i, P, Q);
    const int r0 = int((long long)p * H / P), r1 = int(((long long)p * H + H + P - 1) / P);
    const int s0 = int((long long)q * W / Q), s1 = int(((long long)q * W + W + Q - 1) / Q);
    double acc = 0;
    for (int r = r0; r < r1; ++r)
      for (int s = s0; s < s1; ++s) acc += x[(nc * H + r) * W + s];
    y[i] = float(acc / double((r1 - r0) * (s1 - s0)));
  }
}

// y = x / (k + alpha·Σ x²)^beta over the channel window (shapes.h); the sum of squares in fp32 (never
// fp16), the power in double like the reference.
__global__ void lrn_nchw_f32(const float* __restrict__ x, float* __restrict__ y, int N, int C, long long HW, int size,
                             float alpha, float beta, float k) {
  const size_t total = size_t(N) * C * size_t(HW);
  const int half = size / 2;
  VGG_GRID_STRIDE(i, total) {
    const size_t pix = i % size_t(HW);
    const size_t nc = i / size_t(HW);
    const int c = int(nc % C);
    const size_t n = nc / C;
    const int j0 = max(0, c - half), j1 = min(C - 1, c + size - 1 - half);
    float sum = 0.f;
    for (int j = j0; j <= j1; ++j) {
      const float v = x[(n * C + j) * size_t(HW) + pix];
      sum = fmaf(v, v, sum);
    }
    y[i] = float(double(x[i]) / pow(double(k) + double(alpha) * double(sum), double(beta)));
  }
}

}  // namespace

cudaError_t LaunchPackWeights(Math math, const float* w, int K, int C, int RS, int Cp, int Mpad, int Kpad, void* A,
                              cudaStream_t stream) {
  const size_t total = size_t(Mpad) * size_t(Kpad);
  const unsigned blocks = BlocksFor(total);
  switch (math) {
    case Math::kSimt:
    case Math::kTf32:
      return Launch<pack_weights<float>>(blocks, kThreads, 0, stream, w, K, C, RS, Cp, Kpad, total, math == Math::kTf32,
                                         static_cast<float*>(A));
    case Math::kBf16:
      return Launch<pack_weights<__nv_bfloat16>>(blocks, kThreads, 0, stream, w, K, C, RS, Cp, Kpad, total, false,
                                                 static_cast<__nv_bfloat16*>(A));
    case Math::kFp16:
      return Launch<pack_weights<__half>>(blocks, kThreads, 0, stream, w, K, C, RS, Cp, Kpad, total, false,
                                          static_cast<__half*>(A));
  }
  return cudaErrorInvalidValue;
}

cudaError_t LaunchNchwToNhwc(Math math, const float* x, int N, int C, int HW, int Cp, void* xh, cudaStream_t stream) {
  const dim3 grid(unsigned((HW + 31) / 32), unsigned((Cp + 31) / 32), unsigned(N));
  const dim3 block(32, 8);
  switch (math) {
    case Math::kTf32:
      return Launch<nchw_to_nhwc<float>>(grid, block, 0, stream, x, C, HW, Cp, true, static_cast<float*>(xh));
    case Math::kBf16:
      return Launch<nchw_to_nhwc<__nv_bfloat16>>(grid, block, 0, stream, x, C, HW, Cp, false,
                                                 static_cast<__nv_bfloat16*>(xh));
    case Math::kFp16:
      return Launch<nchw_to_nhwc<__half>>(grid, block, 0, stream, x, C, HW, Cp, false, static_cast<__half*>(xh));
    case Math::kSimt: break;
  }
  return cudaErrorInvalidValue;
}

cudaError_t LaunchIm2colColumns(const ConvArgs& a, float* out, cudaStream_t stream) {
  return Launch<im2col_columns_f32>(BlocksFor(size_t(a.cols) * a.Kpad), kThreads, 0, stream, a, out);
}

cudaError_t LaunchSplitkReduce(const float* partial, int split, int K, int cols, int PQ, const float* bias, int relu,
                               float* y, cudaStream_t stream) {
  return Launch<splitk_reduce_bias_relu_f32>(BlocksFor(size_t(K) * cols), kThreads, 0, stream, partial, split, K, cols,
                                             PQ, bias, relu, y);
}

cudaError_t LaunchMaxpool(const float* x, float* y, long long NC, int H, int W, int P, int Q, int window, int stride,
                          cudaStream_t stream) {
  return Launch<maxpool2d_nchw_f32>(BlocksFor(size_t(NC) * P * Q), kThreads, 0, stream, x, y, NC, H, W, P, Q, window,
                                    stride);
}

cudaError_t LaunchRelu(float* x, long long n, cudaStream_t stream) {
  return Launch<relu_f32>(BlocksFor(size_t(n)), kThreads, 0, stream, x, n);
}

cudaError_t LaunchAdaptiveAvgpool(const float* x, float* y, long long NC, int H, int W, int P, int Q,
                                  cudaStream_t stream) {
  return Launch<adaptive_avgpool2d_nchw_f32>(BlocksFor(size_t(NC) * P * Q), kThreads, 0, stream, x, y, NC, H, W, P, Q);
}

cudaError_t LaunchLrn(const float* x, float* y, int N, int C, long long HW, int size, float alpha, float beta, float k,
                      cudaStream_t stream) {
  return Launch<lrn_nchw_f32>(BlocksFor(size_t(N) * C * size_t(HW)), kThreads, 0, stream, x, y, N, C, HW, size, alpha,
                              beta, k);
}

cudaError_t CheckKernelImage() {
  cudaFuncAttributes attr;
  return cudaFuncGetAttributes(&attr, maxpool2d_nchw_f32);
}

}  // namespace vgg::cuda
