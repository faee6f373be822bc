// conv2d_nchw_f32_igemm_simt_{64,128}x128x16: the plain fp32 path. Implicit GEMM (no im2col buffer):
// each block computes BM output channels × 128 columns (N·P·Q), stepping the reduction C·R·S by 16.
// A tile (weights) is stored transposed in shared memory, B tile (gathered input) as is; each thread
// owns (BM/16) × 8 outputs read as float4 from shared memory. The next tile's global loads are issued
// into registers before the current tile's FMAs (register double buffering, one shared buffer).
#include "cuda/conv_common.cuh"

namespace vgg::cuda {
namespace {

template <int BM>
__global__ void __launch_bounds__(kThreads, 2) conv2d_nchw_f32_igemm_simt(const ConvArgs a) {
  constexpr int BN = kBN, BK = kBkSimt, NT = kThreads;
  constexpr int TM = BM / 16;                   // rows per thread: 8 or 4
  constexpr int TN = 8;                         // columns per thread
  constexpr int A_PER_ROW = BK / 4;             // float4 per tile row
  constexpr int A_LOADS = BM * A_PER_ROW / NT;  // float4 per thread: 2 or 1
  constexpr int B_LOADS = BK * BN / NT;         // 8
  constexpr int B_ROW_STEP = NT / BN;           // 2
  static_assert(BM == 64 || BM == 128, "BM");
  static_assert(BM * A_PER_ROW % NT == 0 && BK * BN % NT == 0, "tile/thread split");
  static_assert(TM % 4 == 0, "rows are read as float4");

  __shared__ __align__(16) float As[BK][BM + 4];  // transposed: As[k][m]
  __shared__ __align__(16) float Bs[BK][BN + 4];
  __shared__ long long col_off[BN];

  const int tid = threadIdx.x;
  const int mt = blockIdx.x % a.mtiles, nt = blockIdx.x / a.mtiles;
  const int m0 = mt * BM, n0 = nt * BN + (Planted(PlantedFault::kTileOffByOne) ? 1 : 0);
  const int z = blockIdx.y;
  const int kt0 = z * a.ktiles_per_split;
  const int kt1 = min(kt0 + a.ktiles_per_split, a.ktiles);

  if (tid < BN) col_off[tid] = OutColumnOffset(a, n0 + tid);

  const int bcol = tid % BN, brow0 = tid / BN;
  const ColumnSrc src = MakeColumnSrc(a, n0 + bcol);
  const float* A = static_cast<const float*>(a.A);

  float4 ra[A_LOADS];
  float rb[B_LOADS];
  auto load = [&](int kt) {
    const int k0 = kt * BK;
#pragma unroll
    for (int i = 0; i < A_LOADS; ++i) {
      const int f = tid + i * NT;
      const int row = f / A_PER_ROW, cv = (f % A_PER_ROW) * 4;
      ra[i] = __ldg(reinterpret_cast<const float4*>(A + (size_t)(m0 + row) * a.Kpad + k0 + cv));
    }
#pragma unroll
    for (int i = 0; i < B_LOADS; ++i) rb[i] = GatherB(a, src, k0 + brow0 + B_ROW_STEP * i);
  };
  auto store = [&]() {
#pragma unroll
    for (int i = 0; i < A_LOADS; ++i) {
      const int f = tid + i * NT;
      const int row = f / A_PER_ROW, cv = (f % A_PER_ROW) * 4;
      As[cv + 0][row] = ra[i].x;
      As[cv + 1][row] = ra[i].y;
      As[cv + 2][row] = ra[i].z;
      As[cv + 3][row] = ra[i].w;
    }
#pragma unroll
    for (int i = 0; i < B_LOADS; ++i) Bs[brow0 + B_ROW_STEP * i][bcol] = rb[i];
  };

  const int tx = tid % 16, ty = tid / 16;
  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

  if (kt0 < kt1) load(kt0);
  for (int kt = kt0; kt < kt1; ++kt) {
    store();
    if (!Planted(PlantedFault::kSkipBarrier)) __syncthreads();
    if (kt + 1 < kt1) load(kt + 1);
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      float av[TM], bv[TN];
#pragma unroll
      for (int i = 0; i < TM / 4; ++i) {
        const float4 t = *reinterpret_cast<const float4*>(&As[k][i * 64 + ty * 4]);
        av[4 * i + 0] = t.x;
        av[4 * i + 1] = t.y;
        av[4 * i + 2] = t.z;
        av[4 * i + 3] = t.w;
      }
#pragma unroll
      for (int j = 0; j < TN / 4; ++j) {
        const float4 t = *reinterpret_cast<const float4*>(&Bs[k][j * 64 + tx * 4]);
        bv[4 * j + 0] = t.x;
        bv[4 * j + 1] = t.y;
        bv[4 * j + 2] = t.z;
        bv[4 * j + 3] = t.w;
      }
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }
  __syncthreads();  // col_off visible even when this split had no main-loop step

#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int m = m0 + (i / 4) * 64 + ty * 4 + (i % 4);
    if (m >= a.K) continue;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int c = (j / 4) * 64 + tx * 4 + (j % 4);
      const int n = n0 + c;
      if (n < a.cols) StoreOut(a, z, m, n, col_off[c], acc[i][j]);
    }
  }
}

}  // namespace

cudaError_t LaunchConvSimt(const ConvArgs& a, int bm, int split, cudaStream_t stream) {
  const dim3 grid(unsigned(a.mtiles) * unsigned(a.ntiles), unsigned(split));
  if (bm == 64) return Launch<conv2d_nchw_f32_igemm_simt<64>>(grid, kThreads, 0, stream, a);
  return Launch<conv2d_nchw_f32_igemm_simt<128>>(grid, kThreads, 0, stream, a);
}

}  // namespace vgg::cuda
