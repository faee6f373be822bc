#include "backend_checks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>

#include "compare.h"
#include "core/ref/reference.h"

namespace vggh {

using vgg::Status;

Status DevBuf::Upload(const std::vector<float>& h) {
  VGG_RETURN_IF_ERROR(Alloc(h.size()));
  return be.upload(p, h.data(), h.size());
}

Status DevBuf::FillNaN(size_t n) {
  VGG_RETURN_IF_ERROR(Alloc(n));
  const std::vector<float> nan(n, std::numeric_limits<float>::quiet_NaN());
  return be.upload(p, nan.data(), n);
}

Status DevBuf::Fetch(size_t n, std::vector<float>* h) {
  VGG_RETURN_IF_ERROR(be.synchronize());
  h->assign(n, 0.f);
  return be.download(h->data(), p, n);
}

Status RunConv(vgg::Backend& be, const ConvCase& c, const ConvData& d, vgg::ConvAlgorithm algorithm,
               std::vector<float>* y, vgg::ConvPlan* plan) {
  const vgg::ConvShape& s = c.s;
  std::unique_ptr<vgg::PackedConv> pc;
  VGG_RETURN_IF_ERROR(be.pack_conv(s, algorithm, d.w.data(), c.bias ? d.b.data() : nullptr, &pc));
  VGG_RETURN_IF_ERROR(be.plan_conv(s, *pc, plan));
  DevBuf xb(be), yb(be), wsb(be);
  const size_t ny = d.ref.size(), nws = plan->workspace_floats;
  VGG_RETURN_IF_ERROR(xb.Upload(d.x));
  VGG_RETURN_IF_ERROR(yb.FillNaN(ny));
  if (nws) VGG_RETURN_IF_ERROR(wsb.FillNaN(nws));
  VGG_RETURN_IF_ERROR(be.conv2d(s, *plan, *pc, c.relu, xb.p, yb.p, wsb.p));
  VGG_RETURN_IF_ERROR(yb.Fetch(ny, y));
  return be.synchronize();
}

namespace {

// Uploads x, runs op(x, y) on `be` into a NaN-filled y of ny floats, and fetches y into *got.
template <class Op>
Status RunOp(vgg::Backend& be, const std::vector<float>& x, size_t ny, Op&& op, std::vector<float>* got) {
  DevBuf xb(be), yb(be);
  VGG_RETURN_IF_ERROR(xb.Upload(x));
  VGG_RETURN_IF_ERROR(yb.FillNaN(ny));
  VGG_RETURN_IF_ERROR(op(xb.p, yb.p));
  return yb.Fetch(ny, got);
}

// Records whether `got` is bit-identical to `ref` (any NaN for any NaN), naming the first difference.
void RecordIdentical(Tally& t, const std::string& what, const Status& st, const std::vector<float>& got,
                     const std::vector<float>& ref, uint64_t seed) {
  const size_t bad = st.ok() ? FirstNotIdentical(got.data(), ref.data(), ref.size()) : 0;
  char seed_str[40];
  std::snprintf(seed_str, sizeof seed_str, " (seed 0x%016llx)", (unsigned long long)seed);
  std::string msg = what + ": " + (!st.ok() ? st.message : bad == SIZE_MAX ? "bit-identical" : "differs") + seed_str;
  if (st.ok() && bad != SIZE_MAX)
    msg += " at " + std::to_string(bad) + ": " + Fmt("%g", got[bad]) + " vs " + Fmt("%g", ref[bad]);
  t.Record(st.ok() && bad == SIZE_MAX, msg);
}

}  // namespace

void CheckFusedPool(vgg::Backend& be, const ConvCase& c, const ConvData& d, vgg::ConvAlgorithm algorithm, Tally& t) {
  const vgg::ConvShape& s = c.s;
  const vgg::PoolShape pool{s.N, s.K, s.P(), s.Q(), 2, 2};
  std::unique_ptr<vgg::PackedConv> pc;
  vgg::ConvPlan plan;
  Status st = be.pack_conv(s, algorithm, d.w.data(), c.bias ? d.b.data() : nullptr, &pc);
  if (st.ok()) st = be.plan_conv(s, *pc, &plan);
  if (st.ok() && (s.P() < 2 || s.Q() < 2 || !be.fuses_maxpool(s, plan, pool))) return;  // the window must fit
  const size_t ny = size_t(s.N) * s.K * s.P() * s.Q(), np = size_t(s.N) * s.K * pool.P() * pool.Q();
  std::vector<float> fused, split;
  DevBuf xb(be), yb(be), pb(be), fb(be), wsb(be);
  if (st.ok()) st = xb.Upload(d.x);
  if (st.ok() && plan.workspace_floats) st = wsb.FillNaN(plan.workspace_floats);
  if (st.ok()) st = yb.FillNaN(ny);
  if (st.ok()) st = pb.FillNaN(np);
  if (st.ok()) st = fb.FillNaN(np);
  if (st.ok()) st = be.conv2d(s, plan, *pc, c.relu, xb.p, yb.p, wsb.p);
  if (st.ok()) st = be.maxpool2d(pool, yb.p, pb.p);
  if (st.ok()) st = pb.Fetch(np, &split);
  if (st.ok()) st = be.conv2d_maxpool(s, plan, *pc, c.relu, pool, xb.p, fb.p, wsb.p);
  if (st.ok()) st = fb.Fetch(np, &fused);
  RecordIdentical(t,
                  std::string("conv2d_maxpool ") + vgg::ConvAlgorithmName(algorithm) + " '" + c.name + "' " +
                      ShapeStr(s) + " relu=" + (c.relu ? "1" : "0") + " vs conv2d then maxpool2d",
                  st, fused, split, d.seed);
}

void CheckPoolCase(vgg::Backend& be, const PoolCase& c, Tally& t) {
  const vgg::PoolShape& s = c.s;
  const uint64_t seed = SeedOf("pool " + c.name);
  const std::vector<float> x = PoolInput(c, seed);
  std::vector<float> ref(size_t(s.N) * s.C * s.P() * s.Q()), got;
  vgg::ref::maxpool2d(s, x.data(), ref.data());
  const Status st = RunOp(
      be, x, ref.size(), [&](float* xp, float* yp) { return be.maxpool2d(s, xp, yp); }, &got);
  char what[192];
  std::snprintf(what, sizeof what, "maxpool2d '%s' N%d C%d %dx%d window %d stride %d", c.name.c_str(), s.N, s.C, s.H,
                s.W, s.window, s.stride);
  RecordIdentical(t, what, st, got, ref, seed);
}

void CheckLrnCase(vgg::Backend& be, const LrnCase& c, Tally& t) {
  const uint64_t seed = SeedOf("lrn " + c.name);
  std::vector<float> x(size_t(c.N) * c.C * c.H * c.W), ref(x.size()), got;
  FillUniform(x.data(), x.size(), seed, -3.f, 3.f);
  vgg::ref::lrn(c.N, c.C, c.H, c.W, c.p, x.data(), ref.data());
  const Status st = RunOp(
      be, x, ref.size(), [&](float* xp, float* yp) { return be.lrn(c.N, c.C, c.H, c.W, c.p, xp, yp); }, &got);
  double worst = 0;
  if (st.ok())
    for (size_t i = 0; i < ref.size(); ++i) {
      const double e = std::fabs(double(got[i]) - ref[i]) / std::max(1e-30, std::fabs(double(ref[i])));
      if (!(e <= worst)) worst = e;  // NaN sticks
    }
  char line[320];
  std::snprintf(
      line, sizeof line,
      "lrn '%s' [%d,%d,%d,%d] size %d alpha %g beta %g k %g: max rel err %.3g (tol 1e-05)%s%s (seed 0x%016llx)",
      c.name.c_str(), c.N, c.C, c.H, c.W, c.p.size, c.p.alpha, c.p.beta, c.p.k, worst, st.ok() ? "" : " ",
      st.ok() ? "" : st.message.c_str(), (unsigned long long)seed);
  t.Record(st.ok() && worst <= 1e-5, line);
}

void CheckAdaptivePool(vgg::Backend& be, const vgg::AdaptivePoolShape& s, Tally& t) {
  char what[96];
  std::snprintf(what, sizeof what, "adaptive_avgpool2d N%d C%d %dx%d -> %dx%d", s.N, s.C, s.H, s.W, s.P, s.Q);
  const uint64_t seed = SeedOf(what);
  std::vector<float> x(size_t(s.N) * s.C * s.H * s.W), ref(size_t(s.N) * s.C * s.P * s.Q), got;
  FillUniform(x.data(), x.size(), seed, -3.f, 3.f);
  vgg::ref::adaptive_avgpool2d(s, x.data(), ref.data());
  const Status st = RunOp(
      be, x, ref.size(), [&](float* xp, float* yp) { return be.adaptive_avgpool2d(s, xp, yp); }, &got);
  RecordIdentical(t, what, st, got, ref, seed);
}

void CheckRelu(vgg::Backend& be, size_t n, Tally& t) {
  const uint64_t seed = SeedOf("relu");
  std::vector<float> x(n), ref, got;
  FillUniform(x.data(), n, seed, -1.f, 1.f);
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(), -0.f, 0.f, INFINITY, -INFINITY};
  for (size_t i = 0; i < n; i += 7) x[i] = specials[(i / 7) % 5];
  ref = x;
  vgg::ref::relu(ref.data(), n);
  DevBuf xb(be);
  Status st = xb.Upload(x);
  if (st.ok()) st = be.relu(xb.p, n);
  if (st.ok()) st = xb.Fetch(n, &got);
  size_t bad = st.ok() ? FirstNotIdentical(got.data(), ref.data(), n) : 0;
  if (st.ok() && bad == SIZE_MAX)  // FirstNotIdentical takes any NaN for any NaN: the signs of zeros too
    for (size_t i = 0; i < n && bad == SIZE_MAX; ++i)
      if (std::signbit(got[i]) != std::signbit(ref[i]) && got[i] == got[i]) bad = i;
  t.Record(st.ok() && bad == SIZE_MAX, "relu " + std::to_string(n) + " floats with NaN, ±0, ±Inf: " +
                                           (!st.ok()          ? st.message
                                            : bad == SIZE_MAX ? "bit-identical"
                                                              : "differs"));
}

}  // namespace vggh
