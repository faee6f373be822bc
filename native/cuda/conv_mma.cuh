// conv2d_nhwc_{tf32,bf16,f16}_igemm_mma_{BM}x{BN}x{BK}_s{STAGES}: the tensor-core convolutions. Implicit
// GEMM y (K × N·P·Q) = A (K × R·S·Cp) · im2col(xh), where xh is the input in NHWC with Cp channels in the
// compute type (nchw_to_nhwc_*; Cp = C rounded up to 16 bytes) and A the weights packed K-major as
// [Mpad][Kpad] with reduction index j = (r·S + s)·Cp + c (pack_weights, KRSC):
//  - operands go to shared memory by 16-byte cp.async copies, zero-filled outside the image, past the
//    last column and in the reduction padding, in a STAGES-deep pipeline with one barrier per k-tile;
//  - a k-tile is 64 bytes of reduction per row (BK = 32 16-bit or 16 tf32 elements): 4 chunks of 16
//    bytes, chunk q of row r stored at q ^ ((r >> 1) & 3), so the 8 rows ldmatrix reads at once fall in
//    8 different bank groups;
//  - each thread copies one fixed chunk column of its B rows: the im2col position (r, s, c) of that chunk
//    advances by BK every k-tile (one compare and add while Cp ≥ BK): no division in the main loop;
//  - WARPS_M × WARPS_N warps, each owning a (BM/WARPS_M) × (BN/WARPS_N) tile of outputs: ldmatrix.x4
//    fragments and mma.sync m16n8k16 (bf16, f16) or m16n8k8 (tf32) with fp32 accumulators (ptx.cuh);
//  - the epilogue adds the bias and applies ReLU from registers and writes NCHW fp32 (column pairs as
//    float2 where adjacent and aligned), or raw sums into the split-K workspace.
// Included by conv_mma_{tf32,bf16,f16}.cu (one precision per file, compiled side by side).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda/conv_common.cuh"
#include "cuda/ptx.cuh"

namespace vgg::cuda {

template <Math M>
struct MmaTraits;
template <>
struct MmaTraits<Math::kTf32> {
  using T = float;  // holds tf32 values (nchw_to_nhwc and pack_weights round them)
};
template <>
struct MmaTraits<Math::kBf16> {
  using T = __nv_bfloat16;
};
template <>
struct MmaTraits<Math::kFp16> {
  using T = __half;
};

constexpr int kMmaRowBytes = kBkMmaBytes;  // one k-tile of one row of A or B
constexpr int kMmaChunks = 4;              // 16-byte chunks per row and k-tile

// Byte offset of chunk q of row r in a stage's A or B tile.
__device__ __forceinline__ int SwizzledChunk(int r, int q) { return r * kMmaRowBytes + ((q ^ ((r >> 1) & 3)) << 4); }

template <Math M, int BM, int BN, int WARPS_M, int WARPS_N, int STAGES>
__global__ void __launch_bounds__(WARPS_M* WARPS_N * 32, 512 / (WARPS_M * WARPS_N * 32))
    conv2d_nhwc_igemm_mma(const ConvArgs a) {
  using T = typename MmaTraits<M>::T;
  constexpr int NT = WARPS_M * WARPS_N * 32;
  constexpr int CH = 16 / int(sizeof(T));            // elements per chunk
  constexpr int BK = kMmaRowBytes / int(sizeof(T));  // elements per k-tile
  constexpr int WTM = BM / WARPS_M, WTN = BN / WARPS_N;
  constexpr int MI = WTM / 16, NI = WTN / 8;  // mma tiles per warp (16 rows × 8 columns each)
  constexpr int ROW_STEP = NT / kMmaChunks;   // rows between one thread's copies
  constexpr int A_COPIES = BM / ROW_STEP, B_COPIES = BN / ROW_STEP;
  constexpr int A_BYTES = BM * kMmaRowBytes, STAGE_BYTES = (BM + BN) * kMmaRowBytes;
  static_assert(BM % ROW_STEP == 0 && BN % ROW_STEP == 0 && A_COPIES >= 1 && B_COPIES >= 1, "copies per thread");
  static_assert(WTM % 16 == 0 && WTN % 16 == 0, "warp tile: 16-row and 16-column steps");
  static_assert(STAGES >= 2, "pipeline");

  unsigned char* smem = DynamicSmem<unsigned char>();
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int wm = warp / WARPS_N, wn = warp % WARPS_N;
  const int mt = blockIdx.x % a.mtiles, nt = blockIdx.x / a.mtiles;
  const int m0 = mt * BM, n0 = nt * BN + (Planted(PlantedFault::kTileOffByOne) ? 1 : 0);
  const int z = blockIdx.y;
  const int kt0 = z * a.ktiles_per_split;
  const int kt1 = min(kt0 + a.ktiles_per_split, a.ktiles);

  // This thread copies chunk column `lq` of rows lrow + i·ROW_STEP of each tile.
  const int lq = tid % kMmaChunks, lrow = tid / kMmaChunks;
  const T* a_src = static_cast<const T*>(a.A) + (size_t)(m0 + lrow) * a.Kpad + (size_t)kt0 * BK + lq * CH;
  const T* x = static_cast<const T*>(a.xh);
  int b_img[B_COPIES], b_h0[B_COPIES], b_w0[B_COPIES];  // xh offset of the image; the window's origin
#pragma unroll
  for (int i = 0; i < B_COPIES; ++i) {
    const ColumnSrc c = MakeColumnSrc(a, n0 + lrow + i * ROW_STEP);
    b_img[i] = int(c.xbase / a.C) * a.Cp;  // img·H·W·Cp (xbase = img·C·H·W)
    b_h0[i] = c.h0;
    b_w0[i] = c.w0;
  }
  // The im2col position of this thread's chunk in the next k-tile to copy: j = (r·S + s)·Cp + c.
  int jc, js, jr;
  {
    const int j = kt0 * BK + lq * CH;
    const int rs = j / a.Cp;
    jc = j - rs * a.Cp;
    jr = rs / a.S;
    js = rs - jr * a.S;
  }

  auto copy_tile = [&](int slot) {  // the next k-tile into stage `slot`
    unsigned char* sa = smem + slot * STAGE_BYTES;
    unsigned char* sb = sa + A_BYTES;
#pragma unroll
    for (int i = 0; i < A_COPIES; ++i)
      CpAsync16(sa + SwizzledChunk(lrow + i * ROW_STEP, lq), a_src + (size_t)i * ROW_STEP * a.Kpad, true);
    a_src += BK;
#pragma unroll
    for (int i = 0; i < B_COPIES; ++i) {
      const int h = b_h0[i] + jr, w = b_w0[i] + js;
      const bool valid = jr < a.R && unsigned(h) < unsigned(a.H) && unsigned(w) < unsigned(a.W);
      const T* src = valid ? x + b_img[i] + (h * a.W + w) * a.Cp + jc : x;
      CpAsync16(sb + SwizzledChunk(lrow + i * ROW_STEP, lq), src, valid);
    }
    for (jc += BK; jc >= a.Cp;) {
      jc -= a.Cp;
      if (++js == a.S) {
        js = 0;
        ++jr;
      }
    }
  };

  float acc[MI][NI][4];
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (kt0 + s < kt1) copy_tile(s);
    CpAsyncCommit();  // a group per stage, empty or not, so that the wait counts below hold
  }
  int slot = 0;
  for (int kt = kt0; kt < kt1; ++kt) {
    if (!Planted(PlantedFault::kSkipAsyncWait)) CpAsyncWait<STAGES - 2>();  // this thread's copies of kt landed
    // Everyone's copies of kt landed, and everyone is done with kt − 1, whose stage the copy below reuses.
    if (!Planted(PlantedFault::kSkipBarrier)) __syncthreads();
    if (kt + STAGES - 1 < kt1) copy_tile(slot == 0 ? STAGES - 1 : slot - 1);
    CpAsyncCommit();

    const unsigned char* sa = smem + slot * STAGE_BYTES + (Planted(PlantedFault::kMisalignedLdmatrix) ? 4 : 0);
    const unsigned char* sb = smem + slot * STAGE_BYTES + A_BYTES;
#pragma unroll
    for (int ks = 0; ks < 2; ++ks) {  // two mma k-steps of 32 bytes per k-tile
      unsigned af[MI][4], bf[NI][2];
#pragma unroll
      for (int i = 0; i < MI; ++i)
        LdMatrixX4(af[i], sa + SwizzledChunk(wm * WTM + i * 16 + (lane & 15), 2 * ks + (lane >> 4)));
#pragma unroll
      for (int j = 0; j < NI; j += 2) {
        unsigned r[4];
        LdMatrixX4(r,
                   sb + SwizzledChunk(wn * WTN + j * 8 + (lane & 7) + ((lane >> 4) << 3), 2 * ks + ((lane >> 3) & 1)));
        bf[j][0] = r[0];
        bf[j][1] = r[1];
        bf[j + 1][0] = r[2];
        bf[j + 1][1] = r[3];
      }
#pragma unroll
      for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j) MmaSync<M>(acc[i][j], af[i], bf[j]);
    }
    slot = slot + 1 == STAGES ? 0 : slot + 1;
  }
  CpAsyncWait<0>();  // no copy may land after the block is gone (only empty groups remain here)

  // Epilogue: acc[i][j][2h + e] is output (row g + 8h, column 2t + e) of mma tile (i, j).
  const int g = lane >> 2, t = lane & 3;
  long long col_off[NI][2];
#pragma unroll
  for (int j = 0; j < NI; ++j)
#pragma unroll
    for (int e = 0; e < 2; ++e) col_off[j][e] = OutColumnOffset(a, n0 + wn * WTN + j * 8 + 2 * t + e);
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int m = m0 + wm * WTM + i * 16 + g + 8 * h;
      if (m >= a.K) continue;
#pragma unroll
      for (int j = 0; j < NI; ++j) {
        const int n = n0 + wn * WTN + j * 8 + 2 * t;
        float v0 = acc[i][j][2 * h], v1 = acc[i][j][2 * h + 1];
        if (a.partial) {
          float* p = a.partial + ((size_t)z * a.K + m) * (size_t)a.cols + n;
          if (n < a.cols) p[0] = v0;
          if (n + 1 < a.cols) p[1] = v1;
          continue;
        }
        const float b = a.bias[m];
        v0 += b;
        v1 += b;
        if (a.relu && v0 < 0.f) v0 = 0.f;  // NaN stays NaN
        if (a.relu && v1 < 0.f) v1 = 0.f;
        const long long o0 = col_off[j][0], o1 = col_off[j][1];
        float* p = a.y + o0 + (long long)m * a.PQ;
        if (o0 >= 0 && o1 == o0 + 1 && (reinterpret_cast<uintptr_t>(p) & 7) == 0) {
          *reinterpret_cast<float2*>(p) = make_float2(v0, v1);
        } else {
          if (o0 >= 0) *p = v0;
          if (o1 >= 0) a.y[o1 + (long long)m * a.PQ] = v1;
        }
      }
    }
}

// The kernel of one tile of cuda_kernels.h (two warps along M).
template <Math M, MmaTile TILE>
cudaError_t LaunchConvMmaTile(const ConvArgs& a, int split, cudaStream_t stream) {
  constexpr MmaTileShape S = ShapeOf(TILE);
  constexpr size_t smem = size_t(S.stages) * (S.bm + S.bn) * kMmaRowBytes;
  static_assert(smem <= 48 * 1024, "within the default dynamic shared memory limit (no opt-in on any GPU)");
  const dim3 grid(unsigned(a.mtiles) * unsigned(a.ntiles), unsigned(split));
  return Launch<conv2d_nhwc_igemm_mma<M, S.bm, S.bn, 2, S.threads / 64, S.stages>>(grid, S.threads, smem, stream, a);
}

template <Math M>
cudaError_t LaunchConvMmaT(const ConvArgs& a, MmaTile tile, int split, cudaStream_t stream) {
  switch (tile) {
    case MmaTile::k128x128: return LaunchConvMmaTile<M, MmaTile::k128x128>(a, split, stream);
    case MmaTile::k64x128: return LaunchConvMmaTile<M, MmaTile::k64x128>(a, split, stream);
    case MmaTile::k64x64: return LaunchConvMmaTile<M, MmaTile::k64x64>(a, split, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace vgg::cuda
