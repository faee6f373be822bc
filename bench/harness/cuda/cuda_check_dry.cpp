// cuda-check --dry: the plan of every conv case on an H100/H200 (132 multiprocessors), computed by the
// backend's own planner without a device, and which kernel variants the cases cover: fp32's SIMT
// implicit GEMM at BM 64 and 128 with and without split-K; each tensor-core precision's tiles (128×128,
// 64×128, 64×64) without split-K and 64×64 with it (the planner splits only 64×64 tiles); every
// precision's GEMV for 1 to 8 columns.
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "cuda/cuda_planner.h"
#include "cuda_harness.h"

namespace vggh {

int DryRun(const CudaArgs& args) {
  const int sms = 132;
  std::vector<ConvCase> cases;
  for (const ConvCase& c : args.cases->Conv(args.tags))
    if (!args.quick || c.s.macs() <= 20'000'000) cases.push_back(c);
  std::set<std::string> covered;
  double macs = 0;
  for (const ConvCase& c : cases) macs += double(c.s.macs());
  std::printf("%zu conv cases from %s, %.2f G multiply-adds for the reference\n", cases.size(), args.cases->dir.c_str(),
              macs / 1e9);
  for (Precision p : args.precisions) {
    const std::string pn = vgg::PrecisionName(p);
    for (const ConvCase& c : cases) {
      const vgg::cuda::IgemmPlan pl = vgg::cuda::PlanConv(c.s, p, sms);
      std::printf("%-5s %-48s %-62s -> %s, workspace %zu floats\n", pn.c_str(), c.name.c_str(), ShapeStr(c.s).c_str(),
                  pl.kernel.c_str(), pl.ws);
      std::string key = pl.kernel.substr(0, pl.kernel.find(' '));
      if (!pl.gemv) key += pl.split > 1 ? " split-K" : " no split";
      covered.insert(pn + " " + key);
    }
  }
  int missing = 0;
  for (Precision p : args.precisions) {
    const std::string pn = vgg::PrecisionName(p);
    const std::string t = vgg::cuda::DtypeTag(p);
    const std::string g = p == Precision::kBf16 ? "bf16w" : p == Precision::kFp16 ? "f16w" : "f32";
    std::vector<std::string> want;
    if (p == Precision::kFp32) {
      for (const char* bm : {"64", "128"})
        for (const char* sp : {" split-K", " no split"})
          want.push_back("conv2d_nchw_f32_igemm_simt_" + std::string(bm) + "x128x16" + sp);
    } else {
      const std::string bk = p == Precision::kTf32 ? "16" : "32";
      for (vgg::cuda::MmaTile tile :
           {vgg::cuda::MmaTile::k128x128, vgg::cuda::MmaTile::k64x128, vgg::cuda::MmaTile::k64x64}) {
        const vgg::cuda::MmaTileShape sh = vgg::cuda::ShapeOf(tile);
        const std::string name = "conv2d_nhwc_" + t + "_igemm_mma_" + std::to_string(sh.bm) + "x" +
                                 std::to_string(sh.bn) + "x" + bk + "_s" + std::to_string(sh.stages);
        want.push_back(name + " no split");
        if (tile == vgg::cuda::MmaTile::k64x64) want.push_back(name + " split-K");
      }
    }
    for (int n = 1; n <= vgg::cuda::kGemvMaxCols; ++n) want.push_back("gemv_" + g + "_x" + std::to_string(n));
    for (const std::string& k : want)
      if (!covered.count(pn + " " + k)) {
        std::printf("NOT COVERED: %s %s\n", pn.c_str(), k.c_str());
        ++missing;
      }
  }
  std::printf("dry run: %zu kernel variants covered, %d not covered\n", covered.size(), missing);
  return missing ? 1 : 0;
}

}  // namespace vggh
