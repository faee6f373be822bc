// Conv weights packed once for the CPU kernels: the GEMM panel layout of cpu_kernels.h, or the Winograd
// transformed matrices U_ξ = G g Gᵀ in the same panel layout.
#pragma once
#include <memory>

#include "core/backend.h"
#include "cpu/aligned_buffer.h"
#include "cpu/cpu_kernels.h"
#include "cpu/thread_pool.h"

namespace vgg::cpu {

// Weights of one conv layer in the layout of one kernel family.
class CpuPackedConv final : public PackedConv {
 public:
  int K = 0, C = 0, R = 0, S = 0;
  int Mpad = 0, Kdim = 0;
  const IsaKernels* kernels = nullptr;  // the layout (MR, KC) belongs to this family
  ConvAlgorithm algo = ConvAlgorithm::kGemm;
  int winograd = 0;   // 2 or 4: `a` holds the (m+2)² transformed F(m×m, 3×3) matrices
  bool bf16 = false;  // kGemm only: `a` holds bf16 in K-pairs (cpu_kernels.h Bf16Kernels), Kdim rounded up to even
  AlignedBuf a;       // Kdim × Mpad floats (Winograd: (m+2)² · C × Mpad; bf16: Kpad × Mpad halves)
  AlignedBuf bias;    // Mpad floats, zeros where the layer has no bias
  size_t bytes() const override {
    const size_t rows = winograd ? size_t(winograd + 2) * (winograd + 2) * C : size_t(Kdim);
    if (bf16) return size_t(Kdim + 1) / 2 * Mpad * sizeof(float) + Mpad * sizeof(float);
    return (rows + 1) * Mpad * sizeof(float);
  }
  ConvAlgorithm algorithm() const override { return algo; }
  const char* precision() const override { return bf16 ? "bf16" : "fp32"; }
  const uint16_t* a_bf16() const { return bf16 ? reinterpret_cast<const uint16_t*>(a.get()) : nullptr; }
};

// Packs w (K,C,R,S) OIHW and b (K, may be null) for kGemm, or for a Winograd algorithm (3×3 only); with
// `bf16` (kGemm only), A in bf16 K-pairs for the Bf16Kernels. kDevice when out of memory.
Status PackConv(const IsaKernels& k, ThreadPool& pool, const ConvShape& s, ConvAlgorithm algorithm, const float* w,
                const float* b, bool bf16, std::unique_ptr<CpuPackedConv>* out);
// The same in parts (Backend::pack_conv_begin/pack_conv_rows): PackConvBegin checks and allocates;
// PackConvRows packs output channels [k0, k1) from w (k1 − k0, C, R, S) and b (k1 − k0, may be null), and with
// the band ending at K the zero rows up to Mpad. PackConv = PackConvBegin + PackConvRows(0, K).
Status PackConvBegin(const IsaKernels& k, const ConvShape& s, ConvAlgorithm algorithm, bool bf16,
                     std::unique_ptr<CpuPackedConv>* out);
Status PackConvRows(const IsaKernels& k, ThreadPool& pool, CpuPackedConv* pc, int k0, int k1, const float* w,
                    const float* b);

}  // namespace vgg::cpu
