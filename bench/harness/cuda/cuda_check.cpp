// vggnet_harness cuda-check: every CUDA op against the reference kernels (native/core/ref) over the
// shared case list, per precision, with a small network replayed as a CUDA graph against its op-by-op runs
// (cuda_check_graphs.cpp); then whole networks against the cpu backend; then the error paths
// (out of memory, bad arguments, memory accounting). Outputs and workspaces are pre-filled with NaN;
// data come from seeded generators and every line names its seed. Exit status 1 on any failure.
//
// Conv tolerances, relative L2 error ‖y − ref‖/‖ref‖ (the reference accumulates in double):
//   fp32 1e-5; tf32 1e-3; fp16 2e-3 and bf16 1e-2 (recorded here).
// The expected error of one rounded product is ~0.7·u relative (u = 2^-11 for tf32/fp16, 2^-8 for bf16)
// and random-sign sums keep that ratio: ~3.5e-4 (tf32, fp16) and ~3e-3 (bf16), so these bounds leave
// 3x or more; a missing or doubled term, a wrong index or an unwritten output gives errors of order 1.
#include <chrono>
#include <cmath>
#include <cstdio>

#include "compare.h"
#include "cuda_extras/cuda_extras.h"
#include "cuda_harness.h"

namespace vggh {
namespace {

using vgg::Status;

double ConvTol(Precision p) {
  switch (p) {
    case Precision::kFp32: return 1e-5;
    case Precision::kTf32: return 1e-3;
    case Precision::kBf16: return 1e-2;
    case Precision::kFp16: return 2e-3;
  }
  return 0;
}

std::string CaseLine(const char* prec, const ConvCase& c, uint64_t seed) {
  char b[96];
  std::snprintf(b, sizeof b, " relu=%d bias=%d seed 0x%016llx", c.relu ? 1 : 0, c.bias ? 1 : 0,
                (unsigned long long)seed);
  return std::string("conv2d ") + prec + " '" + c.name + "' " + ShapeStr(c.s) + b;
}

}  // namespace

std::vector<ConvCase> ConvCases(const CudaArgs& a) {
  std::vector<ConvCase> out;
  for (const ConvCase& c : a.cases->Conv(a.tags))
    if (!a.quick || c.s.macs() <= 20'000'000) out.push_back(c);
  return out;
}

void CheckConvCases(vgg::Backend& be, Precision p, const std::vector<ConvCase>& cases,
                    const std::vector<ConvData>& data, Tally& t) {
  const char* pn = vgg::PrecisionName(p);
  for (size_t i = 0; i < cases.size(); ++i) {
    const ConvCase& c = cases[i];
    std::vector<float> y;
    vgg::ConvPlan plan;
    // The backend's best algorithm for the shape; for NaN/Inf inputs its direct one, since Winograd
    // transforms (cpu backend, --self-test) mix a tile's inputs and spread NaN/Inf unlike the direct sum.
    const vgg::ConvAlgorithm algo =
        be.choose_conv_algorithm(c.s, c.nonfinite ? vgg::ConvAlgorithm::kGemm : vgg::ConvAlgorithm::kAuto);
    const Status rs = RunConv(be, c, data[i], algo, &y, &plan);
    const Diff d = rs.ok() ? Compare(y.data(), data[i].ref.data(), y.size()) : Diff{};
    const double tol = ConvTol(p);
    std::string line = CaseLine(pn, c, data[i].seed) + "  rel_l2 " + Fmt("%.3g", d.rel_l2) + " (tol " +
                       Fmt("%.0e", tol) + ") max|diff| " + Fmt("%.3g", d.max_abs) + "  [" + plan.kernel + "]";
    if (!rs.ok()) line += "  error: " + rs.message;
    if (d.nonfinite_bad)
      line += "  " + std::to_string(d.nonfinite_bad) + " non-finite mismatches, first at " +
              std::to_string(d.first_bad) + ": " + Fmt("%g", y[d.first_bad]) + " vs reference " +
              Fmt("%g", data[i].ref[d.first_bad]);
    t.Record(rs.ok() && d.nonfinite_bad == 0 && d.rel_l2 <= tol, line);
  }
}

Status MakeBackendUnderTest(const CudaArgs& a, Precision p, std::unique_ptr<vgg::Backend>* out) {
  if (a.self_test) {
    vgg::CpuOptions co;
    co.threads = a.threads;
    return vgg::MakeCpuBackend(co, out);
  }
  vgg::CudaOptions o;
  o.device = a.device;
  o.precision = p;
  return vgg::MakeCudaBackend(o, out);
}

int CudaCheck(const CudaArgs& args) {
  if (args.dry) return DryRun(args);
  if (args.self_test) {
    std::printf("cuda-check --self-test: the suites on the cpu backend (fp32 tolerances), no CUDA\n");
  } else {
    const vgg::CudaInfo info = vgg::GetCudaInfo();
    std::printf("cuda-check: CUDA %s, runtime %d, %zu device(s)%s%s\n",
                info.compiled ? "compiled in" : "not compiled in", info.runtime_version, info.devices.size(),
                info.reason.empty() ? "" : ": ", info.reason.c_str());
    if (info.devices.empty()) {
      std::printf("FAIL no CUDA device: %s\n", info.reason.c_str());
      return 1;
    }
    for (const vgg::CudaDevice& d : info.devices)
      std::printf("  cuda:%d %s, cc %d.%d, %.1f GB\n", d.index, d.name.c_str(), d.cc_major, d.cc_minor,
                  double(d.total_memory_bytes) / 1e9);
  }
  Tally t;
  std::vector<std::string> counts;  // per precision, printed before the summary
  const auto t0 = std::chrono::steady_clock::now();

  // References once per case, shared by every precision.
  const std::vector<ConvCase> cases = ConvCases(args);
  std::vector<ConvData> data;
  data.reserve(cases.size());
  for (const ConvCase& c : cases) data.push_back(MakeConvData(c, args.threads));
  std::printf("references: %zu conv cases from %s in %.1f s\n", cases.size(), args.cases->dir.c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

  for (size_t pi = 0; pi < args.precisions.size(); ++pi) {
    const Precision p = args.precisions[pi];
    const char* pn = vgg::PrecisionName(p);
    std::unique_ptr<vgg::Backend> be;
    const Status st = MakeBackendUnderTest(args, p, &be);
    if (!st.ok()) {
      t.Record(false, std::string("MakeCudaBackend(") + pn + "): " + st.message);
      continue;
    }
    std::printf("\n== %s: %s\n", pn, be->kernel_family().c_str());
    const int pass0 = t.pass, fail0 = t.fail;
    CheckConvCases(*be, p, cases, data, t);
    counts.push_back(std::string("cuda-check conv ") + pn + ": " + std::to_string(t.pass - pass0) + " passed, " +
                     std::to_string(t.fail - fail0) + " failed");
    if (pi == 0) {
      std::printf("\n== other ops (fp32 in every precision)\n");
      const int opass0 = t.pass, ofail0 = t.fail;
      for (const PoolCase& pc : args.cases->Pool({})) CheckPoolCase(*be, pc, t);
      for (const LrnCase& lc : args.cases->Lrn({})) CheckLrnCase(*be, lc, t);
      // torchvision's AdaptiveAvgPool2d(7) before FC6: equal, overlapping, one-pixel and single windows.
      for (const vgg::AdaptivePoolShape& s : std::vector<vgg::AdaptivePoolShape>{{2, 5, 14, 14, 7, 7},
                                                                                 {1, 3, 13, 11, 7, 7},
                                                                                 {1, 4, 5, 6, 7, 7},
                                                                                 {1, 2, 9, 9, 1, 1},
                                                                                 {1, 64, 10, 9, 7, 7}})
        CheckAdaptivePool(*be, s, t);
      CheckRelu(*be, 100003, t);
      counts.push_back("cuda-check max pool, LRN, adaptive average pool, ReLU: " + std::to_string(t.pass - opass0) +
                       " passed, " + std::to_string(t.fail - ofail0) + " failed");
      if (!args.self_test && !args.quick) {  // --quick runs under compute-sanitizer: no intentional API errors
        std::printf("\n== error paths\n");
        const int epass0 = t.pass, efail0 = t.fail;
        CheckErrors(*be, args, t);
        counts.push_back("cuda-check error paths: " + std::to_string(t.pass - epass0) + " passed, " +
                         std::to_string(t.fail - efail0) + " failed");
      }
    }
    std::printf("\n== %s: a plan replayed as a CUDA graph vs op by op\n", pn);
    const int gpass0 = t.pass, gfail0 = t.fail;
    CheckGraphs(args, p, t);
    counts.push_back(std::string("cuda-check graphs ") + pn + ": " + std::to_string(t.pass - gpass0) + " passed, " +
                     std::to_string(t.fail - gfail0) + " failed");
    std::printf("  device memory held by the backend at the end: %zu bytes\n", vgg::cuda::DeviceBytesInUse(*be));
  }
  if (!args.quick && !args.no_network) {
    std::printf("\n== whole networks vs the cpu backend\n");
    CheckNetworks(args, t);
  }
  std::printf("\n");
  for (const std::string& c : counts) std::printf("%s\n", c.c_str());
  return t.Summary("cuda-check", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace vggh
