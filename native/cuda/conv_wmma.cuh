// conv2d_nchw_{tf32,bf16,f16}_igemm_wmma_{64,128}x128x32: the tensor-core paths. Implicit GEMM like the
// SIMT kernel, with the multiply on tensor cores through the CUDA wmma API (fragment layouts are the
// compiler's business, which keeps this kernel portable and hard to get wrong):
//  - 8 warps as 2 (rows) × 4 (columns); a warp owns (BM/2) × 32 outputs = (BM/32) × 2 fragments 16×16.
//  - A (weights) and B (gathered input) tiles are converted once when stored to shared memory: rounded
//    to TF32 (cvt.rna), or already bf16/fp16 in A and rounded to nearest even in B.
//  - Accumulation in fp32. The epilogue stages each 16×16 fragment through shared memory (per warp) and
//    writes it with bias + ReLU to NCHW, or raw to the split-K partial buffer.
// Included by conv_wmma_tf32.cu and conv_wmma_f16.cu (one instantiation family per file).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include "cuda/conv_common.cuh"

namespace vgg::cuda {

template <Math M>
struct WmmaTraits;

template <>
struct WmmaTraits<Math::kTf32> {
  using S = float;  // shared-memory element (holds TF32 values)
  using G = float;  // packed weight element in global memory
  using Frag = nvcuda::wmma::precision::tf32;
  static constexpr int KS = 8;   // k of one mma (m16n16k8)
  static constexpr int PAD = 4;  // shared row padding, elements (rows stay 16-byte multiples)
  static __device__ __forceinline__ S Convert(float v) { return nvcuda::wmma::__float_to_tf32(v); }
};

template <>
struct WmmaTraits<Math::kBf16> {
  using S = __nv_bfloat16;
  using G = __nv_bfloat16;
  using Frag = __nv_bfloat16;
  static constexpr int KS = 16;
  static constexpr int PAD = 8;
  static __device__ __forceinline__ S Convert(float v) { return __float2bfloat16_rn(v); }
};

template <>
struct WmmaTraits<Math::kFp16> {
  using S = __half;
  using G = __half;
  using Frag = __half;
  static constexpr int KS = 16;
  static constexpr int PAD = 8;
  static __device__ __forceinline__ S Convert(float v) { return __float2half_rn(v); }
};

template <Math M, int BM>
__global__ void __launch_bounds__(kThreads, 2) conv2d_nchw_igemm_wmma(const ConvArgs a) {
  namespace wmma = nvcuda::wmma;
  using T = WmmaTraits<M>;
  using S = typename T::S;
  using G = typename T::G;
  constexpr int BN = kBN, BK = kBkWmma, NT = kThreads;
  constexpr int LDA = BK + T::PAD;  // As[m][k]
  constexpr int LDB = BN + T::PAD;  // Bs[k][n]
  constexpr int WARPS_N = 4;
  constexpr int WM = BM / 2, WN = BN / WARPS_N;  // warp tile
  constexpr int FM = WM / 16, FN = WN / 16;      // fragments per warp
  constexpr int A_VEC = 16 / int(sizeof(G));     // elements per 16-byte load
  constexpr int A_PER_ROW = BK / A_VEC;
  constexpr int A_LOADS = BM * A_PER_ROW / NT;
  constexpr int B_LOADS = BK * BN / NT;  // 16
  constexpr int B_ROW_STEP = NT / BN;    // 2
  constexpr int EPI_LD = 20;             // floats; a multiple of 4 as store_matrix_sync requires
  constexpr int A_BYTES = BM * LDA * int(sizeof(S));
  constexpr int B_BYTES = BK * LDB * int(sizeof(S));
  constexpr int EPI_BYTES = (NT / 32) * 16 * EPI_LD * int(sizeof(float));
  constexpr int SMEM_BYTES = A_BYTES + B_BYTES > EPI_BYTES ? A_BYTES + B_BYTES : EPI_BYTES;
  static_assert(BM == 64 || BM == 128, "BM");
  static_assert(BM * A_PER_ROW % NT == 0 && A_LOADS >= 1, "A tile/thread split");
  static_assert(BK % T::KS == 0, "BK");
  // wmma pointers must be 256-bit aligned: every fragment origin below is a multiple of 32 bytes when
  // the rows are (LDA, LDB in bytes times 16 or 8 rows) and the B tile starts on a 32-byte boundary.
  static_assert(A_BYTES % 32 == 0, "B tile alignment");
  static_assert((LDA * sizeof(S)) % 16 == 0 && (LDB * sizeof(S)) % 16 == 0, "ldm must be 16-byte multiple");
  static_assert((16 * LDA * sizeof(S)) % 32 == 0 && (T::KS * LDB * sizeof(S)) % 32 == 0, "fragment alignment");

  __shared__ __align__(128) unsigned char smem[SMEM_BYTES];
  __shared__ long long col_off[BN];
  S* As = reinterpret_cast<S*>(smem);
  S* Bs = reinterpret_cast<S*>(smem + A_BYTES);

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int wm = warp / WARPS_N, wn = warp % WARPS_N;
  const int mt = blockIdx.x % a.mtiles, nt = blockIdx.x / a.mtiles;
  const int m0 = mt * BM, n0 = nt * BN + (Planted(PlantedFault::kTileOffByOne) ? 1 : 0);
  const int z = blockIdx.y;
  const int kt0 = z * a.ktiles_per_split;
  const int kt1 = min(kt0 + a.ktiles_per_split, a.ktiles);

  if (tid < BN) col_off[tid] = OutColumnOffset(a, n0 + tid);

  const int bcol = tid % BN, brow0 = tid / BN;
  const ColumnSrc src = MakeColumnSrc(a, n0 + bcol);
  const G* A = static_cast<const G*>(a.A);

  uint4 ra[A_LOADS];
  float rb[B_LOADS];
  auto load = [&](int kt) {
    const int k0 = kt * BK;
#pragma unroll
    for (int i = 0; i < A_LOADS; ++i) {
      const int f = tid + i * NT;
      const int row = f / A_PER_ROW, cv = (f % A_PER_ROW) * A_VEC;
      ra[i] = __ldg(reinterpret_cast<const uint4*>(A + (size_t)(m0 + row) * a.Kpad + k0 + cv));
    }
#pragma unroll
    for (int i = 0; i < B_LOADS; ++i) rb[i] = GatherB(a, src, k0 + brow0 + B_ROW_STEP * i);
  };
  auto store = [&]() {
#pragma unroll
    for (int i = 0; i < A_LOADS; ++i) {
      const int f = tid + i * NT;
      const int row = f / A_PER_ROW, cv = (f % A_PER_ROW) * A_VEC;
      S* dst = As + row * LDA + cv;
      if constexpr (sizeof(G) == 4) {
        *reinterpret_cast<float4*>(dst) =
            make_float4(T::Convert(__uint_as_float(ra[i].x)), T::Convert(__uint_as_float(ra[i].y)),
                        T::Convert(__uint_as_float(ra[i].z)), T::Convert(__uint_as_float(ra[i].w)));
      } else {
        *reinterpret_cast<uint4*>(dst) = ra[i];  // already bf16/fp16
      }
    }
#pragma unroll
    for (int i = 0; i < B_LOADS; ++i) Bs[(brow0 + B_ROW_STEP * i) * LDB + bcol] = T::Convert(rb[i]);
  };

  wmma::fragment<wmma::accumulator, 16, 16, T::KS, float> acc[FM][FN];
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j) wmma::fill_fragment(acc[i][j], 0.f);

  if (kt0 < kt1) load(kt0);
  for (int kt = kt0; kt < kt1; ++kt) {
    store();
    if (!Planted(PlantedFault::kSkipBarrier)) __syncthreads();
    if (kt + 1 < kt1) load(kt + 1);
#pragma unroll
    for (int ks = 0; ks < BK; ks += T::KS) {
      wmma::fragment<wmma::matrix_a, 16, 16, T::KS, typename T::Frag, wmma::row_major> fa[FM];
      wmma::fragment<wmma::matrix_b, 16, 16, T::KS, typename T::Frag, wmma::row_major> fb[FN];
#pragma unroll
      for (int i = 0; i < FM; ++i) wmma::load_matrix_sync(fa[i], As + (wm * WM + i * 16) * LDA + ks, LDA);
#pragma unroll
      for (int j = 0; j < FN; ++j) wmma::load_matrix_sync(fb[j], Bs + ks * LDB + wn * WN + j * 16, LDB);
#pragma unroll
      for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();
  }
  __syncthreads();  // shared tiles free for the epilogue; col_off visible even without a main-loop step

  float* scratch = reinterpret_cast<float*>(smem) + warp * 16 * EPI_LD;
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j) {
      wmma::store_matrix_sync(scratch, acc[i][j], EPI_LD, wmma::mem_row_major);
      __syncwarp();
#pragma unroll
      for (int t = 0; t < 8; ++t) {
        const int e = lane + 32 * t;
        const int r = e / 16, c = e % 16;  // a half-warp writes 16 consecutive columns of one row
        const int m = m0 + wm * WM + i * 16 + r;
        const int cl = wn * WN + j * 16 + c;
        const int n = n0 + cl;
        if (m < a.K && n < a.cols) StoreOut(a, z, m, n, col_off[cl], scratch[r * EPI_LD + c]);
      }
      __syncwarp();
    }
}

template <Math M>
cudaError_t LaunchConvWmmaT(const ConvArgs& a, int bm, int split, cudaStream_t stream) {
  const dim3 grid(unsigned(a.mtiles) * unsigned(a.ntiles), unsigned(split));
  if (bm == 64) return Launch<conv2d_nchw_igemm_wmma<M, 64>>(grid, kThreads, 0, stream, a);
  return Launch<conv2d_nchw_igemm_wmma<M, 128>>(grid, kThreads, 0, stream, a);
}

}  // namespace vgg::cuda
