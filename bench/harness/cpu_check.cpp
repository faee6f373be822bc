// vggnet_harness check: the cpu backend against the reference kernels over the shared case list, for
// every algorithm that can serve each conv case (also what a sanitizer build runs). Outputs and
// workspaces are NaN-filled, and workspaces allocated at the size the plan asks for, so an unwritten
// output or an overrun shows.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend_checks.h"
#include "compare.h"
#include "cpu/cpu_kernels.h"
#include "cpu_commands.h"
#include "data.h"

namespace vggh {
namespace {

constexpr vgg::ConvAlgorithm kAlgorithms[] = {vgg::ConvAlgorithm::kGemm, vgg::ConvAlgorithm::kWinograd2x2,
                                              vgg::ConvAlgorithm::kWinograd4x4};

// The bf16 kernels' reference: the case's data with x and w rounded to bf16 as the kernels round them
// (vgg::cpu::RoundToBf16), summed in double by the reference conv.
ConvData RoundedToBf16(const ConvCase& c, const ConvData& d, int threads) {
  ConvData r = d;
  auto round = [](std::vector<float>& v) {
    for (float& f : v) {
      const uint32_t u = uint32_t(vgg::cpu::RoundToBf16(f)) << 16;
      std::memcpy(&f, &u, 4);
    }
  };
  round(r.x);
  round(r.w);
  RefConvParallel(c.s, r.x.data(), r.w.data(), c.bias ? r.b.data() : nullptr, c.relu, r.ref.data(), threads);
  return r;
}

void CheckConv(vgg::Backend& be, const ConvCase& c, int threads, Tally& t) {
  const ConvData d32 = MakeConvData(c, threads);
  // With precision bf16 the GEMM-algorithm layers compute on bf16 operands: compared with the reference on
  // those operands, under the fp32 GEMM's tolerance (the products are exact, the sums fp32).
  const bool bf16 = be.precision_name() == "bf16";
  const ConvData d16 = bf16 ? RoundedToBf16(c, d32, threads) : ConvData();
  const int64_t kdim = int64_t(c.s.C) * c.s.R * c.s.S;
  for (vgg::ConvAlgorithm algo : kAlgorithms) {
    if (be.choose_conv_algorithm(c.s, algo) != algo) continue;  // the algorithm cannot serve this shape
    // Winograd transforms mix the inputs of a tile, so NaN and Inf spread differently from the direct sum.
    if (c.nonfinite && algo != vgg::ConvAlgorithm::kGemm) {
      CheckFusedPool(be, c, d32, algo, t);  // against the backend's own conv then pool, NaN for NaN
      continue;
    }
    // The backend gets the f32 data (it rounds to bf16 itself); the comparison, the bf16 reference.
    const ConvData& d = bf16 && algo == vgg::ConvAlgorithm::kGemm ? d16 : d32;
    std::vector<float> y;
    vgg::ConvPlan plan;
    const vgg::Status st = RunConv(be, c, d32, algo, &y, &plan);
    const Diff df = st.ok() ? Compare(y.data(), d.ref.data(), y.size()) : Diff{};
    const double tol = ConvTolerance(algo, kdim, df.max_abs_ref);
    char tail[160];
    std::snprintf(tail, sizeof tail, " relu=%d bias=%d seed 0x%016llx  max|diff| %.3g (tol %.3g)", c.relu ? 1 : 0,
                  c.bias ? 1 : 0, (unsigned long long)d.seed, df.max_abs, tol);
    std::string line = std::string("conv2d ") + vgg::ConvAlgorithmName(algo) + " '" + c.name + "' " + ShapeStr(c.s) +
                       tail + "  [" + plan.kernel + "]";
    if (!st.ok()) line += "  error: " + st.message;
    if (df.nonfinite_bad)
      line += "  " + std::to_string(df.nonfinite_bad) + " non-finite mismatches, first at " +
              std::to_string(df.first_bad) + ": " + Fmt("%g", y[df.first_bad]) + " vs reference " +
              Fmt("%g", d.ref[df.first_bad]);
    t.Record(st.ok() && df.nonfinite_bad == 0 && df.max_abs <= tol, line);
    CheckFusedPool(be, c, d32, algo, t);
  }
}

}  // namespace

int CmdCheck(const CpuArgs& a, const CaseList& cases) {
  std::unique_ptr<vgg::Backend> be;
  const vgg::Status st = vgg::MakeCpuBackend(a.cpu, &be);
  if (!st.ok()) {
    std::fprintf(stderr, "cpu backend: %s\n", st.message.c_str());
    return 1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::string tags;
  for (const std::string& tag : a.tags) tags += (tags.empty() ? "" : ",") + tag;
  std::printf("backend: %s\nprecision: %s\ncases: %s, conv tags %s, pool, lrn\n\n", be->kernel_family().c_str(),
              be->precision_name().c_str(), cases.dir.c_str(), tags.c_str());
  // --only NAME keeps the cases whose name contains NAME; a selection that matches nothing is an error,
  // not an empty pass.
  auto keep = [&](const std::string& name) { return a.only.empty() || name.find(a.only) != std::string::npos; };
  Tally t;
  size_t selected = 0;
  for (const ConvCase& c : cases.Conv(a.tags))
    if (keep(c.name)) ++selected, CheckConv(*be, c, a.cpu.threads, t);
  for (const PoolCase& c : cases.Pool({"pool"}))
    if (keep(c.name)) ++selected, CheckPoolCase(*be, c, t);
  for (const LrnCase& c : cases.Lrn({"lrn"}))
    if (keep(c.name)) ++selected, CheckLrnCase(*be, c, t);
  if (selected == 0) {
    std::fprintf(stderr, "check: no case matches --tags %s%s%s\n", tags.c_str(), a.only.empty() ? "" : " --only ",
                 a.only.c_str());
    return 2;
  }
  return t.Summary("check", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace vggh
