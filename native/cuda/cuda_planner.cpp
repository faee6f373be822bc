#include "cuda/cuda_planner.h"

#include <algorithm>

namespace vgg::cuda {
namespace {
long long CeilDiv(long long a, long long b) { return (a + b - 1) / b; }
}  // namespace

Math MathOf(Precision p) {
  switch (p) {
    case Precision::kFp32: return Math::kSimt;
    case Precision::kTf32: return Math::kTf32;
    case Precision::kBf16: return Math::kBf16;
    case Precision::kFp16: return Math::kFp16;
  }
  return Math::kTf32;
}

const char* DtypeTag(Precision p) {
  switch (p) {
    case Precision::kFp32: return "f32";
    case Precision::kTf32: return "tf32";
    case Precision::kBf16: return "bf16";
    case Precision::kFp16: return "f16";
  }
  return "?";
}

IgemmPlan PlanConv(const ConvShape& s, Precision prec, int sms) {
  IgemmPlan pl;
  const long long cols = (long long)s.N * s.P() * s.Q();
  const long long kdim = (long long)s.C * s.R * s.S;
  const int Kpad = int(CeilDiv(kdim, kRedPad) * kRedPad);
  if (cols <= kGemvMaxCols) {
    pl.gemv = true;
    pl.ws = size_t(cols) * size_t(Kpad);
    const char* w = prec == Precision::kBf16 ? "bf16w" : prec == Precision::kFp16 ? "f16w" : "f32";
    pl.kernel = std::string("gemv_") + w + "_x" + std::to_string(cols);
    return pl;
  }
  pl.bm = s.K <= 64 ? 64 : 128;
  pl.bk = prec == Precision::kFp32 ? kBkSimt : kBkWmma;
  pl.mtiles = int(CeilDiv(s.K, pl.bm));
  pl.ntiles = int(CeilDiv(cols, kBN));
  pl.ktiles = Kpad / pl.bk;
  const long long tiles = (long long)pl.mtiles * pl.ntiles;
  const long long target = 2LL * std::max(sms, 1);  // two resident blocks per multiprocessor
  long long split = 1;
  if (tiles < target && pl.ktiles >= 8)
    split = std::max(1LL, std::min({CeilDiv(target, tiles), (long long)pl.ktiles / 4, 32LL}));
  pl.per = int(CeilDiv(pl.ktiles, split));
  pl.split = int(CeilDiv(pl.ktiles, pl.per));  // no empty split
  pl.ws = pl.split > 1 ? size_t(pl.split) * size_t(s.K) * size_t(cols) : 0;
  pl.kernel = std::string("conv2d_nchw_") + DtypeTag(prec) + "_igemm_" +
              (prec == Precision::kFp32 ? "simt_" : "wmma_") + std::to_string(pl.bm) + "x" + std::to_string(kBN) + "x" +
              std::to_string(pl.bk);
  if (pl.split > 1) pl.kernel += " split-K " + std::to_string(pl.split);
  return pl;
}

}  // namespace vgg::cuda
