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
#include "cpu_timing.h"
#include "networks.h"

namespace vggh {

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
