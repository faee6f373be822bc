// vggnet_harness cuda-fault-check (the emulated build only, VGGNET_CUDA_EMULATION): shows that the
// emulated cuda-check fails when a kernel is wrong. For each fault the kernels can plant
// (cuda/planted_fault.cuh: a missing barrier, tiles one column off, a stage read before its cp.async
// copies landed, a misaligned ldmatrix that the emulator itself rejects) it runs the conv cases tagged `smoke` and
// `tile_edges_gpu` (--tags to change) of at most 20 M multiply-adds in each precision, and counts failures: none
// without a fault, at least one with each fault in every precision whose kernels contain it. The graph check
// (cuda_check_graphs.cpp) runs without a fault (it must pass) and with a graph launch that drops its last op
// (it must fail; the conv cases, which use no graphs, must pass). Exit status 1 otherwise.
#include <chrono>
#include <cstdio>
#include <string>

#include "cuda_harness.h"

#if VGGNET_CUDA_EMULATION
#include "cuda/planted_fault.cuh"
#endif

namespace vggh {

#if VGGNET_CUDA_EMULATION

namespace {

using vgg::cuda::PlantedFault;

// Whether the kernels of precision p contain the fault (the fp32 SIMT kernel has no cp.async, no ldmatrix; no
// kernel contains the graph fault).
bool Applies(PlantedFault f, Precision p) {
  if (f == PlantedFault::kGraphDropsLaunch) return false;
  return p != Precision::kFp32 || (f != PlantedFault::kSkipAsyncWait && f != PlantedFault::kMisalignedLdmatrix);
}

}  // namespace

int CudaFaultCheck(const CudaArgs& args) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<ConvCase> cases = ConvCases(args);
  std::vector<ConvData> data;
  for (const ConvCase& c : cases) data.push_back(MakeConvData(c, args.threads));
  std::printf("cuda-fault-check: %zu conv cases per precision, each fault planted in turn\n\n", cases.size());
  std::printf("%-20s %-5s %14s %13s  %s\n", "planted fault", "prec", "cases failed", "graph checks", "verdict");
  int wrong = 0;
  vgg::emu::SetFaultEcho(false);  // the faults the emulator finds are counted, not printed
  for (int fi = 0; fi < vgg::cuda::kPlantedFaults; ++fi) {
    const PlantedFault f = PlantedFault(fi);
    vgg::emu::SetPlantedFault(fi);
    for (Precision p : args.precisions) {
      std::unique_ptr<vgg::Backend> be;
      const vgg::Status st = MakeBackendUnderTest(args, p, &be);
      if (!st.ok()) {
        std::printf("%-20s %-5s: %s\n", vgg::cuda::PlantedFaultName(f), vgg::PrecisionName(p), st.message.c_str());
        ++wrong;
        continue;
      }
      Tally t;
      t.quiet = true;
      CheckConvCases(*be, p, cases, data, t);
      const bool expect_fail = f != PlantedFault::kNone && Applies(f, p);
      bool ok = expect_fail ? t.fail > 0 : t.fail == 0;
      const bool graph_fault = f == PlantedFault::kGraphDropsLaunch;
      std::string graphs = "-";  // a kernel fault changes both sides of the graph check alike: not run then
      if (f == PlantedFault::kNone || graph_fault) {
        Tally g;
        g.quiet = true;
        CheckGraphs(args, p, g);
        graphs = std::to_string(g.fail) + " failed";
        ok = ok && (graph_fault ? g.fail > 0 : g.fail == 0);
      }
      const bool caught = expect_fail || graph_fault;
      std::printf("%-20s %-5s %7d of %-4zu %13s  %s\n", vgg::cuda::PlantedFaultName(f), vgg::PrecisionName(p), t.fail,
                  cases.size(), graphs.c_str(),
                  ok ? (caught                     ? "ok (caught)"
                        : f == PlantedFault::kNone ? "ok"
                                                   : "ok (not in this path)")
                     : (caught ? "WRONG: not caught" : "WRONG: failures"));
      std::fflush(stdout);
      if (!ok) ++wrong;
    }
  }
  vgg::emu::SetPlantedFault(0);
  vgg::emu::SetFaultEcho(true);
  std::printf("\ncuda-fault-check: %s (%.1f s)\n", wrong ? "FAILED" : "every planted fault caught, none without",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return wrong ? 1 : 0;
}

#endif

}  // namespace vggh
