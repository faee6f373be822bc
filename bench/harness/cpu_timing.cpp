// Timing one conv layer on a cpu backend (see cpu_timing.h).
#include "cpu_timing.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include "cpu_peak.h"
#include "data.h"

namespace vggh {

namespace {
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

}  // namespace

std::string BenchShapeStr(const vgg::ConvShape& s) {
  char b[128];
  std::snprintf(b, sizeof b, "N%d C%d %dx%d -> K%d %dx%d s%d p%d", s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.stride, s.pad);
  return b;
}

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
  if (st.ok()) out->packed_bytes = pc->bytes();
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

std::string KernelColumn(const vgg::ConvPlan& p) {
  const bool wino = p.algorithm == vgg::ConvAlgorithm::kWinograd2x2 || p.algorithm == vgg::ConvAlgorithm::kWinograd4x4;
  return p.kernel + (wino ? " (effective)" : "");
}

}  // namespace vggh
