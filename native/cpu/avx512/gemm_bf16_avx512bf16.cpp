// bf16 kernels of the AVX-512 family (compiled with -mavx512bf16 besides the family's flags; used only when
// the options ask for precision bf16 and cpuid reports avx512_bf16): layouts and arithmetic in cpu_kernels.h
// (Bf16Kernels). Products of bf16 operands in vdpbf16ps (_mm512_dpbf16_ps: 32 multiply-adds per instruction,
// two per fp32 lane), fp32 accumulation.
// Kernels: gemm_bf16_8x48__avx512bf16 (the im2col GEMM of templates/gemm.h with a bf16 microkernel: 8 rows ×
//          3 zmm of 16 columns, each zmm lane a K-pair; B packed in f32 by the template, then rounded to bf16
//          pairs in place), gemv_bf16_8xk__avx512bf16 and gemv_bf16_8xk_n8__avx512bf16 (GEMV-shaped layers:
//          6 panels as 3 zmm of 16 rows × a K-pair; A streams half the bytes of f32).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cpu/cpu_kernels.h"

namespace vgg::cpu::avx512bf16 {
namespace {
// clang-format off
#include "cpu/templates/gemm.h"
#include "cpu/templates/gemv.h"
// clang-format on

inline __m512 Dp(__m512 acc, __m512i a, __m512i b) { return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b); }

// Rows k and k+1 of 16 columns (f32) → 16 K-pairs (bf16, round to nearest even): lane j = (lo[j], hi[j]).
inline __m512i PairUp(__m512 lo, __m512 hi) {
  // cvtne2ps_pbh(a, b): elements 0-15 from b, 16-31 from a; then interleave the two halves.
  const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
  const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21,
                                       5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(idx, both);
}

// A B panel of kc rows × w columns (f32, w a multiple of 16) → ceil(kc/2) rows of w K-pairs, in place (the
// pair row kp is written at or before the f32 rows 2kp, 2kp+1 it reads, which are loaded first).
inline void PairPanelInPlace(float* f, int kc, int w) {
  uint32_t* o = reinterpret_cast<uint32_t*>(f);
  const int kcp = (kc + 1) / 2;
  for (int kp = 0; kp < kcp; ++kp) {
    const float* r0 = f + size_t(2 * kp) * w;
    const bool odd_tail = 2 * kp + 1 == kc;
    for (int j = 0; j < w; j += 16) {
      const __m512 lo = _mm512_load_ps(r0 + j);
      const __m512 hi = odd_tail ? _mm512_setzero_ps() : _mm512_load_ps(r0 + w + j);
      _mm512_store_si512(o + size_t(kp) * w + j, PairUp(lo, hi));
    }
  }
}

inline uint32_t Pair(float lo, float hi) { return uint32_t(RoundToBf16(lo)) | (uint32_t(RoundToBf16(hi)) << 16); }

struct Traits {
  static constexpr int kMR = 8, kVL = 16, kNV = 3, kKC = 384, kNC = 480;
  static constexpr int kPrefetchKp = 64;  // A prefetch distance in K-pairs (2 KB ahead for a GEMV panel)
  static constexpr int kGemvPanels = 6, kGemvGroup = 8;

  // c[i·ldc + j] = (first ? bias[i] : c) + Σ_kp dp(a pair (kp, i), b pair (kp, j)), then ReLU.
  template <int NV>
  static inline __attribute__((always_inline)) void Tile(int kcp, const uint32_t* __restrict a,
                                                         const uint32_t* __restrict b, float* __restrict c, size_t ldc,
                                                         int flags, const float* bias) {
    constexpr int W = NV * kVL;
    __m512 acc[kMR][NV];
    if (flags & kTileFirst) {
      for (int i = 0; i < kMR; ++i) {
        const __m512 bi = _mm512_set1_ps(bias[i]);
        for (int v = 0; v < NV; ++v) acc[i][v] = bi;
      }
    } else {
      for (int i = 0; i < kMR; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_loadu_ps(c + i * ldc + v * kVL);
    }
    auto step = [&](int kp) __attribute__((always_inline)) {
      __m512i bv[NV];
      for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_si512(b + kp * W + v * kVL);
      for (int i = 0; i < kMR; ++i) {
        const __m512i ai = _mm512_set1_epi32(int(a[kp * kMR + i]));
        for (int v = 0; v < NV; ++v) acc[i][v] = Dp(acc[i][v], ai, bv[v]);
      }
    };
    int kp = 0;
    for (; kp + 2 <= kcp; kp += 2) {
      _mm_prefetch(reinterpret_cast<const char*>(a + (kp + kPrefetchKp) * kMR), _MM_HINT_T0);
      step(kp);
      step(kp + 1);
    }
    if (kp < kcp) step(kp);
    if (flags & kTileRelu) {
      const __m512 z = _mm512_setzero_ps();
      for (int i = 0; i < kMR; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_max_ps(z, acc[i][v]);  // NaN and −0 kept
    }
    for (int i = 0; i < kMR; ++i)
      for (int v = 0; v < NV; ++v) _mm512_storeu_ps(c + i * ldc + v * kVL, acc[i][v]);
  }

  // PackB's copy (templates/gemm.h contract): masked load and store per 16 columns.
  static inline void CopyRun(float* d, const float* src, int len, int i0, int i1) {
    for (int i = 0; i < len; i += kVL) {
      const int n = Min(kVL, len - i), lo = Max(i0 - i, 0), hi = Min(i1 - i, kVL);
      const __mmask16 st = __mmask16((1u << n) - 1);
      const __mmask16 ld = hi > lo ? __mmask16(((1u << hi) - 1) & ~((1u << lo) - 1)) : __mmask16(0);
      _mm512_mask_storeu_ps(d + i, st, _mm512_maskz_loadu_ps(ld, src + i));
    }
  }
};

template <int NV>
inline void TileNVBf16(int kcp, const uint32_t* a, const uint32_t* b, float* c, size_t ldc, int flags,
                       const float* bias) {
  Traits::Tile<NV>(kcp, a, b, c, ldc, flags, bias);
}
inline void TileDispatchBf16(int nv, int kcp, const uint32_t* a, const uint32_t* b, float* c, size_t ldc, int flags,
                             const float* bias) {
  if (nv == 3) return TileNVBf16<3>(kcp, a, b, c, ldc, flags, bias);
  if (nv == 2) return TileNVBf16<2>(kcp, a, b, c, ldc, flags, bias);
  TileNVBf16<1>(kcp, a, b, c, ldc, flags, bias);
}

// templates/gemm.h's ConvGemm with the bf16 Tile: B packed in f32 by PackB, then paired in place.
void ConvGemmBf16(const ConvGemmArgs& g, const GemmTask& task) {
  constexpr int MR = Traits::kMR, VL = Traits::kVL, NR = Traits::kNV * Traits::kVL, KC = Traits::kKC, NC = Traits::kNC;
  const ConvShape& s = g.s;
  const int Kd = g.Kdim, PQ = g.PQ, Q = s.Q(), M = g.M;
  const size_t img = size_t(M) * PQ;
  const int kc_max = Min(KC, Kd);
  const int nc_max = (Min(NC, g.cols) + NR - 1) / NR * NR;
  float* bbuf = task.ws;
  ColRun* runs = reinterpret_cast<ColRun*>(task.ws + size_t(kc_max) * nc_max);
  alignas(64) float tmp[MR * NR];

  for (int jc = task.c0; jc < task.c1; jc += NC) {
    const int nc = Min(NC, task.c1 - jc);
    const int nruns = BuildRuns(s, PQ, Q, NR, jc, nc, runs);
    const int full = nc / NR, tail_cols = nc - full * NR, tail_w = (tail_cols + VL - 1) / VL * VL;
    for (int pc = 0; pc < Kd; pc += KC) {
      const int kc = Min(KC, Kd - pc), kcp = (kc + 1) / 2;
      PackB<Traits>(s, g.x, pc, kc, nc, runs, nruns, bbuf);
      for (int p = 0; p < full; ++p) PairPanelInPlace(bbuf + size_t(p) * kc * NR, kc, NR);
      if (tail_w) PairPanelInPlace(bbuf + size_t(full) * kc * NR, kc, tail_w);
      const int flags = (pc == 0 ? kTileFirst : 0) | (g.relu && pc + kc == Kd ? kTileRelu : 0);
      auto tile = [&](int ip, int jj, int panel) {
        const uint32_t* a =
            reinterpret_cast<const uint32_t*>(g.a_bf16 + size_t(pc) * g.Mpad + size_t(ip) * MR * 2 * kcp);
        const int m0 = ip * MR;
        const int rows = Min(MR, M - m0);
        const float* bias = g.bias + m0;
        const int nr = Min(NR, nc - jj), nv = (nr + VL - 1) / VL;
        const uint32_t* b = reinterpret_cast<const uint32_t*>(bbuf + size_t(panel) * kc * NR);
        const int j = jc + jj, n = j / PQ, pq = j - n * PQ;
        if (rows == MR && nr == nv * VL && pq + nr <= PQ) {
          TileDispatchBf16(nv, kcp, a, b, g.y + n * img + size_t(m0) * PQ + pq, size_t(PQ), flags, bias);
          return;
        }
        // Edge tile (partial rows, partial vector, or columns crossing images): via tmp.
        const int ldt = nv * VL;
        if (!(flags & kTileFirst)) {
          for (int i = 0; i < MR * ldt; ++i) tmp[i] = 0.f;
          int nn = n, qq = pq;
          for (int jl = 0; jl < nr; ++jl) {
            const float* src = g.y + nn * img + size_t(m0) * PQ + qq;
            for (int i = 0; i < rows; ++i) tmp[i * ldt + jl] = src[size_t(i) * PQ];
            if (++qq == PQ) {
              qq = 0;
              ++nn;
            }
          }
        }
        TileDispatchBf16(nv, kcp, a, b, tmp, size_t(ldt), flags, bias);
        int nn = n, qq = pq;
        for (int jl = 0; jl < nr; ++jl) {
          float* dst = g.y + nn * img + size_t(m0) * PQ + qq;
          for (int i = 0; i < rows; ++i) dst[size_t(i) * PQ] = tmp[i * ldt + jl];
          if (++qq == PQ) {
            qq = 0;
            ++nn;
          }
        }
      };
      for (int ip = task.p0; ip < task.p1; ++ip)
        for (int jj = 0, panel = 0; jj < nc; jj += NR, ++panel) tile(ip, jj, panel);
    }
  }
}

// ---- GEMV ----------------------------------------------------------------------------------------------

// One GemvBlock call (templates/gemv.h GemvTile with bf16 A and paired columns).
struct GemvTileBf16 {
  int kcp = 0;
  int flags = 0;
  const uint32_t* xp = nullptr;  // kcp × nb K-pairs, pair-major: xp[kp·nb + c]
  size_t ldy = 0;
  const uint16_t* a[Traits::kGemvPanels];
  const float* bias[Traits::kGemvPanels];
  float* y[Traits::kGemvPanels];
  int rows[Traits::kGemvPanels];
};

inline __m512 Join(__m256 lo, __m256 hi) { return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1); }

// 6 panels as 3 zmm (16 rows × one K-pair each) × NB columns: 3·NB accumulators, one vdpbf16ps per zmm and
// column per K-pair, the column's pair broadcast as the other operand.
template <int NB>
void GemvBlock(const GemvTileBf16& t) {
  constexpr int PB = Traits::kGemvPanels, PAIRS = PB / 2, MR = Traits::kMR;
  __m512 acc[PAIRS][NB];
  __mmask8 mlo[PAIRS], mhi[PAIRS];
  for (int p = 0; p < PAIRS; ++p) {
    mlo[p] = __mmask8((1u << t.rows[2 * p]) - 1);
    mhi[p] = __mmask8((1u << t.rows[2 * p + 1]) - 1);
    if (t.flags & kTileFirst) {
      const __m512 b = Join(_mm256_loadu_ps(t.bias[2 * p]), _mm256_loadu_ps(t.bias[2 * p + 1]));
      for (int c = 0; c < NB; ++c) acc[p][c] = b;
    } else {
      for (int c = 0; c < NB; ++c)
        acc[p][c] = Join(_mm256_maskz_loadu_ps(mlo[p], t.y[2 * p] + c * t.ldy),
                         _mm256_maskz_loadu_ps(mhi[p], t.y[2 * p + 1] + c * t.ldy));
    }
  }
  const uint16_t* a[PB];
  for (int j = 0; j < PB; ++j) a[j] = t.a[j];
  const uint32_t* xp = t.xp;
  auto step = [&](int kp) __attribute__((always_inline)) {
    __m512i av[PAIRS];
    for (int p = 0; p < PAIRS; ++p)
      av[p] = _mm512_inserti64x4(
          _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[2 * p] + kp * 2 * MR))),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[2 * p + 1] + kp * 2 * MR)), 1);
    for (int c = 0; c < NB; ++c) {
      const __m512i xb = _mm512_set1_epi32(int(xp[kp * NB + c]));
      for (int p = 0; p < PAIRS; ++p) acc[p][c] = Dp(acc[p][c], av[p], xb);
    }
  };
  const int kcp = t.kcp;
  int kp = 0;
  for (; kp + 2 <= kcp; kp += 2) {
    // A streams from memory for the first column group: one 64-byte line per panel per 2 K-pairs.
    for (int j = 0; j < PB; ++j)
      _mm_prefetch(reinterpret_cast<const char*>(a[j] + (kp + Traits::kPrefetchKp) * 2 * MR), _MM_HINT_T0);
    step(kp);
    step(kp + 1);
  }
  if (kp < kcp) step(kp);
  if (t.flags & kTileRelu) {
    const __m512 z = _mm512_setzero_ps();
    for (int p = 0; p < PAIRS; ++p)
      for (int c = 0; c < NB; ++c) acc[p][c] = _mm512_max_ps(z, acc[p][c]);
  }
  for (int p = 0; p < PAIRS; ++p)
    for (int c = 0; c < NB; ++c) {
      _mm256_mask_storeu_ps(t.y[2 * p] + c * t.ldy, mlo[p], _mm512_castps512_ps256(acc[p][c]));
      _mm256_mask_storeu_ps(t.y[2 * p + 1] + c * t.ldy, mhi[p], _mm512_extractf32x8_ps(acc[p][c], 1));
    }
}

template <int NB>
inline void GemvDispatchBf16(int nb, const GemvTileBf16& t) {
  if constexpr (NB > 1) {
    if (nb < NB) return GemvDispatchBf16<NB - 1>(nb, t);
  }
  GemvBlock<NB>(t);
}

// templates/gemv.h's ConvGemvPass with bf16 A: the pass's columns packed by PackGemvColumns, then paired in
// place (k-major f32 → pair-major K-pairs); a single FC column is paired from x into a stack buffer.
template <int NBMAX>
void ConvGemvPassBf16(const ConvGemmArgs& g, const GemmTask& task, int c0, int ncols) {
  constexpr int MR = Traits::kMR, KC = Traits::kKC, PB = Traits::kGemvPanels;
  const ConvShape& s = g.s;
  const int Kd = g.Kdim, M = g.M;
  const bool direct = ncols == 1 && s.pad == 0 && s.R == s.H && s.S == s.W;
  const int groups = (ncols + NBMAX - 1) / NBMAX;
  alignas(64) uint32_t xs[KC / 2];
  GemvTileBf16 tile;
  tile.ldy = size_t(M);
  for (int pc = 0; pc < Kd; pc += KC) {
    const int kc = Min(KC, Kd - pc), kcp = (kc + 1) / 2;
    if (direct) {
      const float* x = g.x + size_t(c0) * Kd + pc;
      for (int kp = 0; kp < kcp; ++kp) xs[kp] = Pair(x[2 * kp], 2 * kp + 1 < kc ? x[2 * kp + 1] : 0.f);
    } else {
      PackGemvColumns(s, g.x, pc, kc, c0, ncols, groups, task.ws);
      for (int gi = 0; gi < groups; ++gi) {
        const int n0 = int(int64_t(ncols) * gi / groups), nb = int(int64_t(ncols) * (gi + 1) / groups) - n0;
        float* f = task.ws + size_t(n0) * kc;
        uint32_t* o = reinterpret_cast<uint32_t*>(f);
        // In increasing order: pair (kp, c) is written at kp·nb + c, at or before the f32 values it reads.
        for (int kp = 0; kp < kcp; ++kp)
          for (int c = 0; c < nb; ++c) {
            const float lo = f[size_t(2 * kp) * nb + c], hi = 2 * kp + 1 < kc ? f[size_t(2 * kp + 1) * nb + c] : 0.f;
            o[size_t(kp) * nb + c] = Pair(lo, hi);
          }
      }
    }
    tile.kcp = kcp;
    tile.flags = (pc == 0 ? kTileFirst : 0) | (g.relu && pc + kc == Kd ? kTileRelu : 0);
    for (int q0 = task.p0; q0 < task.p1; q0 += PB) {
      int m0[PB];
      for (int j = 0; j < PB; ++j) {
        const int ip = Min(q0 + j, task.p1 - 1);
        m0[j] = ip * MR;
        tile.a[j] = g.a_bf16 + size_t(pc) * g.Mpad + size_t(ip) * MR * 2 * kcp;
        tile.bias[j] = g.bias + m0[j];
        tile.rows[j] = Min(MR, M - m0[j]);
      }
      for (int gi = 0; gi < groups; ++gi) {
        const int n0 = int(int64_t(ncols) * gi / groups), n1 = int(int64_t(ncols) * (gi + 1) / groups);
        tile.xp = direct ? xs : reinterpret_cast<const uint32_t*>(task.ws + size_t(n0) * kc);
        for (int j = 0; j < PB; ++j) tile.y[j] = g.y + size_t(c0 + n0) * M + m0[j];
        GemvDispatchBf16<NBMAX>(n1 - n0, tile);
      }
    }
  }
}

template <int NBMAX>
void ConvGemvColsBf16(const ConvGemmArgs& g, const GemmTask& task) {
  constexpr int PASS = kGemvPassColumns / NBMAX * NBMAX;
  if (task.p0 >= task.p1) return;
  for (int c0 = task.c0; c0 < task.c1; c0 += PASS) ConvGemvPassBf16<NBMAX>(g, task, c0, Min(PASS, task.c1 - c0));
}

}  // namespace
}  // namespace vgg::cpu::avx512bf16

namespace vgg::cpu {

void gemm_bf16_8x48__avx512bf16(const ConvGemmArgs& g, const GemmTask& t) { avx512bf16::ConvGemmBf16(g, t); }
void gemv_bf16_8xk__avx512bf16(const ConvGemmArgs& g, const GemmTask& t) { avx512bf16::ConvGemvColsBf16<1>(g, t); }
void gemv_bf16_8xk_n8__avx512bf16(const ConvGemmArgs& g, const GemmTask& t) {
  avx512bf16::ConvGemvColsBf16<avx512bf16::Traits::kGemvGroup>(g, t);
}

const Bf16Kernels& Avx512Bf16Kernels() {
  // The geometry the planner uses is Avx512Kernels()'s: it must be this unit's.
  static_assert(avx512bf16::Traits::kMR == 8 && avx512bf16::Traits::kNV * avx512bf16::Traits::kVL == 48 &&
                    avx512bf16::Traits::kKC % 2 == 0,
                "bf16 traits match the avx512 family's geometry, with an even KC");
  static const Bf16Kernels k = {VGG_CPU_KERNEL(gemm_bf16_8x48__avx512bf16), VGG_CPU_KERNEL(gemv_bf16_8xk__avx512bf16),
                                VGG_CPU_KERNEL(gemv_bf16_8xk_n8__avx512bf16)};
  return k;
}

}  // namespace vgg::cpu
