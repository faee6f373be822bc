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

WeightLayout WeightLayoutOf(const ConvShape& s, Precision p) {
  WeightLayout w;
  w.elem_bytes = p == Precision::kBf16 || p == Precision::kFp16 ? 2 : 4;
  w.krsc = p != Precision::kFp32;
  const int per16 = 16 / w.elem_bytes;  // elements per 16-byte copy
  w.Cp = w.krsc ? int(CeilDiv(s.C, per16) * per16) : s.C;
  w.Kpad = int(CeilDiv((long long)s.R * s.S * w.Cp, kRedPad) * kRedPad);
  return w;
}

IgemmPlan PlanConv(const ConvShape& s, Precision prec, int sms) {
  IgemmPlan pl;
  const WeightLayout wl = WeightLayoutOf(s, prec);
  const long long cols = (long long)s.N * s.P() * s.Q();
  const long long target = 2LL * std::max(sms, 1);  // two resident blocks per multiprocessor
  if (cols <= kGemvMaxCols) {
    pl.gemv = true;
    pl.ws = size_t(cols) * size_t(wl.Kpad);
    pl.gemv_threads = CeilDiv(s.K, kThreads / 32) >= target ? kThreads : kThreads / 2;  // a warp per row
    const char* w = prec == Precision::kBf16 ? "bf16w" : prec == Precision::kFp16 ? "f16w" : "f32";
    pl.kernel = std::string("gemv_") + w + "_x" + std::to_string(cols) + " " + std::to_string(pl.gemv_threads / 32) +
                " rows/block";
    return pl;
  }
  long long max_split = 32, min_steps = 4;
  if (prec == Precision::kFp32) {
    pl.bm = s.K <= 64 ? 64 : 128;
    pl.bn = kBN;
    pl.bk = kBkSimt;
    pl.mtiles = int(CeilDiv(s.K, pl.bm));
    pl.ntiles = int(CeilDiv(cols, pl.bn));
  } else {
    pl.mma = true;
    pl.bk = kBkMmaBytes / wl.elem_bytes;
    for (MmaTile t : {s.K <= 64 ? MmaTile::k64x128 : MmaTile::k128x128, MmaTile::k64x64}) {
      pl.tile = t;
      pl.bm = ShapeOf(t).bm;
      pl.bn = ShapeOf(t).bn;
      pl.mtiles = int(CeilDiv(s.K, pl.bm));
      pl.ntiles = int(CeilDiv(cols, pl.bn));
      if ((long long)pl.mtiles * pl.ntiles >= target) break;
    }
    max_split = 8;
    min_steps = 8;
    const size_t nhwc_bytes = size_t(s.N) * size_t(s.H) * size_t(s.W) * size_t(wl.Cp) * size_t(wl.elem_bytes);
    pl.ws_nhwc = (nhwc_bytes + 15) / 16 * 4;  // floats, a multiple of 16 bytes: the partial sums stay aligned
  }
  pl.ktiles = wl.Kpad / pl.bk;
  const long long tiles = (long long)pl.mtiles * pl.ntiles;
  long long split = 1;
  if (tiles < target && pl.ktiles >= 2 * min_steps)
    split = std::max(1LL, std::min({CeilDiv(target, tiles), (long long)pl.ktiles / min_steps, max_split}));
  pl.per = int(CeilDiv(pl.ktiles, split));
  pl.split = int(CeilDiv(pl.ktiles, pl.per));  // no empty split
  pl.ws = pl.ws_nhwc + (pl.split > 1 ? size_t(pl.split) * size_t(s.K) * size_t(cols) : 0);
  const std::string dims = std::to_string(pl.bm) + "x" + std::to_string(pl.bn) + "x" + std::to_string(pl.bk);
  if (pl.mma)
    pl.kernel = std::string("conv2d_nhwc_") + DtypeTag(prec) + "_igemm_mma_" + dims + "_s" +
                std::to_string(ShapeOf(pl.tile).stages);
  else pl.kernel = "conv2d_nchw_f32_igemm_simt_" + dims;
  if (pl.split > 1) pl.kernel += " split-K " + std::to_string(pl.split);
  return pl;
}

}  // namespace vgg::cuda
