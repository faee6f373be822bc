// maxpool2d_nchw_f32_2x2s2__neon: one output row of VGG's 2×2 stride-2 max pooling with NEON (aarch64 only),
// bit-identical to ref::maxpool2d.
#include <arm_neon.h>

#include "cpu/cpu_kernels.h"

namespace vgg::cpu {
namespace {

// m ← step(m, v) of ref::maxpool2d for 4 lanes: keep m if m is NaN, else take v if v is NaN or v > m.
// (FMAX would differ: it returns the NaN of either operand and orders −0 below +0.)
inline float32x4_t MaxStep4(float32x4_t m, float32x4_t v) {
  const uint32x4_t m_ok = vceqq_f32(m, m), v_nan = vmvnq_u32(vceqq_f32(v, v));
  const uint32x4_t take = vandq_u32(m_ok, vorrq_u32(vcgtq_f32(v, m), v_nan));
  return vbslq_f32(take, v, m);
}

}  // namespace

void maxpool2d_nchw_f32_2x2s2__neon(const float* r0, const float* r1, float* y, int Q) {
  int q = 0;
  for (; q + 4 <= Q; q += 4) {
    const float32x4x2_t a = vld2q_f32(r0 + 2 * q), b = vld2q_f32(r1 + 2 * q);  // even, odd columns
    float32x4_t m = MaxStep4(a.val[0], a.val[1]);
    m = MaxStep4(m, b.val[0]);
    vst1q_f32(y + q, MaxStep4(m, b.val[1]));
  }
  MaxPool2x2s2RowScalar(r0, r1, y, q, Q);
}

}  // namespace vgg::cpu
