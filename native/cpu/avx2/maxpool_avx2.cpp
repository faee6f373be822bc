// maxpool2d_nchw_f32_2x2s2__avx2: one output row of VGG's 2×2 stride-2 max pooling with AVX2 (compiled with -mavx2
// -mfma; used only when cpuid reports them), bit-identical to ref::maxpool2d.
#include <immintrin.h>

#include "cpu/cpu_kernels.h"

namespace vgg::cpu {
namespace {

// m ← step(m, v) of ref::maxpool2d for 8 lanes: keep m if m is NaN, else take v if v is NaN or v > m.
inline __m256 MaxStep8(__m256 m, __m256 v) {
  const __m256 take =
      _mm256_andnot_ps(_mm256_cmp_ps(m, m, _CMP_UNORD_Q),
                       _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
  return _mm256_blendv_ps(m, v, take);
}

// Even and odd columns of 16 consecutive floats, in order.
inline void Deinterleave(const float* p, __m256* ev, __m256* od) {
  const __m256 lo = _mm256_loadu_ps(p), hi = _mm256_loadu_ps(p + 8);
  // shuffle_ps works per 128-bit lane: [e0 e1 e4 e5 | e2 e3 e6 e7] order, fixed by permute4x64.
  const __m256 e = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
  const __m256 o = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
  *ev = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
  *od = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}

}  // namespace

void maxpool2d_nchw_f32_2x2s2__avx2(const float* r0, const float* r1, float* y, int Q) {
  int q = 0;
  for (; q + 8 <= Q; q += 8) {
    __m256 a0, a1, b0, b1;
    Deinterleave(r0 + 2 * q, &a0, &a1);
    Deinterleave(r1 + 2 * q, &b0, &b1);
    __m256 m = MaxStep8(a0, a1);
    m = MaxStep8(m, b0);
    _mm256_storeu_ps(y + q, MaxStep8(m, b1));
  }
  MaxPool2x2s2RowScalar(r0, r1, y, q, Q);
}

}  // namespace vgg::cpu
