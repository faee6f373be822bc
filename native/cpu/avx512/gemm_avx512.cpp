// AVX-512 kernel family (compiled with -mavx512f/bw/vl/dq; used only when cpuid reports them and FMA).
// Kernels: gemm_f32_8x48__avx512 (8 rows × 3 zmm columns = 24 accumulators; 8x32 and 8x16 for tails),
//          gemv_f32_8xk__avx512 (single column, streams the packed 8-row panels at memory speed).
// GCC 12 flags its own avx512fintrin.h helpers (_mm512_undefined_*) as uninitialized: a known false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cpu/cpu_kernels.h"

namespace vgg::cpu::avx512 {
namespace {
#include "cpu/gemm_driver.h"

struct Traits {
  static constexpr int kMR = 8, kVL = 16, kNV = 3, kKC = 384, kNC = 480;
  static constexpr int kPrefetchK = 64;  // A prefetch distance in k steps (2 KB ahead)

  template <int NV>
  static inline __attribute__((always_inline)) void Tile(int kc, const float* __restrict a,
                                                        const float* __restrict b, float* __restrict c,
                                                        size_t ldc, int flags, const float* bias) {
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
    auto step = [&](int k) __attribute__((always_inline)) {
      __m512 bv[NV];
      for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + k * W + v * kVL);
      for (int i = 0; i < kMR; ++i) {
        const __m512 ai = _mm512_set1_ps(a[k * kMR + i]);
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
      }
    };
    int k = 0;
#pragma GCC unroll 2
    for (; k + 2 <= kc; k += 2) {
      // A streams from L3/DRAM the first time a panel is used (always, for few-column FC layers).
      _mm_prefetch(reinterpret_cast<const char*>(a + (k + kPrefetchK) * kMR), _MM_HINT_T0);
      step(k);
      step(k + 1);
    }
    if (k < kc) step(k);
    if (flags & kTileRelu) {
      const __m512 z = _mm512_setzero_ps();
      // max(0, v) returns v when v is NaN (second operand) and keeps −0: the reference's semantics.
      for (int i = 0; i < kMR; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_max_ps(z, acc[i][v]);
    }
    for (int i = 0; i < kMR; ++i)
      for (int v = 0; v < NV; ++v) _mm512_storeu_ps(c + i * ldc + v * kVL, acc[i][v]);
  }

  // One masked load (invalid lanes read as zero, never touched) and one masked store per 16 columns.
  static inline void CopyRun(float* d, const float* src, int len, int i0, int i1) {
    for (int i = 0; i < len; i += kVL) {
      const int n = Min(kVL, len - i), lo = Max(i0 - i, 0), hi = Min(i1 - i, kVL);
      const __mmask16 st = __mmask16((1u << n) - 1);
      const __mmask16 ld = hi > lo ? __mmask16(((1u << hi) - 1) & ~((1u << lo) - 1)) : __mmask16(0);
      _mm512_mask_storeu_ps(d + i, st, _mm512_maskz_loadu_ps(ld, src + i));
    }
  }

  // 2 k's of an 8-row panel are one zmm (lane e: row e mod 8 of k e/8): x[k..k+15] is permuted into
  // [x[2v]×8, x[2v+1]×8] for zmm v of each 16-k chunk.
  static void GemvPanel(const float* A, int Mpad, int Kdim, int ip, const float* x, float* out) {
    __m512i idx[8];
    for (int v = 0; v < 8; ++v)
      idx[v] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(2 * v)), _mm256_set1_epi32(2 * v + 1), 1);
    __m512 acc[4];
    for (int u = 0; u < 4; ++u) acc[u] = _mm512_setzero_ps();
    float tail[kMR] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int pc = 0; pc < Kdim; pc += kKC) {
      const int kc = Min(kKC, Kdim - pc);
      const float* a = A + size_t(pc) * Mpad + size_t(ip) * kMR * kc;
      const float* xb = x + pc;
      int k = 0;
      for (; k + 16 <= kc; k += 16) {
        const __m512 xv = _mm512_loadu_ps(xb + k);
        const float* ak = a + k * kMR;
        for (int v = 0; v < 8; ++v) _mm_prefetch(reinterpret_cast<const char*>(ak + 1024 + 16 * v), _MM_HINT_T0);
        for (int v = 0; v < 8; ++v)
          acc[v & 3] = _mm512_fmadd_ps(_mm512_loadu_ps(ak + 16 * v), _mm512_permutexvar_ps(idx[v], xv), acc[v & 3]);
      }
      for (; k < kc; ++k)
        for (int i = 0; i < kMR; ++i) tail[i] += a[k * kMR + i] * xb[k];
    }
    const __m512 s = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    const __m256 lo = _mm512_castps512_ps256(s), hi = _mm512_extractf32x8_ps(s, 1);
    alignas(32) float r[8];
    _mm256_store_ps(r, _mm256_add_ps(lo, hi));
    for (int i = 0; i < kMR; ++i) out[i] = r[i] + tail[i];
  }
};

// m ← step(m, v) of ref::maxpool2d for 16 lanes: keep m if m is NaN, else take v if v is NaN or v > m.
inline __m512 MaxStep16(__m512 m, __m512 v) {
  const __mmask16 take = _mm512_kandn(_mm512_cmp_ps_mask(m, m, _CMP_UNORD_Q),
                                      _mm512_kor(_mm512_cmp_ps_mask(v, m, _CMP_GT_OQ), _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q)));
  return _mm512_mask_blend_ps(take, m, v);
}

void MaxPool2x2s2Row(const float* r0, const float* r1, float* y, int Q) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  int q = 0;
  for (; q + 16 <= Q; q += 16) {
    const __m512 a0 = _mm512_loadu_ps(r0 + 2 * q), a1 = _mm512_loadu_ps(r0 + 2 * q + 16);
    const __m512 b0 = _mm512_loadu_ps(r1 + 2 * q), b1 = _mm512_loadu_ps(r1 + 2 * q + 16);
    __m512 m = _mm512_permutex2var_ps(a0, even, a1);
    m = MaxStep16(m, _mm512_permutex2var_ps(a0, odd, a1));
    m = MaxStep16(m, _mm512_permutex2var_ps(b0, even, b1));
    m = MaxStep16(m, _mm512_permutex2var_ps(b0, odd, b1));
    _mm512_storeu_ps(y + q, m);
  }
  MaxPool2x2s2RowScalar(r0, r1, y, q, Q);
}

}  // namespace
}  // namespace vgg::cpu::avx512

namespace vgg::cpu {

const IsaKernels& Avx512Kernels() {
  using T = avx512::Traits;
  static const IsaKernels k = {CpuIsa::kAvx512, "gemm_f32_8x48__avx512", "gemv_f32_8xk__avx512",
                               T::kMR, T::kVL, T::kNV * T::kVL, T::kKC, T::kNC,
                               &avx512::ConvGemm<T>, &avx512::ConvGemv<T>,
                               "maxpool2d_nchw_f32_2x2s2__avx512", &avx512::MaxPool2x2s2Row,
                               "conv2d_nchw_f32_3x3s1_winograd2x2__avx512", &avx512::ConvWinograd2x2<T>,
                               "conv2d_nchw_f32_3x3s1_winograd4x4__avx512", &avx512::ConvWinograd4x4<T>};
  return k;
}

}  // namespace vgg::cpu
