// vggnet_harness scaling: where a second (third…) thread is lost, per vgg16 layer.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cpu_commands.h"
#include "cpu_timing.h"
#include "networks.h"

namespace vggh {

namespace {

constexpr int kRounds = 3;  // 1-thread and T-thread timings alternate, so a noisy minute hits both

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int CmdScaling(const CpuArgs& a, const CaseList& cases) {
  const Topology* topo = cases.FindTopology("vgg16");
  if (!topo) {
    std::fprintf(stderr, "scaling: no topology 'vgg16' in %s/topologies.tsv\n", cases.dir.c_str());
    return 1;
  }
  const VggNet net = BuildVgg(*topo);
  const int T = a.cpu.threads > 1 ? a.cpu.threads : std::max(2, vgg::GetCpuInfo().hardware_threads);
  std::unique_ptr<vgg::Backend> one, many;
  vgg::CpuOptions o1 = a.cpu, oT = a.cpu;
  o1.threads = 1;
  oT.threads = T;
  vgg::Status st = vgg::MakeCpuBackend(o1, &one);
  if (st.ok()) st = vgg::MakeCpuBackend(oT, &many);
  if (!st.ok()) {
    std::fprintf(stderr, "cpu backend: %s\n", st.message.c_str());
    return 1;
  }
  std::printf("backend: %s\n", many->kernel_family().c_str());
  std::printf(
      "vgg16 224x224 per layer on 1 and %d threads: median of %d runs after %d warm-ups, the 1- and %d-thread\n"
      "timings alternating for %d rounds (median of the rounds). scaling = ms(1) / ms(%d); cpu(1), cpu(T):\n"
      "process CPU ms at 1 and %d threads (cpu(T) > cpu(1): work the threads add); GFLOP/s: direct-conv FLOPs / wall "
      "(effective for Winograd); GB/s: the least a layer\n"
      "moves (input + output + packed weights, once) / wall at %d threads.\n\n",
      T, a.runs, a.warmup, T, kRounds, T, T, T);
  for (int N : a.batches) {
    std::printf("batch %d\n%-11s %-34s %8s %8s %7s %8s %8s %8s %7s  %s\n", N, "layer", "shape", "ms(1)", "ms(T)",
                "scaling", "cpu(1)", "cpu(T)", "GFLOP/s", "GB/s", "kernel (T threads)");
    double sum1 = 0, sumT = 0, sumcpu1 = 0, sumcpu = 0;
    std::vector<LayerGroup> groups = GroupConvLayers(net, net.Input(N), false);
    for (const LayerGroup& g : GroupConvLayers(net, net.Input(N), true)) groups.push_back(g);
    for (const LayerGroup& g : groups) {
      if (!a.only.empty() && g.name.find(a.only) == std::string::npos) continue;
      std::vector<double> w1, wT, c1, cT;
      Timing t1, tT;
      for (int r = 0; r < kRounds; ++r) {
        if (!TimeConv(*one, g, a, vgg::CpuIsa::kScalar, 1, &t1) || !TimeConv(*many, g, a, vgg::CpuIsa::kScalar, T, &tT))
          return 1;
        w1.push_back(t1.median_s);
        c1.push_back(t1.median_cpu_s);
        wT.push_back(tT.median_s);
        cT.push_back(tT.median_cpu_s);
      }
      const double m1 = Median(w1), mT = Median(wT), cpu1 = Median(c1), c = Median(cT);
      const vgg::ConvShape& s = g.s;
      const double bytes =
          4.0 * (double(s.N) * s.C * s.H * s.W + double(s.N) * s.K * s.P() * s.Q()) + double(tT.packed_bytes);
      std::printf("%-11s %-34s %8.2f %8.2f %6.2fx %8.2f %8.2f %8.1f %7.1f  %s\n", g.name.c_str(),
                  BenchShapeStr(s).c_str(), m1 * 1e3, mT * 1e3, m1 / mT, cpu1 * 1e3, c * 1e3,
                  2.0 * double(s.macs()) / mT / 1e9, bytes / mT / 1e9, KernelColumn(tT.plan).c_str());
      std::fflush(stdout);
      sum1 += m1 * g.count;
      sumT += mT * g.count;
      sumcpu1 += cpu1 * g.count;
      sumcpu += c * g.count;
    }
    std::printf("%-11s %-34s %8.2f %8.2f %6.2fx %8.2f %8.2f\n\n", "total", "(each layer times its count)", sum1 * 1e3,
                sumT * 1e3, sum1 / sumT, sumcpu1 * 1e3, sumcpu * 1e3);
  }
  return 0;
}

}  // namespace vggh
