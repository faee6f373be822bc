// CPU feature detection, resolved once per process: the kernel family is chosen from it a single time.
#include <thread>

#include "core/backend.h"

namespace vgg {

const char* IsaName(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx512: return "avx512";
    case CpuIsa::kAvx2: return "avx2+fma";
    case CpuIsa::kScalar: return "scalar";
    default: return "auto";
  }
}

const CpuInfo& GetCpuInfo() {
  static const CpuInfo info = [] {
    CpuInfo i;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    i.avx2 = __builtin_cpu_supports("avx2");
    i.fma = __builtin_cpu_supports("fma");
    i.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#endif
    const unsigned hw = std::thread::hardware_concurrency();
    i.hardware_threads = hw ? int(hw) : 1;
    if (i.avx512 && i.fma) {
      i.best = CpuIsa::kAvx512;
      i.reason = "cpuid reports avx512f+bw+vl+dq and fma";
    } else if (i.avx2 && i.fma) {
      i.best = CpuIsa::kAvx2;
      i.reason = i.avx512 ? "cpuid reports avx2+fma (avx512 incomplete)" : "cpuid reports avx2+fma, no avx512";
    } else {
      i.best = CpuIsa::kScalar;
      i.reason = "cpuid reports no avx2+fma: portable scalar kernels";
    }
    return i;
  }();
  return info;
}

}  // namespace vgg
