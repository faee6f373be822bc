// The kernel families compiled into this binary (by architecture: CMakeLists.txt compiles avx2/ and avx512/
// on x86-64, neon/ on aarch64) and whether this CPU runs each.
#include "cpu/cpu_kernels.h"

namespace vgg::cpu {

const std::vector<IsaFamily>& CompiledFamilies() {
  static const std::vector<IsaFamily> families = [] {
    const CpuInfo& ci = GetCpuInfo();
    std::vector<IsaFamily> f = {{CpuIsa::kScalar, "scalar", true, &ScalarKernels}};
#if defined(__x86_64__)
    f.push_back({CpuIsa::kAvx2, "avx2", ci.avx2 && ci.fma, &Avx2Kernels});
    f.push_back({CpuIsa::kAvx512, "avx512", ci.avx512 && ci.fma, &Avx512Kernels});
#elif defined(__aarch64__)
    f.push_back({CpuIsa::kNeon, "neon", ci.neon, &NeonKernels});
#endif
    (void)ci;
    return f;
  }();
  return families;
}

}  // namespace vgg::cpu
