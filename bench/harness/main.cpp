// vggnet_harness: Node-free C++ benchmarks of the backends (DESIGN.md habit 10).
//
//   vggnet_harness conv  [--isa auto|scalar|avx2|avx512] [--threads N] [--runs R] [--warmup W] [--only NAME]
//       Times every VGG16 conv layer at 224×224 (batch 1) and FC6/FC7/FC8 at batch 1 and 8 on the cpu
//       backend: median ms over R runs after W warm-ups, GFLOP/s (FLOPs = 2 × MACs), and % of the FMA
//       peak measured in this same run (a register-only FMA loop on the same threads).
//   vggnet_harness check [--isa ...] [--threads N]
//       Compares the cpu backend with the reference backend on a few shapes (for sanitizer builds).
//   vggnet_harness peak  [--threads N]
//       Only the FMA peak loops (AVX2 and AVX-512).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/backend.h"
#include "core/ref/reference.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// CPU seconds consumed by this process / this thread: unlike wall time they do not grow when a
// neighbour on a shared host takes the cores away, so efficiency per CPU-second stays comparable.
double CpuSeconds(clockid_t which) {
  timespec ts;
  clock_gettime(which, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// ---- FMA peak: 12 independent accumulator chains, register-only, per thread ---------------------------
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

struct Peak {
  double wall = 0;      // FLOP/s of all threads together, wall clock (what this run could get now)
  double per_core = 0;  // FLOP per CPU-second of one thread (the core's own peak, immune to sharing)
};

// FMA peak of `threads` threads running the loop at once: best of `reps` runs of ~`seconds` each.
Peak MeasurePeak(vgg::CpuIsa isa, int threads, int reps = 3, double seconds = 0.15) {
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
    const auto t0 = Clock::now();
    for (int t = 0; t < threads; ++t)
      th.emplace_back([&, t] { flop[size_t(t)] = loop(iters, &cpu[size_t(t)]); });
    for (auto& t : th) t.join();
    const double wall = Seconds(t0, Clock::now());
    double sum = 0, core = 0;
    for (int t = 0; t < threads; ++t) {
      sum += flop[size_t(t)];
      core = std::max(core, flop[size_t(t)] / cpu[size_t(t)]);
    }
    best.wall = std::max(best.wall, sum / wall);
    best.per_core = std::max(best.per_core, core);
  }
#else
  (void)isa; (void)threads;
#endif
  return best;
}

// ---- helpers -----------------------------------------------------------------------------------------
struct Options {
  std::string cmd;
  vgg::CpuOptions cpu;
  int runs = 7, warmup = 2;
  std::string only;  // run only the layers whose name contains this
};

bool ParseArgs(int argc, char** argv, Options* o) {
  if (argc < 2) return false;
  o->cmd = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&](const char* name) -> const char* {
      if (i + 1 >= argc) { std::fprintf(stderr, "%s: missing value\n", name); std::exit(2); }
      return argv[++i];
    };
    if (a == "--isa") {
      const std::string v = next("--isa");
      if (v == "auto") o->cpu.isa = vgg::CpuIsa::kAuto;
      else if (v == "scalar") o->cpu.isa = vgg::CpuIsa::kScalar;
      else if (v == "avx2") o->cpu.isa = vgg::CpuIsa::kAvx2;
      else if (v == "avx512") o->cpu.isa = vgg::CpuIsa::kAvx512;
      else { std::fprintf(stderr, "--isa: expected auto|scalar|avx2|avx512, got '%s'\n", v.c_str()); return false; }
    } else if (a == "--threads") {
      o->cpu.threads = std::atoi(next("--threads"));
    } else if (a == "--runs") {
      o->runs = std::max(1, std::atoi(next("--runs")));
    } else if (a == "--only") {
      o->only = next("--only");
    } else if (a == "--warmup") {
      o->warmup = std::max(0, std::atoi(next("--warmup")));
    } else {
      std::fprintf(stderr, "unknown argument '%s'\n", a.c_str());
      return false;
    }
  }
  return true;
}

void Fill(std::vector<float>& v, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  for (float& f : v) f = d(rng);
}

std::string ShapeStr(const vgg::ConvShape& s) {
  char b[128];
  std::snprintf(b, sizeof b, "N%d C%d %dx%d -> K%d %dx%d s%d p%d", s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.stride, s.pad);
  return b;
}

struct ConvBench {
  const char* name;
  vgg::ConvShape s;
  int count;  // times the layer occurs in VGG16
};

// VGG16 (configuration D, paper Table 1) at 224×224, then the FC layers as convs (paper §3.2).
std::vector<ConvBench> Vgg16Convs() {
  auto c3 = [](int C, int K, int HW) { return vgg::ConvShape{1, C, HW, HW, K, 3, 3, 1, 1}; };
  return {{"conv1_1", c3(3, 64, 224), 1},     {"conv1_2", c3(64, 64, 224), 1},
          {"conv2_1", c3(64, 128, 112), 1},   {"conv2_2", c3(128, 128, 112), 1},
          {"conv3_1", c3(128, 256, 56), 1},   {"conv3_2/3", c3(256, 256, 56), 2},
          {"conv4_1", c3(256, 512, 28), 1},   {"conv4_2/3", c3(512, 512, 28), 2},
          {"conv5_1/2/3", c3(512, 512, 14), 3}};
}

std::vector<ConvBench> Vgg16Fcs(int N) {
  return {{N == 1 ? "fc6 b1" : "fc6 b8", {N, 512, 7, 7, 4096, 7, 7, 1, 0}, 1},
          {N == 1 ? "fc7 b1" : "fc7 b8", {N, 4096, 1, 1, 4096, 1, 1, 1, 0}, 1},
          {N == 1 ? "fc8 b1" : "fc8 b8", {N, 4096, 1, 1, 1000, 1, 1, 1, 0}, 1}};
}

struct Timing {
  double median_s = 0;      // wall clock
  double median_cpu_s = 0;  // CPU seconds of the whole process (all pool threads) for the same runs
  double peak = 0;          // median wall-clock FMA peak of short bursts interleaved with the runs
};

bool TimeConv(vgg::Backend& be, const ConvBench& cb, const Options& o, vgg::CpuIsa peak_isa, int threads,
              Timing* out) {
  const vgg::ConvShape& s = cb.s;
  std::vector<float> x(size_t(s.N) * s.C * s.H * s.W), w(size_t(s.K) * s.C * s.R * s.S), b(size_t(s.K));
  Fill(x, 1, 1.f);
  Fill(w, 2, 1.f / std::sqrt(float(s.C * s.R * s.S)));
  Fill(b, 3, 0.1f);
  std::unique_ptr<vgg::PackedConv> pc;
  vgg::Status st = be.pack_conv(s, w.data(), b.data(), &pc);
  if (!st.ok()) { std::fprintf(stderr, "%s: pack_conv: %s\n", cb.name, st.message.c_str()); return false; }
  w.clear(); w.shrink_to_fit();
  float *xd = nullptr, *yd = nullptr, *ws = nullptr;
  const size_t ny = size_t(s.N) * s.K * s.P() * s.Q(), nws = be.conv_workspace(s);
  if (!be.alloc(x.size(), &xd).ok() || !be.alloc(ny, &yd).ok() || !be.alloc(std::max<size_t>(nws, 1), &ws).ok()) {
    std::fprintf(stderr, "%s: out of memory\n", cb.name);
    return false;
  }
  be.upload(xd, x.data(), x.size());
  std::vector<double> t, c, pk;
  double last_s = 0.02;
  for (int i = 0; i < o.warmup + o.runs; ++i) {
    // An FMA burst as long as the kernel's run, right before each run: the host is shared, so the
    // peak is sampled over windows like the kernel's and the ratio of the medians is what it could reach.
    if (i >= o.warmup && peak_isa != vgg::CpuIsa::kScalar) {
      const double burst = std::min(0.1, std::max(0.005, t.empty() ? last_s : t.back()));
      pk.push_back(MeasurePeak(peak_isa, threads, 1, burst).wall);
    }
    const double c0 = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
    const auto t0 = Clock::now();
    st = be.conv2d(s, *pc, true, xd, yd, ws);
    be.synchronize();
    const auto t1 = Clock::now();
    const double c1 = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
    if (!st.ok()) { std::fprintf(stderr, "%s: conv2d: %s\n", cb.name, st.message.c_str()); break; }
    last_s = Seconds(t0, t1);
    if (i >= o.warmup) { t.push_back(last_s); c.push_back(c1 - c0); }
  }
  be.release(xd); be.release(yd); be.release(ws);
  if (!st.ok()) return false;
  std::sort(t.begin(), t.end());
  std::sort(c.begin(), c.end());
  out->median_s = t[t.size() / 2];
  out->median_cpu_s = c[c.size() / 2];
  if (!pk.empty()) {
    std::sort(pk.begin(), pk.end());
    out->peak = pk[pk.size() / 2];
  }
  return true;
}

int CmdPeak(const Options& o) {
  const int T = o.cpu.threads > 0 ? o.cpu.threads : vgg::GetCpuInfo().hardware_threads;
  for (int th : {1, T}) {
    const Peak p2 = MeasurePeak(vgg::CpuIsa::kAvx2, th), p5 = MeasurePeak(vgg::CpuIsa::kAvx512, th);
    std::printf("FMA peak, %d thread%s: avx2 %.1f GFLOP/s (%.1f per core-second), avx512 %.1f GFLOP/s (%.1f per core-second)\n",
                th, th == 1 ? "" : "s", p2.wall / 1e9, p2.per_core / 1e9, p5.wall / 1e9, p5.per_core / 1e9);
    if (T == 1) break;
  }
  return 0;
}

int CmdConv(const Options& o) {
  std::unique_ptr<vgg::Backend> be;
  vgg::Status st = vgg::MakeCpuBackend(o.cpu, &be);
  if (!st.ok()) { std::fprintf(stderr, "cpu backend: %s\n", st.message.c_str()); return 1; }
  const vgg::CpuInfo& ci = vgg::GetCpuInfo();
  const int T = o.cpu.threads > 0 ? o.cpu.threads : ci.hardware_threads;
  const std::string fam = be->kernel_family();
  const vgg::CpuIsa isa = fam.rfind("avx512", 0) == 0 ? vgg::CpuIsa::kAvx512
                          : fam.rfind("avx2", 0) == 0 ? vgg::CpuIsa::kAvx2 : vgg::CpuIsa::kScalar;
  const Peak peak2 = MeasurePeak(vgg::CpuIsa::kAvx2, T), peak512 = MeasurePeak(vgg::CpuIsa::kAvx512, T);
  const Peak peak = isa == vgg::CpuIsa::kAvx512 ? peak512 : peak2;
  std::printf("backend: %s\n", fam.c_str());
  std::printf("FMA peak at start, %d thread%s: avx2 %.1f GFLOP/s, avx512 %.1f GFLOP/s wall clock;\n"
              "  per core-second: avx2 %.1f, avx512 %.1f GFLOP (a shared host makes wall < threads x core)\n",
              T, T == 1 ? "" : "s", peak2.wall / 1e9, peak512.wall / 1e9, peak2.per_core / 1e9, peak512.per_core / 1e9);
  std::printf("median of %d runs after %d warm-up, relu on.\n"
              "  peak: median %s FMA peak (GFLOP/s, all threads, wall clock) of bursts as long as a run, just before each\n"
              "  timed run; %%peak = GFLOP/s / peak. %%core: FLOPs per CPU-second over the per-core peak above.\n\n",
              o.runs, o.warmup, isa == vgg::CpuIsa::kAvx512 ? "avx512" : "avx2");
  // The kernel each shape runs: the GEMV path serves single-column convs (batch-1 FC layers).
  const std::string gemm = fam.substr(fam.find("gemm_"), fam.find(',', fam.find("gemm_")) - fam.find("gemm_"));
  const std::string gemv = fam.substr(fam.find("gemv_"), fam.find(',', fam.find("gemv_")) - fam.find("gemv_"));
  // Eligible 3x3 convs run a Winograd kernel when the family reports one in use (cpu_backend.cpp); their
  // GFLOP/s, %peak and %core count the direct convolution's FLOPs (effective rates, may exceed 100%).
  auto conv_kernel = [&](const vgg::ConvShape& s) -> std::string {
    const size_t in_use = fam.find("x4 in use") != std::string::npos ? fam.find("winograd4x4__")
                          : fam.find("x2 in use") != std::string::npos ? fam.find("winograd2x2__") : std::string::npos;
    if (in_use == std::string::npos || s.R != 3 || s.S != 3 || s.stride != 1 || s.pad != 1 || s.C < 64 || s.K < 64)
      return gemm;
    const size_t start = fam.rfind("conv2d_", in_use), end = fam.find_first_of(", ", in_use);
    return fam.substr(start, end - start) + " (effective)";
  };
  std::printf("%-12s %-34s %9s %9s %8s %7s %7s %7s  %s\n", "layer", "shape", "ms", "cpu-ms", "GFLOP/s", "peak", "%peak",
              "%core", "kernel");
  double total_s = 0, total_cpu = 0, total_flop = 0, total_peak_s = 0;
  auto row = [&](const char* name, const std::string& shape, double flop, double wall, double cpu, double pk,
                 const std::string& kernel) {
    std::printf("%-12s %-34s %9.3f %9.3f %8.1f %7.1f %6.1f%% %6.1f%%  %s\n", name, shape.c_str(), wall * 1e3, cpu * 1e3,
                flop / wall / 1e9, pk / 1e9, pk > 0 ? 100.0 * flop / wall / pk : 0.0,
                peak.per_core > 0 ? 100.0 * flop / cpu / peak.per_core : 0.0, kernel.c_str());
    std::fflush(stdout);
  };
  for (const ConvBench& cb : Vgg16Convs()) {
    if (!o.only.empty() && std::string(cb.name).find(o.only) == std::string::npos) continue;
    Timing t;
    if (!TimeConv(*be, cb, o, isa, T, &t)) return 1;
    row(cb.name, ShapeStr(cb.s), 2.0 * double(cb.s.macs()), t.median_s, t.median_cpu_s, t.peak, conv_kernel(cb.s));
    // Time the layer would take at the peak measured alongside it: sums into a run-wide peak.
    if (t.peak > 0) total_peak_s += 2.0 * double(cb.s.macs()) * cb.count / t.peak;
    total_s += t.median_s * cb.count;
    total_cpu += t.median_cpu_s * cb.count;
    total_flop += 2.0 * double(cb.s.macs()) * cb.count;
  }
  if (total_s > 0) {
    row("VGG16 conv", "13 layers, 224x224, batch 1", total_flop, total_s, total_cpu,
        total_peak_s > 0 ? total_flop / total_peak_s : 0.0, "");
    std::printf("\n");
  }
  for (int N : {1, 8}) {
    double fc_s = 0;
    for (const ConvBench& cb : Vgg16Fcs(N)) {
      if (!o.only.empty() && std::string(cb.name).find(o.only) == std::string::npos) continue;
      Timing t;
      if (!TimeConv(*be, cb, o, isa, T, &t)) return 1;
      const bool one_col = int64_t(cb.s.N) * cb.s.P() * cb.s.Q() == 1;
      row(cb.name, ShapeStr(cb.s), 2.0 * double(cb.s.macs()), t.median_s, t.median_cpu_s, t.peak, one_col ? gemv : gemm);
      fc_s += t.median_s;
      const double mb = double(cb.s.K) * cb.s.C * cb.s.R * cb.s.S * 4 / 1e6;
      std::printf("%-12s   weights %.0f MB streamed at %.1f GB/s\n", "", mb, mb / 1e3 / t.median_s);
    }
    if (fc_s > 0) std::printf("%-12s %-34s %9.3f\n\n", N == 1 ? "FC b1 total" : "FC b8 total", "fc6+fc7+fc8", fc_s * 1e3);
  }
  return 0;
}

int CmdCheck(const Options& o) {
  std::unique_ptr<vgg::Backend> be;
  vgg::Status st = vgg::MakeCpuBackend(o.cpu, &be);
  if (!st.ok()) { std::fprintf(stderr, "cpu backend: %s\n", st.message.c_str()); return 1; }
  std::printf("backend: %s\n", be->kernel_family().c_str());
  const vgg::ConvShape shapes[] = {{1, 3, 17, 19, 64, 3, 3, 1, 1},  {2, 64, 7, 7, 130, 3, 3, 1, 1},
                                   {3, 64, 7, 7, 100, 7, 7, 1, 0},  {1, 64, 7, 7, 33, 7, 7, 1, 0},
                                   {8, 256, 1, 1, 61, 1, 1, 1, 0},  {1, 5, 9, 11, 7, 3, 3, 2, 1},
                                   {1, 300, 1, 1, 13, 3, 3, 1, 1},  {2, 513, 5, 6, 49, 3, 3, 1, 1},
                                   {2, 64, 30, 31, 64, 3, 3, 1, 1}, {1, 1024, 1, 1, 77, 1, 1, 1, 0},
                                   {5, 1024, 1, 1, 77, 1, 1, 1, 0}, {1, 7, 12, 12, 9, 1, 1, 2, 0},
                                   // Winograd F(2x2,3x3) cases (3x3 s1 p1, C, K >= 64): odd P/Q, batch, KC edge, 1x1
                                   {3, 64, 9, 13, 65, 3, 3, 1, 1},  {2, 513, 5, 6, 70, 3, 3, 1, 1},
                                   {1, 64, 1, 1, 64, 3, 3, 1, 1},   {1, 128, 56, 57, 72, 3, 3, 1, 1}};
  int bad = 0;
  for (const auto& s : shapes) {
    const int kd = s.C * s.R * s.S;
    std::vector<float> x(size_t(s.N) * s.C * s.H * s.W), w(size_t(s.K) * kd), b(size_t(s.K));
    Fill(x, 11, 1.f); Fill(w, 12, 1.f / std::sqrt(float(kd))); Fill(b, 13, 0.1f);
    const size_t ny = size_t(s.N) * s.K * s.P() * s.Q();
    std::vector<float> yr(ny), yc(ny, std::nanf(""));
    // Exactly conv_workspace() floats (a multiple of 16), so a sanitizer sees any overrun.
    const size_t nws = be->conv_workspace(s);
    float* wsa = nws ? static_cast<float*>(std::aligned_alloc(64, nws * sizeof(float))) : nullptr;
    vgg::ref::conv2d(s, x.data(), w.data(), b.data(), true, yr.data());
    std::unique_ptr<vgg::PackedConv> pc;
    st = be->pack_conv(s, w.data(), b.data(), &pc);
    if (st.ok()) st = be->conv2d(s, *pc, true, x.data(), yc.data(), wsa);
    std::free(wsa);
    double md = 0;
    for (size_t i = 0; i < ny; ++i) { const double d = std::fabs(double(yr[i]) - yc[i]); if (!(d <= md)) md = d; }
    const double tol = 1e-5 * std::sqrt(double(kd)) * 4;
    const bool ok = st.ok() && md <= tol;
    bad += !ok;
    std::printf("%-40s max|diff| %.3g (tol %.3g) %s\n", ShapeStr(s).c_str(), md, tol, ok ? "ok" : "FAIL");
  }
  for (const vgg::PoolShape& p : {vgg::PoolShape{2, 3, 9, 70, 2, 2}, vgg::PoolShape{1, 4, 9, 10, 3, 2}}) {
    std::vector<float> x(size_t(p.N) * p.C * p.H * p.W);
    Fill(x, 21, 1.f);
    for (size_t i = 0; i < x.size(); i += 37) x[i] = std::nanf("");
    const size_t ny = size_t(p.N) * p.C * p.P() * p.Q();
    std::vector<float> yr(ny), yc(ny);
    vgg::ref::maxpool2d(p, x.data(), yr.data());
    st = be->maxpool2d(p, x.data(), yc.data());
    const bool ok = st.ok() && std::memcmp(yr.data(), yc.data(), ny * sizeof(float)) == 0;
    bad += !ok;
    std::printf("maxpool N%d C%d %dx%d window %d stride %d: %s\n", p.N, p.C, p.H, p.W, p.window, p.stride,
                ok ? "bit-identical ok" : "FAIL");
  }
  return bad ? 1 : 0;
}

}  // namespace

int CudaMain(int argc, char** argv);  // cuda-check, cuda-bench: bench/harness/cuda_main.cpp

int main(int argc, char** argv) {
  if (argc >= 2 && std::strncmp(argv[1], "cuda-", 5) == 0) return CudaMain(argc, argv);
  Options o;
  if (!ParseArgs(argc, argv, &o) || (o.cmd != "conv" && o.cmd != "check" && o.cmd != "peak")) {
    std::fprintf(stderr, "usage: vggnet_harness conv|check|peak [--isa auto|scalar|avx2|avx512] [--threads N] "
                         "[--runs R] [--warmup W] [--only NAME]\n");
    return 2;
  }
  if (o.cmd == "peak") return CmdPeak(o);
  if (o.cmd == "check") return CmdCheck(o);
  return CmdConv(o);
}
