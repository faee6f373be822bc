// maxpool2d_nchw_f32_2x2s2__avx512: one output row of VGG's 2×2 stride-2 max pooling with AVX512 (compiled with
// -mavx512f/bw/vl/dq; used only when cpuid reports them), bit-identical to ref::maxpool2d. GCC 12 flags its own
// avx512fintrin.h helpers (_mm512_undefined_*) as uninitialized: a known false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "cpu/cpu_kernels.h"

namespace vgg::cpu {
namespace {

// m ← step(m, v) of ref::maxpool2d for 16 lanes: keep m if m is NaN, else take v if v is NaN or v > m.
inline __m512 MaxStep16(__m512 m, __m512 v) {
  const __mmask16 take =
      _mm512_kandn(_mm512_cmp_ps_mask(m, m, _CMP_UNORD_Q),
                   _mm512_kor(_mm512_cmp_ps_mask(v, m, _CMP_GT_OQ), _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q)));
  return _mm512_mask_blend_ps(take, m, v);
}

}  // namespace

void maxpool2d_nchw_f32_2x2s2__avx512(const float* r0, const float* r1, float* y, int Q) {
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

}  // namespace vgg::cpu
