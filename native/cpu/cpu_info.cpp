// CPU feature detection, resolved once per process: the kernel family is chosen from it a single time.
#include <thread>

#include "core/backend.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace vgg {

const char* IsaName(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx512: return "avx512";
    case CpuIsa::kAvx2: return "avx2+fma";
    case CpuIsa::kNeon: return "neon";
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
    // AVX512_BF16 (vdpbf16ps, vcvtne2ps2bf16): CPUID.(EAX=7, ECX=1):EAX[bit 5] (Intel SDM vol. 2A, CPUID).
    // The OS's saving of the zmm state is what __builtin_cpu_supports("avx512f") already checked.
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (i.avx512 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) i.avx512_bf16 = (a >> 5) & 1u;
#elif defined(__aarch64__) && defined(__linux__)
    // Advanced SIMD is part of ARMv8-A, but the kernel can report it absent (e.g. a soft-float system).
    i.neon = (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0;
#endif
    const unsigned hw = std::thread::hardware_concurrency();
    i.hardware_threads = hw ? int(hw) : 1;
#if defined(__aarch64__)
    if (i.neon) {
      i.best = CpuIsa::kNeon;
      i.reason = "hwcaps report asimd";
    } else {
      i.best = CpuIsa::kScalar;
      i.reason = "hwcaps report no asimd: portable scalar kernels";
    }
#else
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
#endif
    return i;
  }();
  return info;
}

}  // namespace vgg
