#include "cpu_peak.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

namespace vggh {
namespace {

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) double FmaLoopAvx2(long iters, double* cpu_s) {
  const double t0 = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
  asm volatile("vxorps %%ymm14, %%ymm14, %%ymm14\n vxorps %%ymm15, %%ymm15, %%ymm15" ::: "xmm14", "xmm15");
  for (long i = 0; i < iters; ++i)
    asm volatile(
        "vfmadd231ps %%ymm15, %%ymm14, %%ymm0\n vfmadd231ps %%ymm15, %%ymm14, %%ymm1\n"
        "vfmadd231ps %%ymm15, %%ymm14, %%ymm2\n vfmadd231ps %%ymm15, %%ymm14, %%ymm3\n"
        "vfmadd231ps %%ymm15, %%ymm14, %%ymm4\n vfmadd231ps %%ymm15, %%ymm14, %%ymm5\n"
        "vfmadd231ps %%ymm15, %%ymm14, %%ymm6\n vfmadd231ps %%ymm15, %%ymm14, %%ymm7\n"
        "vfmadd231ps %%ymm15, %%ymm14, %%ymm8\n vfmadd231ps %%ymm15, %%ymm14, %%ymm9\n"
        "vfmadd231ps %%ymm15, %%ymm14, %%ymm10\n vfmadd231ps %%ymm15, %%ymm14, %%ymm11\n" ::
            : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11");
  *cpu_s = CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - t0;
  asm volatile("vzeroupper");
  return 12.0 * 8 * 2 * double(iters);
}

__attribute__((target("avx512f"))) double FmaLoopAvx512(long iters, double* cpu_s) {
  const double t0 = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
  asm volatile("vpxord %%zmm14, %%zmm14, %%zmm14\n vpxord %%zmm15, %%zmm15, %%zmm15" ::: "xmm14", "xmm15");
  for (long i = 0; i < iters; ++i)
    asm volatile(
        "vfmadd231ps %%zmm15, %%zmm14, %%zmm0\n vfmadd231ps %%zmm15, %%zmm14, %%zmm1\n"
        "vfmadd231ps %%zmm15, %%zmm14, %%zmm2\n vfmadd231ps %%zmm15, %%zmm14, %%zmm3\n"
        "vfmadd231ps %%zmm15, %%zmm14, %%zmm4\n vfmadd231ps %%zmm15, %%zmm14, %%zmm5\n"
        "vfmadd231ps %%zmm15, %%zmm14, %%zmm6\n vfmadd231ps %%zmm15, %%zmm14, %%zmm7\n"
        "vfmadd231ps %%zmm15, %%zmm14, %%zmm8\n vfmadd231ps %%zmm15, %%zmm14, %%zmm9\n"
        "vfmadd231ps %%zmm15, %%zmm14, %%zmm10\n vfmadd231ps %%zmm15, %%zmm14, %%zmm11\n" ::
            : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11");
  *cpu_s = CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - t0;
  asm volatile("vzeroupper");
  return 12.0 * 16 * 2 * double(iters);
}
#endif

}  // namespace

double CpuSeconds(clockid_t which) {
  timespec ts;
  clock_gettime(which, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

Peak MeasurePeak(vgg::CpuIsa isa, int threads, int reps, double seconds) {
  Peak best;
#if defined(__x86_64__)
  const vgg::CpuInfo& ci = vgg::GetCpuInfo();
  if (isa == vgg::CpuIsa::kAvx512 && !(ci.avx512 && ci.fma)) return best;
  if (isa == vgg::CpuIsa::kAvx2 && !(ci.avx2 && ci.fma)) return best;
  if (isa == vgg::CpuIsa::kScalar) return best;
  auto loop = [&](long it, double* cpu) {
    return isa == vgg::CpuIsa::kAvx512 ? FmaLoopAvx512(it, cpu) : FmaLoopAvx2(it, cpu);
  };
  double dummy;
  loop(200000, &dummy);  // warm up (frequency ramp)
  // ~1.2e9 FMA instructions per second per thread on these cores; 12 per iteration.
  const long iters = std::max(1000L, long(seconds * 1e8));
  for (int rep = 0; rep < reps; ++rep) {
    std::vector<double> flop(size_t(threads), 0.0), cpu(size_t(threads), 0.0);
    std::vector<std::thread> th;
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) th.emplace_back([&, t] { flop[size_t(t)] = loop(iters, &cpu[size_t(t)]); });
    for (auto& t : th) t.join();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double sum = 0, core = 0;
    for (int t = 0; t < threads; ++t) {
      sum += flop[size_t(t)];
      core = std::max(core, flop[size_t(t)] / cpu[size_t(t)]);
    }
    best.wall = std::max(best.wall, sum / wall);
    best.per_core = std::max(best.per_core, core);
  }
#else
  (void)isa;
  (void)threads;
  (void)reps;
  (void)seconds;
#endif
  return best;
}

}  // namespace vggh
