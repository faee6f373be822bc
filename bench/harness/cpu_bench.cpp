// vggnet_harness conv and peak: per-layer timings of the cpu backend against the FMA peak measured in
// the same run.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cpu_commands.h"
#include "cpu_peak.h"
#include "data.h"
#include "networks.h"

namespace vggh {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

std::string BenchShapeStr(const vgg::ConvShape& s) {
  char b[128];
  std::snprintf(b, sizeof b, "N%d C%d %dx%d -> K%d %dx%d s%d p%d", s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.stride, s.pad);
  return b;
}

struct Timing {
  double median_s = 0;      // wall clock
  double median_cpu_s = 0;  // CPU seconds of the whole process (all pool threads) for the same runs
  double peak = 0;          // median wall-clock FMA peak of short bursts interleaved with the runs
  vgg::ConvPlan plan;       // what conv2d ran
};

// Packs the layer for the algorithm the backend chooses for a.algorithm, plans it, and times conv2d.
bool TimeConv(vgg::Backend& be, const LayerGroup& g, const CpuArgs& a, vgg::CpuIsa peak_isa, int threads, Timing* out) {
  const vgg::ConvShape& s = g.s;
  std::vector<float> x(size_t(s.N) * s.C * s.H * s.W), w(size_t(s.K) * s.C * s.R * s.S), b(size_t(s.K));
  FillUniform(x.data(), x.size(), 1, -1.f, 1.f);
  const float ws_scale = 1.f / std::sqrt(float(s.C * s.R * s.S));
  FillUniform(w.data(), w.size(), 2, -ws_scale, ws_scale);
  FillUniform(b.data(), b.size(), 3, -0.1f, 0.1f);
  const vgg::ConvAlgorithm algo = be.choose_conv_algorithm(s, a.algorithm);
  std::unique_ptr<vgg::PackedConv> pc;
  vgg::Status st = be.pack_conv(s, algo, w.data(), b.data(), &pc);
  if (st.ok()) st = be.plan_conv(s, *pc, &out->plan);
  if (!st.ok()) {
    std::fprintf(stderr, "%s: %s\n", g.name.c_str(), st.message.c_str());
    return false;
  }
  w.clear();
  w.shrink_to_fit();
  float *xd = nullptr, *yd = nullptr, *ws = nullptr;
  const size_t ny = size_t(s.N) * s.K * s.P() * s.Q();
  if (!be.alloc(x.size(), &xd).ok() || !be.alloc(ny, &yd).ok() ||
      !be.alloc(std::max<size_t>(out->plan.workspace_floats, 1), &ws).ok()) {
    std::fprintf(stderr, "%s: out of memory\n", g.name.c_str());
    return false;
  }
  be.upload(xd, x.data(), x.size());
  std::vector<double> t, c, pk;
  double last_s = 0.02;
  for (int i = 0; i < a.warmup + a.runs; ++i) {
    // An FMA burst as long as the kernel's run, right before each run: the host is shared, so the
    // peak is sampled over windows like the kernel's and the ratio of the medians is what it could reach.
    if (i >= a.warmup && peak_isa != vgg::CpuIsa::kScalar) {
      const double burst = std::min(0.1, std::max(0.005, t.empty() ? last_s : t.back()));
      pk.push_back(MeasurePeak(peak_isa, threads, 1, burst).wall);
    }
    const double c0 = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
    const auto t0 = Clock::now();
    st = be.conv2d(s, out->plan, *pc, true, xd, yd, ws);
    be.synchronize();
    const auto t1 = Clock::now();
    const double c1 = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
    if (!st.ok()) {
      std::fprintf(stderr, "%s: conv2d: %s\n", g.name.c_str(), st.message.c_str());
      break;
    }
    last_s = Seconds(t0, t1);
    if (i >= a.warmup) {
      t.push_back(last_s);
      c.push_back(c1 - c0);
    }
  }
  be.release(xd);
  be.release(yd);
  be.release(ws);
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

// Winograd does fewer multiplies than the direct convolution whose FLOPs the rates count.
std::string KernelColumn(const vgg::ConvPlan& p) {
  const bool wino = p.algorithm == vgg::ConvAlgorithm::kWinograd2x2 || p.algorithm == vgg::ConvAlgorithm::kWinograd4x4;
  return p.kernel + (wino ? " (effective)" : "");
}

}  // namespace

int CmdPeak(const CpuArgs& a) {
  const int T = a.cpu.threads > 0 ? a.cpu.threads : vgg::GetCpuInfo().hardware_threads;
  for (int th : {1, T}) {
    const Peak p2 = MeasurePeak(vgg::CpuIsa::kAvx2, th), p5 = MeasurePeak(vgg::CpuIsa::kAvx512, th);
    std::printf(
        "FMA peak, %d thread%s: avx2 %.1f GFLOP/s (%.1f per core-second), avx512 %.1f GFLOP/s (%.1f per core-second)\n",
        th, th == 1 ? "" : "s", p2.wall / 1e9, p2.per_core / 1e9, p5.wall / 1e9, p5.per_core / 1e9);
    if (T == 1) break;
  }
  return 0;
}

int CmdConv(const CpuArgs& a, const CaseList& cases) {
  const Topology* topo = cases.FindTopology("vgg16");
  if (!topo) {
    std::fprintf(stderr, "conv: no topology 'vgg16' in %s/topologies.tsv\n", cases.dir.c_str());
    return 1;
  }
  const VggNet net = BuildVgg(*topo);
  std::unique_ptr<vgg::Backend> be;
  vgg::Status st = vgg::MakeCpuBackend(a.cpu, &be);
  if (!st.ok()) {
    std::fprintf(stderr, "cpu backend: %s\n", st.message.c_str());
    return 1;
  }
  const vgg::CpuInfo& ci = vgg::GetCpuInfo();
  const int T = a.cpu.threads > 0 ? a.cpu.threads : ci.hardware_threads;
  const vgg::CpuIsa isa = a.cpu.isa == vgg::CpuIsa::kAuto ? ci.best : a.cpu.isa;
  const Peak peak2 = MeasurePeak(vgg::CpuIsa::kAvx2, T), peak512 = MeasurePeak(vgg::CpuIsa::kAvx512, T);
  const Peak peak = isa == vgg::CpuIsa::kAvx512 ? peak512 : peak2;
  std::printf("backend: %s\n", be->kernel_family().c_str());
  std::printf("precision: %s (GEMM/GEMV layers; Winograd layers are fp32)\n", be->precision_name().c_str());
  std::printf("algorithm requested: %s (each layer runs the backend's choice for it; see the kernel column)\n",
              vgg::ConvAlgorithmName(a.algorithm));
  std::printf(
      "FMA peak at start, %d thread%s: avx2 %.1f GFLOP/s, avx512 %.1f GFLOP/s wall clock;\n"
      "  per core-second: avx2 %.1f, avx512 %.1f GFLOP (a shared host makes wall < threads x core)\n",
      T, T == 1 ? "" : "s", peak2.wall / 1e9, peak512.wall / 1e9, peak2.per_core / 1e9, peak512.per_core / 1e9);
  std::printf(
      "median of %d runs after %d warm-up, relu on.\n"
      "  peak: median %s FMA peak (GFLOP/s, all threads, wall clock) of bursts as long as a run, just before each\n"
      "  timed run; %%peak = GFLOP/s / peak. %%core: FLOPs per CPU-second over the per-core peak above.\n"
      "  Rates count the direct convolution's FLOPs: Winograd rows are effective rates (may exceed 100%%).\n\n",
      a.runs, a.warmup, isa == vgg::CpuIsa::kAvx512 ? "avx512" : "avx2");
  std::printf("%-12s %-34s %9s %9s %8s %7s %7s %7s  %s\n", "layer", "shape", "ms", "cpu-ms", "GFLOP/s", "peak", "%peak",
              "%core", "kernel");
  auto row = [&](const std::string& name, const std::string& shape, double flop, double wall, double cpu, double pk,
                 const std::string& kernel) {
    std::printf("%-12s %-34s %9.3f %9.3f %8.1f %7.1f %6.1f%% %6.1f%%  %s\n", name.c_str(), shape.c_str(), wall * 1e3,
                cpu * 1e3, flop / wall / 1e9, pk / 1e9, pk > 0 ? 100.0 * flop / wall / pk : 0.0,
                peak.per_core > 0 ? 100.0 * flop / cpu / peak.per_core : 0.0, kernel.c_str());
    std::fflush(stdout);
  };
  auto selected = [&](const std::string& name) { return a.only.empty() || name.find(a.only) != std::string::npos; };

  const vgg::Shape4 in1 = net.Input(a.conv_batch);
  double total_s = 0, total_cpu = 0, total_flop = 0, total_peak_s = 0;
  int layers = 0;
  for (const LayerGroup& g : GroupConvLayers(net, in1, false)) {
    if (!selected(g.name)) continue;
    Timing t;
    if (!TimeConv(*be, g, a, isa, T, &t)) return 1;
    const double flop = 2.0 * double(g.s.macs());
    row(g.name, BenchShapeStr(g.s), flop, t.median_s, t.median_cpu_s, t.peak, KernelColumn(t.plan));
    // Time the layer would take at the peak measured alongside it: sums into a run-wide peak.
    if (t.peak > 0) total_peak_s += flop * g.count / t.peak;
    total_s += t.median_s * g.count;
    total_cpu += t.median_cpu_s * g.count;
    total_flop += flop * g.count;
    layers += g.count;
  }
  if (total_s > 0) {
    char what[96];
    std::snprintf(what, sizeof what, "%d layers, %dx%d, batch %d", layers, in1.h, in1.w, in1.n);
    row(net.name + " conv", what, total_flop, total_s, total_cpu, total_peak_s > 0 ? total_flop / total_peak_s : 0.0,
        "");
    std::printf("\n");
  }
  for (int N : a.batches) {
    double fc_s = 0;
    std::string names;
    for (const LayerGroup& g : GroupConvLayers(net, net.Input(N), true)) {
      const std::string name = g.name + " b" + std::to_string(N);
      names += (names.empty() ? "" : "+") + g.name;
      if (!selected(name)) continue;
      Timing t;
      if (!TimeConv(*be, g, a, isa, T, &t)) return 1;
      row(name, BenchShapeStr(g.s), 2.0 * double(g.s.macs()), t.median_s, t.median_cpu_s, t.peak, KernelColumn(t.plan));
      fc_s += t.median_s * g.count;
      const bool bf16 = t.plan.kernel.find("bf16") != std::string::npos;  // 2 bytes a weight, else 4
      const double mb = double(g.s.K) * g.s.C * g.s.R * g.s.S * (bf16 ? 2 : 4) / 1e6;
      std::printf("%-12s   weights %.0f MB (%s) streamed at %.1f GB/s\n", "", mb, bf16 ? "bf16" : "f32",
                  mb / 1e3 / t.median_s);
    }
    if (fc_s > 0)
      std::printf("%-12s %-34s %9.3f\n\n", ("FC b" + std::to_string(N) + " total").c_str(), names.c_str(), fc_s * 1e3);
  }
  return 0;
}

}  // namespace vggh
