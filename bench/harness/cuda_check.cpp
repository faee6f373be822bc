// vggnet_harness cuda-check: every CUDA op against the reference kernels (native/core/ref) over the shape
// suites of DESIGN.md habit 3, per precision; then whole networks against the cpu backend; then the error
// paths (out of memory, bad arguments, memory accounting). Outputs and workspaces are pre-filled with
// NaN; data come from seeded generators and every line names its seed. Exit status 1 on any failure.
//
// Conv tolerances, relative L2 error ‖y − ref‖/‖ref‖ (the reference accumulates in double):
//   fp32 1e-5 (issue 5); tf32 1e-3 (issue 5); fp16 2e-3 and bf16 1e-2 (recorded here).
// The expected error of one rounded product is ~0.7·u relative (u = 2^-11 for tf32/fp16, 2^-8 for bf16)
// and random-sign sums keep that ratio: ~3.5e-4 (tf32, fp16) and ~3e-3 (bf16), so these bounds leave
// 3x or more; a missing or doubled term, a wrong index or an unwritten output gives errors of order 1.
// Whole networks (vgg16 at 224, He weights) against the cpu backend: fp32 1e-4, tf32/fp16 1e-2, bf16 5e-2.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "core/ref/reference.h"
#include "cuda_harness.h"

namespace vggh {
namespace {

using vgg::ConvShape;
using vgg::Status;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

double ConvTol(Precision p) {
  switch (p) {
    case Precision::kFp32: return 1e-5;
    case Precision::kTf32: return 1e-3;
    case Precision::kBf16: return 1e-2;
    case Precision::kFp16: return 2e-3;
  }
  return 0;
}

double NetTol(Precision p) {
  switch (p) {
    case Precision::kFp32: return 1e-4;
    case Precision::kTf32: return 1e-2;
    case Precision::kBf16: return 5e-2;
    case Precision::kFp16: return 1e-2;
  }
  return 0;
}

uint64_t SeedOf(const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : name) h = (h ^ ch) * 1099511628211ull;
  return h;
}

struct Tally {
  int pass = 0, fail = 0;
  std::vector<std::string> failures;
  void Record(bool ok, const std::string& line) {
    std::printf("%s %s\n", ok ? "PASS" : "FAIL", line.c_str());
    std::fflush(stdout);
    if (ok) {
      ++pass;
    } else {
      ++fail;
      failures.push_back(line);
    }
  }
};

std::string Fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// ---- conv cases ---------------------------------------------------------------------------------------
struct ConvCase {
  std::string name;
  ConvShape s;
  bool relu = true, bias = true;
  bool nonfinite = false;  // NaN and ±Inf planted in x
};

ConvCase C3(std::string name, int N, int C, int H, int W, int K, int R = 3, int pad = 1, int stride = 1) {
  return {std::move(name), ConvShape{N, C, H, W, K, R, R, stride, pad}};
}

std::vector<ConvCase> ConvCases(bool quick) {
  std::vector<ConvCase> v = {
      // Every VGG16 conv layer's channels (paper Table 1, configuration D) at reduced spatial size.
      C3("vgg16 conv1_1 3->64 @14", 1, 3, 14, 14, 64),
      C3("vgg16 conv1_2 64->64 @14", 1, 64, 14, 14, 64),
      C3("vgg16 conv2_1 64->128 @14", 1, 64, 14, 14, 128),
      C3("vgg16 conv2_2 128->128 @14", 1, 128, 14, 14, 128),
      C3("vgg16 conv3_1 128->256 @7", 1, 128, 7, 7, 256),
      C3("vgg16 conv3_2 256->256 @7", 1, 256, 7, 7, 256),
      C3("vgg16 conv4_1 256->512 @7", 1, 256, 7, 7, 512),
      C3("vgg16 conv4_2 512->512 @7", 1, 512, 7, 7, 512),
      C3("vgg16 conv5_x 512->512 @4 batch 2", 2, 512, 4, 4, 512),
      C3("vgg16 conv1_2 64->64 @56", 1, 64, 56, 56, 64),
      C3("vgg16 conv3_1 128->256 @28 batch 2", 2, 128, 28, 28, 256),
      // Enough column tiles that no split-K is chosen (BM 64 and 128), and C = 3 (one reduction step).
      C3("no split, BM 64: 64->64 @192", 1, 64, 192, 192, 64),
      C3("no split, BM 128: 32->160 @96x192", 1, 32, 96, 192, 160),
      C3("C=3 224x224 -> 64 (conv1_1 full size)", 1, 3, 224, 224, 64),
      C3("C=3 odd 13x11 batch 2", 2, 3, 13, 11, 64),
      // Tile edges: K around BM (64, 128), columns around BN (128), C·R·S around BK (16, 32).
      C3("K=63 cols=127", 1, 7, 1, 127, 63),
      C3("K=65 cols=129", 1, 7, 1, 129, 65),
      C3("K=127 cols=257", 1, 5, 1, 257, 127),
      C3("K=129 cols=129", 1, 4, 3, 43, 129),
      C3("K=1 cols=128", 1, 9, 2, 64, 1),
      C3("K=200 cols=255", 1, 11, 1, 255, 200),
      C3("K=31 cols=77 (primes)", 1, 13, 7, 11, 31),
      C3("K=13 cols=105 batch 3", 3, 5, 5, 7, 13),
      C3("K=64 cols=2x49 (tiles straddle images)", 2, 16, 7, 7, 64),
      C3("K=8 cols=16x3", 3, 4, 4, 4, 8),
      C3("C.R.S=15 (1x1)", 1, 15, 5, 5, 17, 1, 0),
      C3("C.R.S=16 (1x1)", 1, 16, 5, 5, 17, 1, 0),
      C3("C.R.S=17 (1x1)", 1, 17, 5, 5, 17, 1, 0),
      C3("C.R.S=31 (1x1)", 1, 31, 5, 5, 17, 1, 0),
      C3("C.R.S=33 (1x1)", 1, 33, 5, 5, 17, 1, 0),
      C3("C.R.S=47 (1x1)", 1, 47, 5, 5, 17, 1, 0),
      C3("C.R.S=765 (3x3, C=85)", 1, 85, 4, 5, 19),
      C3("C.R.S=774 (3x3, C=86)", 1, 86, 4, 5, 19),
      // Other geometry: 1x1, strides, 5x5, R != S.
      C3("1x1 64->32 @14 batch 2", 2, 64, 14, 14, 32, 1, 0),
      C3("C=3 1x1", 1, 3, 9, 9, 10, 1, 0),
      C3("1x1 stride 2", 1, 16, 9, 9, 24, 1, 0, 2),
      C3("3x3 stride 2 pad 1", 1, 5, 9, 11, 7, 3, 1, 2),
      C3("5x5 pad 2", 1, 6, 8, 8, 20, 5, 2),
      {"R=3 S=5 pad 1", ConvShape{1, 4, 6, 9, 10, 3, 5, 1, 1}},
      // GEMV (N·P·Q <= 8 columns): batch 1..8 FC-like, gathered columns, dense-evaluation score maps.
      C3("FC-like 1x1 on 1x1 batch 1", 1, 300, 1, 1, 77, 1, 0),
      C3("FC-like 1x1 on 1x1 batch 2", 2, 300, 1, 1, 77, 1, 0),
      C3("FC-like 1x1 on 1x1 batch 3", 3, 300, 1, 1, 77, 1, 0),
      C3("FC-like 1x1 on 1x1 batch 4", 4, 300, 1, 1, 77, 1, 0),
      C3("FC-like 1x1 on 1x1 batch 5", 5, 300, 1, 1, 77, 1, 0),
      C3("FC-like 1x1 on 1x1 batch 6", 6, 300, 1, 1, 77, 1, 0),
      C3("FC-like 1x1 on 1x1 batch 7", 7, 300, 1, 1, 77, 1, 0),
      C3("FC-like 1x1 on 1x1 batch 8", 8, 300, 1, 1, 77, 1, 0),
      C3("FC-like 1x1 on 1x1 batch 9 (GEMM)", 9, 300, 1, 1, 77, 1, 0),
      C3("3x3 pad 1 on 1x1 (gathered column, padding)", 1, 300, 1, 1, 13),
      C3("7x7 valid FC6-like batch 1", 1, 64, 7, 7, 100, 7, 0),
      C3("7x7 valid FC6-like batch 3", 3, 64, 7, 7, 100, 7, 0),
      C3("7x7 valid on 8x9 (2x3 score map)", 1, 32, 8, 9, 50, 7, 0),
      // Full-size FC layers at batch 1, 8, 64 (FC6 as a 7x7 conv on pool5).
      C3("FC6 512x7x7->4096 batch 1", 1, 512, 7, 7, 4096, 7, 0),
      C3("FC6-like 512x7x7->1024 batch 8", 8, 512, 7, 7, 1024, 7, 0),
      C3("FC6-like 256x7x7->512 batch 64", 64, 256, 7, 7, 512, 7, 0),
      C3("FC7 4096->4096 batch 1", 1, 4096, 1, 1, 4096, 1, 0),
      C3("FC7 4096->4096 batch 8", 8, 4096, 1, 1, 4096, 1, 0),
      C3("FC8 4096->1000 batch 64", 64, 4096, 1, 1, 1000, 1, 0),
  };
  ConvCase r = C3("relu off", 1, 32, 6, 6, 40);
  r.relu = false;
  v.push_back(r);
  ConvCase b = C3("bias null", 1, 32, 6, 6, 40);
  b.bias = false;
  v.push_back(b);
  ConvCase rb = C3("relu off, bias null", 2, 32, 5, 5, 40);
  rb.relu = rb.bias = false;
  v.push_back(rb);
  ConvCase nf = C3("NaN and Inf in the input", 2, 9, 6, 7, 20);
  nf.nonfinite = true;
  v.push_back(nf);
  ConvCase nfg = C3("NaN and Inf in the input (GEMV)", 2, 64, 1, 1, 40, 1, 0);
  nfg.nonfinite = true;
  v.push_back(nfg);
  ConvCase nfs = C3("NaN and Inf in the input (split-K)", 1, 128, 5, 5, 96);
  nfs.nonfinite = true;
  v.push_back(nfs);
  if (quick) {
    std::vector<ConvCase> q;
    for (const ConvCase& c : v)
      if (c.s.macs() <= 20'000'000) q.push_back(c);
    return q;
  }
  return v;
}

struct ConvData {
  std::vector<float> x, w, b, ref;
  uint64_t seed = 0;
};

ConvData MakeConvData(const ConvCase& c, int threads) {
  const ConvShape& s = c.s;
  ConvData d;
  d.seed = SeedOf(c.name);
  const size_t kdim = size_t(s.C) * s.R * s.S;
  d.x.resize(size_t(s.N) * s.C * s.H * s.W);
  d.w.resize(size_t(s.K) * kdim);
  FillUniform(d.x.data(), d.x.size(), d.seed, -1.f, 1.f);
  const float a = float(std::sqrt(3.0 / double(kdim)));  // unit-variance pre-activations
  FillUniform(d.w.data(), d.w.size(), d.seed + 1, -a, a);
  if (c.bias) {
    d.b.resize(size_t(s.K));
    FillUniform(d.b.data(), d.b.size(), d.seed + 2, -0.5f, 0.5f);
  }
  if (c.nonfinite) {
    d.x[5] = kNaN;
    d.x[d.x.size() / 2 + 3] = kInf;
    d.x[d.x.size() - 1] = -kInf;
  }
  d.ref.resize(size_t(s.N) * s.K * s.P() * s.Q());
  RefConvParallel(s, d.x.data(), d.w.data(), c.bias ? d.b.data() : nullptr, c.relu, d.ref.data(), threads);
  return d;
}

// A device buffer released on scope exit.
struct DevBuf {
  vgg::Backend& be;
  float* p = nullptr;
  explicit DevBuf(vgg::Backend& b) : be(b) {}
  ~DevBuf() { if (p) be.release(p); }
  Status Alloc(size_t n) { return be.alloc(n, &p); }
  Status FillNaN(size_t n) {
    std::vector<float> nan(n, kNaN);
    return be.upload(p, nan.data(), n);
  }
};

Status RunConv(vgg::Backend& be, const ConvCase& c, const ConvData& d, std::vector<float>* y) {
  const ConvShape& s = c.s;
  std::unique_ptr<vgg::PackedConv> pc;
  VGG_RETURN_IF_ERROR(be.pack_conv(s, d.w.data(), c.bias ? d.b.data() : nullptr, &pc));
  DevBuf xb(be), yb(be), wsb(be);
  const size_t ny = d.ref.size(), nws = be.conv_workspace(s);
  VGG_RETURN_IF_ERROR(xb.Alloc(d.x.size()));
  VGG_RETURN_IF_ERROR(yb.Alloc(ny));
  VGG_RETURN_IF_ERROR(be.upload(xb.p, d.x.data(), d.x.size()));
  VGG_RETURN_IF_ERROR(yb.FillNaN(ny));
  if (nws) {  // exactly the size asked for, NaN-filled: every partial sum read must have been written
    VGG_RETURN_IF_ERROR(wsb.Alloc(nws));
    VGG_RETURN_IF_ERROR(wsb.FillNaN(nws));
  }
  VGG_RETURN_IF_ERROR(be.conv2d(s, *pc, c.relu, xb.p, yb.p, wsb.p));
  VGG_RETURN_IF_ERROR(be.synchronize());
  y->assign(ny, 0.f);
  VGG_RETURN_IF_ERROR(be.download(y->data(), yb.p, ny));
  return be.synchronize();
}

std::string CaseLine(const char* prec, const ConvCase& c, uint64_t seed) {
  char b[96];
  std::snprintf(b, sizeof b, " relu=%d bias=%d seed 0x%016llx", c.relu ? 1 : 0, c.bias ? 1 : 0,
                (unsigned long long)seed);
  return std::string("conv2d ") + prec + " '" + c.name + "' " + ShapeStr(c.s) + b;
}

// ---- dry run: the plan of every case, and which kernel variants the suite covers ---------------------
int DryRun(const CudaArgs& args) {
  const int sms = 132;  // H100 SXM / H200
  std::set<std::string> covered;
  double macs = 0;
  for (const ConvCase& c : ConvCases(args.quick)) macs += double(c.s.macs());
  std::printf("%zu conv cases, %.2f G multiply-adds for the reference\n", ConvCases(args.quick).size(), macs / 1e9);
  for (Precision p : args.precisions) {
    const std::string pn = vgg::cuda::PrecisionName(p);
    for (const ConvCase& c : ConvCases(args.quick)) {
      const vgg::cuda::ConvPlanInfo pl = vgg::cuda::PlanConvFor(c.s, p, sms);
      std::printf("%-5s %-48s %-62s -> %s, workspace %zu floats\n", pn.c_str(), c.name.c_str(), ShapeStr(c.s).c_str(),
                  pl.kernel.c_str(), pl.workspace_floats);
      std::string key = pl.kernel.substr(0, pl.kernel.find(' '));
      if (!pl.gemv) key += pl.split > 1 ? " split-K" : " no split";
      covered.insert(pn + " " + key);
    }
  }
  int missing = 0;
  for (Precision p : args.precisions) {
    const std::string pn = vgg::cuda::PrecisionName(p);
    const std::string t = p == Precision::kFp32 ? "f32" : p == Precision::kTf32 ? "tf32" : p == Precision::kBf16 ? "bf16" : "f16";
    const std::string g = p == Precision::kBf16 ? "bf16w" : p == Precision::kFp16 ? "f16w" : "f32";
    const std::string path = p == Precision::kFp32 ? "simt" : "wmma";
    const std::string bk = p == Precision::kFp32 ? "16" : "32";
    std::vector<std::string> want;
    for (const char* bm : {"64", "128"})
      for (const char* sp : {" split-K", " no split"})
        want.push_back("conv2d_nchw_" + t + "_igemm_" + path + "_" + bm + "x128x" + bk + sp);
    for (int n = 1; n <= 8; ++n) want.push_back("gemv_" + g + "_x" + std::to_string(n));
    for (const std::string& k : want)
      if (!covered.count(pn + " " + k)) {
        std::printf("NOT COVERED: %s %s\n", pn.c_str(), k.c_str());
        ++missing;
      }
  }
  std::printf("dry run: %zu kernel variants covered, %d not covered\n", covered.size(), missing);
  return missing ? 1 : 0;
}

// ---- the other ops --------------------------------------------------------------------------------------
void CheckOps(vgg::Backend& be, Tally& t) {
  auto upload = [&](DevBuf& b, const std::vector<float>& h) -> Status {
    VGG_RETURN_IF_ERROR(b.Alloc(h.size()));
    return be.upload(b.p, h.data(), h.size());
  };
  auto output = [&](DevBuf& b, size_t n) -> Status {
    VGG_RETURN_IF_ERROR(b.Alloc(n));
    return b.FillNaN(n);
  };
  auto fetch = [&](DevBuf& b, size_t n, std::vector<float>* h) -> Status {
    VGG_RETURN_IF_ERROR(be.synchronize());
    h->assign(n, 0.f);
    return be.download(h->data(), b.p, n);
  };

  // maxpool2d: bit-identical, NaN / ±0 / ±Inf included
  struct Pool { const char* name; vgg::PoolShape s; };
  const Pool pools[] = {{"2x2 s2 even", {1, 3, 8, 8, 2, 2}},      {"2x2 s2 odd (floor)", {2, 5, 7, 9, 2, 2}},
                        {"3x3 s2", {1, 4, 9, 10, 3, 2}},          {"3x3 s1", {1, 2, 6, 5, 3, 1}},
                        {"1x1 s1", {1, 2, 3, 4, 1, 1}},           {"VGG 64ch @28 batch 2", {2, 64, 28, 28, 2, 2}},
                        {"VGG 512ch @14 batch 3", {3, 512, 14, 14, 2, 2}}};
  for (const Pool& pc : pools) {
    const vgg::PoolShape& s = pc.s;
    const uint64_t seed = SeedOf(std::string("pool ") + pc.name);
    std::vector<float> x(size_t(s.N) * s.C * s.H * s.W), u(x.size()), pick(x.size());
    FillUniform(x.data(), x.size(), seed, -1.f, 1.f);
    FillUniform(u.data(), u.size(), seed + 1, 0.f, 1.f);
    FillUniform(pick.data(), pick.size(), seed + 2, 0.f, 5.f);
    const float specials[] = {kNaN, -0.f, 0.f, -kInf, kInf};
    for (size_t i = 0; i < x.size(); ++i) {
      if (u[i] < 0.05f) x[i] = specials[std::min(4, int(pick[i]))];
      else if (u[i] < 0.1f) x[i] = std::round(x[i] * 2.f);
    }
    x[0] = x[1] = x[size_t(s.W)] = x[size_t(s.W) + 1] = -kInf;  // a window of only -Inf
    if (s.W > 3 && s.window == 2) { x[2] = -0.f; x[3] = 0.f; x[size_t(s.W) + 2] = -0.f; x[size_t(s.W) + 3] = -0.f; }
    std::vector<float> ref(size_t(s.N) * s.C * s.P() * s.Q()), got;
    vgg::ref::maxpool2d(s, x.data(), ref.data());
    DevBuf xb(be), yb(be);
    Status st = upload(xb, x);
    if (st.ok()) st = output(yb, ref.size());
    if (st.ok()) st = be.maxpool2d(s, xb.p, yb.p);
    if (st.ok()) st = fetch(yb, ref.size(), &got);
    const size_t bad = st.ok() ? FirstNotIdentical(got.data(), ref.data(), ref.size()) : 0;
    char line[256];
    std::snprintf(line, sizeof line, "maxpool2d '%s' N%d C%d %dx%d window %d stride %d: %s (seed 0x%016llx)", pc.name,
                  s.N, s.C, s.H, s.W, s.window, s.stride,
                  !st.ok() ? st.message.c_str() : bad == SIZE_MAX ? "bit-identical" : "differs",
                  (unsigned long long)seed);
    std::string msg = line;
    if (st.ok() && bad != SIZE_MAX) msg += " at " + std::to_string(bad) + ": " + Fmt("%g", got[bad]) + " vs " + Fmt("%g", ref[bad]);
    t.Record(st.ok() && bad == SIZE_MAX, msg);
  }

  // lrn: max relative error 1e-5 (fp32 square sum of <= size terms, one pow)
  struct Lrn { std::vector<int> d; vgg::LrnParams p; };
  const Lrn lrns[] = {{{2, 7, 5, 5}, {5, 1e-4f, 0.75f, 2.f}},
                      {{1, 64, 14, 14}, {5, 1e-4f, 0.75f, 2.f}},
                      {{1, 9, 3, 4}, {3, 0.5f, 0.75f, 1.f}},
                      {{1, 6, 4, 4}, {4, 0.2f, 0.5f, 1.f}},
                      {{2, 64, 56, 56}, {5, 1e-4f, 0.75f, 2.f}}};
  for (const Lrn& lc : lrns) {
    const int N = lc.d[0], C = lc.d[1], H = lc.d[2], W = lc.d[3];
    const uint64_t seed = SeedOf("lrn " + std::to_string(N * 1000000 + C * 10000 + H * 100 + W) + " " + std::to_string(lc.p.size));
    std::vector<float> x(size_t(N) * C * H * W), ref(x.size()), got;
    FillUniform(x.data(), x.size(), seed, -3.f, 3.f);
    vgg::ref::lrn(N, C, H, W, lc.p, x.data(), ref.data());
    DevBuf xb(be), yb(be);
    Status st = upload(xb, x);
    if (st.ok()) st = output(yb, ref.size());
    if (st.ok()) st = be.lrn(N, C, H, W, lc.p, xb.p, yb.p);
    if (st.ok()) st = fetch(yb, ref.size(), &got);
    double worst = 0;
    if (st.ok())
      for (size_t i = 0; i < ref.size(); ++i) {
        const double e = std::fabs(double(got[i]) - ref[i]) / std::max(1e-30, std::fabs(double(ref[i])));
        if (!(e <= worst)) worst = e;  // NaN sticks
      }
    char line[256];
    std::snprintf(line, sizeof line, "lrn [%d,%d,%d,%d] size %d alpha %g beta %g k %g: max rel err %.3g (tol 1e-05)%s%s (seed 0x%016llx)",
                  N, C, H, W, lc.p.size, lc.p.alpha, lc.p.beta, lc.p.k, worst, st.ok() ? "" : " ",
                  st.ok() ? "" : st.message.c_str(), (unsigned long long)seed);
    t.Record(st.ok() && worst <= 1e-5, line);
  }

  // softmax: rows sum to 1; NaN / +Inf / all -Inf rows come out like the reference
  for (int cols : {1000, 1, 4097}) {
    const int rows = 6;
    const uint64_t seed = SeedOf("softmax " + std::to_string(cols));
    std::vector<float> x(size_t(rows) * cols), ref(x.size()), got;
    FillUniform(x.data(), x.size(), seed, -20.f, 20.f);
    if (cols > 17) {
      x[size_t(1) * cols + 17] = kNaN;
      x[size_t(2) * cols + 3] = kInf;
      for (int c = 0; c < cols; ++c) x[size_t(3) * cols + c] = -kInf;
      x[size_t(4) * cols + cols - 1] = 80.f;
    }
    vgg::ref::softmax(rows, cols, x.data(), ref.data());
    DevBuf xb(be), yb(be);
    Status st = upload(xb, x);
    if (st.ok()) st = output(yb, ref.size());
    if (st.ok()) st = be.softmax(rows, cols, xb.p, yb.p);
    if (st.ok()) st = fetch(yb, ref.size(), &got);
    Diff d;
    if (st.ok()) d = Compare(got.data(), ref.data(), ref.size());
    char line[256];
    std::snprintf(line, sizeof line, "softmax %dx%d: max|diff| %.3g (tol 1e-06), non-finite mismatches %zu%s%s (seed 0x%016llx)",
                  rows, cols, d.max_abs, d.nonfinite_bad, st.ok() ? "" : " ", st.ok() ? "" : st.message.c_str(),
                  (unsigned long long)seed);
    t.Record(st.ok() && d.max_abs <= 1e-6 && d.nonfinite_bad == 0, line);
  }

  // spatial_mean (relative 1e-6 per element) and flip_w (bit-identical)
  for (const std::vector<int>& dm : std::vector<std::vector<int>>{{2, 3, 5, 7}, {1, 1000, 2, 3}, {1, 64, 56, 56}, {3, 4097, 1, 1}, {1, 2, 1, 1000}}) {
    const int N = dm[0], C = dm[1], H = dm[2], W = dm[3];
    const uint64_t seed = SeedOf("mean/flip " + std::to_string(N) + "," + std::to_string(C) + "," + std::to_string(H) + "," + std::to_string(W));
    std::vector<float> x(size_t(N) * C * H * W), mref(size_t(N) * C), fref(x.size()), mgot, fgot;
    FillUniform(x.data(), x.size(), seed, -2.f, 2.f);
    x[x.size() / 3] = -0.f;
    vgg::ref::spatial_mean(N, C, H, W, x.data(), mref.data());
    vgg::ref::flip_w(N, C, H, W, x.data(), fref.data());
    DevBuf xb(be), mb(be), fb(be);
    Status st = upload(xb, x);
    if (st.ok()) st = output(mb, mref.size());
    if (st.ok()) st = output(fb, fref.size());
    if (st.ok()) st = be.spatial_mean(N, C, H, W, xb.p, mb.p);
    if (st.ok()) st = be.flip_w(N, C, H, W, xb.p, fb.p);
    if (st.ok()) st = fetch(mb, mref.size(), &mgot);
    if (st.ok()) st = fetch(fb, fref.size(), &fgot);
    double worst = 0;
    size_t fbad = SIZE_MAX;
    if (st.ok()) {
      for (size_t i = 0; i < mref.size(); ++i) {
        const double e = std::fabs(double(mgot[i]) - mref[i]) / std::max(1e-6, std::fabs(double(mref[i])));
        if (!(e <= worst)) worst = e;
      }
      fbad = FirstNotIdentical(fgot.data(), fref.data(), fref.size());
    }
    char line[256];
    std::snprintf(line, sizeof line, "spatial_mean [%d,%d,%d,%d]: max rel err %.3g (tol 1e-06)%s%s (seed 0x%016llx)", N, C, H, W,
                  worst, st.ok() ? "" : " ", st.ok() ? "" : st.message.c_str(), (unsigned long long)seed);
    t.Record(st.ok() && worst <= 1e-6, line);
    std::snprintf(line, sizeof line, "flip_w [%d,%d,%d,%d]: %s (seed 0x%016llx)", N, C, H, W,
                  !st.ok() ? st.message.c_str() : fbad == SIZE_MAX ? "bit-identical" : "differs", (unsigned long long)seed);
    t.Record(st.ok() && fbad == SIZE_MAX, line);
  }
}

// ---- error paths and memory accounting -----------------------------------------------------------
void CheckErrors(vgg::Backend& be, const CudaArgs& args, Tally& t) {
  // Out of memory: a RuntimeError naming cudaMalloc, then the backend keeps working.
  {
    float* p = nullptr;
    const size_t before = vgg::cuda::DeviceBytesInUse(be);
    const Status st = be.alloc(size_t(1) << 40, &p);  // 4.4 TB
    // Expected: "cudaMalloc(4398.0 GB) failed: cudaErrorMemoryAllocation: out of memory".
    const bool ok = st.code == vgg::Code::kDevice && st.message.find("cudaMalloc(") != std::string::npos &&
                    st.message.find(" failed: cuda") != std::string::npos && p == nullptr &&
                    vgg::cuda::DeviceBytesInUse(be) == before;
    t.Record(ok, "out of memory: alloc(2^40 floats) -> kDevice \"" + st.message + "\"");
    if (p) be.release(p);
    ConvCase c = C3("after out of memory: conv still works", 2, 32, 9, 9, 48);
    const ConvData d = MakeConvData(c, args.threads);
    std::vector<float> y;
    const Status rs = RunConv(be, c, d, &y);
    const Diff df = rs.ok() ? Compare(y.data(), d.ref.data(), y.size()) : Diff{};
    t.Record(rs.ok() && df.nonfinite_bad == 0 && df.rel_l2 <= 1e-2,
             "after out of memory: conv2d " + ShapeStr(c.s) + " rel_l2 " + Fmt("%.3g", df.rel_l2) + (rs.ok() ? "" : " " + rs.message));
  }
  // Missing workspace and foreign packed weights are kInvalidArgument, not a crash.
  {
    const ConvShape s{1, 512, 7, 7, 512, 3, 3, 1, 1};  // split-K at 132 SMs: needs a workspace
    std::vector<float> w(size_t(512) * 512 * 9, 0.01f);
    std::unique_ptr<vgg::PackedConv> pc;
    Status st = be.pack_conv(s, w.data(), nullptr, &pc);
    DevBuf xb(be), yb(be);
    if (st.ok()) st = xb.Alloc(size_t(512) * 49);
    if (st.ok()) st = yb.Alloc(size_t(512) * 49);
    const size_t nws = be.conv_workspace(s);
    Status cs = st.ok() ? be.conv2d(s, *pc, true, xb.p, yb.p, nullptr) : st;
    t.Record(nws == 0 ? cs.ok() : cs.code == vgg::Code::kInvalidArgument,
             "conv2d without its workspace (" + std::to_string(nws) + " floats needed) -> " +
                 (cs.ok() ? std::string("ok") : cs.message));
    auto ref = vgg::MakeReferenceBackend();
    std::unique_ptr<vgg::PackedConv> foreign;
    Status fs = ref->pack_conv(s, w.data(), nullptr, &foreign);
    if (fs.ok()) fs = be.conv2d(s, *foreign, true, xb.p, yb.p, nullptr);
    t.Record(fs.code == vgg::Code::kInvalidArgument, "conv2d with weights packed by the reference backend -> " + fs.message);
    be.synchronize();
  }
  // A device index that does not exist.
  {
    vgg::CudaOptions o;
    o.device = 99;
    std::unique_ptr<vgg::Backend> b2;
    const Status st = vgg::MakeCudaBackend(o, &b2);
    t.Record(st.code == vgg::Code::kInvalidArgument, "MakeCudaBackend(device 99) -> " + st.message);
  }
}

// ---- whole networks -----------------------------------------------------------------------------------
int CheckNetworks(const CudaArgs& args, Tally& t) {
  std::unique_ptr<vgg::Backend> cpu_be;
  vgg::CpuOptions co;
  co.threads = args.threads;
  Status st = vgg::MakeCpuBackend(co, &cpu_be);
  if (!st.ok()) {
    t.Record(false, "cpu backend: " + st.message);
    return 1;
  }
  std::shared_ptr<vgg::Backend> cpu(std::move(cpu_be));
  std::printf("cpu backend for the network comparisons: %s\n", cpu->kernel_family().c_str());
  struct Run { std::string model; std::vector<vgg::Shape4> ins; bool all_precisions; };
  const Run runs[] = {
      {"vgg16", {{1, 3, 224, 224}}, true},
      {"vgg16", {{2, 3, 224, 224}, {1, 3, 256, 288}}, false},  // batch 2 FC GEMV; dense evaluation 2x3 map
      {"vgg11_lrn", {{1, 3, 224, 224}}, false},                // LRN inside a network
  };
  for (const Run& r : runs) {
    const std::vector<vgg::LayerSpec> layers = VggLayers(r.model);
    const auto t0 = std::chrono::steady_clock::now();
    const NetWeights w = HeWeights(layers, 7);
    std::unique_ptr<vgg::Network> cnet;
    st = vgg::Network::Create(cpu, layers, w.wp(), w.bp(), &cnet);
    if (!st.ok()) { t.Record(false, r.model + " on cpu: " + st.message); continue; }
    for (Precision p : args.precisions) {
      if (!r.all_precisions && p != Precision::kFp32) continue;
      std::unique_ptr<vgg::Backend> gb;
      st = MakeBackendUnderTest(args, p, &gb);
      if (!st.ok()) { t.Record(false, "MakeCudaBackend: " + st.message); continue; }
      std::shared_ptr<vgg::Backend> gpu(std::move(gb));
      const size_t mem0 = vgg::cuda::DeviceBytesInUse(*gpu);
      {
        std::unique_ptr<vgg::Network> gnet;
        st = vgg::Network::Create(gpu, layers, w.wp(), w.bp(), &gnet);
        if (!st.ok()) { t.Record(false, r.model + " on cuda " + vgg::cuda::PrecisionName(p) + ": " + st.message); continue; }
        for (const vgg::Shape4& in : r.ins) {
          vgg::Shape4 out;
          st = gnet->OutputShape(in, &out);
          std::vector<float> x(in.size()), yc(out.size()), yg(out.size(), kNaN);
          FillUniform(x.data(), x.size(), 99 + uint64_t(in.n) * 1000 + uint64_t(in.w), -2.f, 2.f);
          const auto c0 = std::chrono::steady_clock::now();
          if (st.ok()) st = cnet->Forward(in, x.data(), yc.data());
          const auto c1 = std::chrono::steady_clock::now();
          if (st.ok()) st = gnet->Forward(in, x.data(), yg.data());
          if (st.ok()) st = gnet->Forward(in, x.data(), yg.data());  // the planned (steady-state) run
          const auto c2 = std::chrono::steady_clock::now();
          const Diff d = st.ok() ? Compare(yg.data(), yc.data(), yc.size()) : Diff{};
          double rms = 0;  // all-zero scores would compare equal whatever the kernels do
          for (float v : yc) rms += double(v) * v;
          rms = std::sqrt(rms / double(std::max<size_t>(yc.size(), 1)));
          char line[320];
          std::snprintf(line, sizeof line,
                        "network %s %s %s -> %s vs cpu backend: rel_l2 %.3g (tol %.0e) max|diff| %.3g, non-finite %zu, "
                        "rms of scores %.3g (cpu %.0f ms, cuda 2 runs %.0f ms)%s%s",
                        r.model.c_str(), vgg::cuda::PrecisionName(p), Shape4Str(in).c_str(), Shape4Str(out).c_str(),
                        d.rel_l2, NetTol(p), d.max_abs, d.nonfinite_bad, rms,
                        std::chrono::duration<double, std::milli>(c1 - c0).count(),
                        std::chrono::duration<double, std::milli>(c2 - c1).count(), st.ok() ? "" : ": ",
                        st.ok() ? "" : st.message.c_str());
          t.Record(st.ok() && d.nonfinite_bad == 0 && d.rel_l2 <= NetTol(p) && rms > 0 && std::isfinite(rms), line);

          // The device-resident executor (used by cuda-bench) gives bit-identical results.
          if (st.ok() && (p == Precision::kTf32 || args.self_test) && r.model == "vgg16") {
            std::unique_ptr<DeviceModel> dm;
            std::vector<float> yd(out.size(), kNaN);
            Status ds = DeviceModel::Create(gpu.get(), layers, w, &dm);
            if (ds.ok()) ds = dm->Plan(in);
            if (ds.ok()) ds = gpu->upload(dm->input(), x.data(), x.size());
            if (ds.ok()) ds = dm->Run();
            if (ds.ok()) ds = gpu->download(yd.data(), dm->output(), yd.size());
            if (ds.ok()) ds = gpu->synchronize();
            const size_t bad = ds.ok() ? FirstNotIdentical(yd.data(), yg.data(), yg.size()) : 0;
            t.Record(ds.ok() && bad == SIZE_MAX, "DeviceModel (cuda-bench's executor) equals vgg::Network bit for bit, " +
                                                     r.model + " " + vgg::cuda::PrecisionName(p) + " " + Shape4Str(in) + (ds.ok() ? "" : ": " + ds.message));
          }
        }
      }
      const size_t mem1 = vgg::cuda::DeviceBytesInUse(*gpu);
      t.Record(mem1 == mem0, "device memory returned after the network is destroyed (" + std::to_string(mem0) +
                                 " bytes before, " + std::to_string(mem1) + " after) " + r.model + " " +
                                 vgg::cuda::PrecisionName(p));
    }
    std::printf("  (%s: %.1f s including weights)\n", r.model.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return 0;
}

}  // namespace

int CudaCheck(const CudaArgs& args) {
  if (args.dry) return DryRun(args);
  if (args.self_test) {
    std::printf("cuda-check --self-test: the suites on the cpu backend (fp32 tolerances), no CUDA\n");
  } else {
  const vgg::CudaInfo info = vgg::GetCudaInfo();
  std::printf("cuda-check: CUDA %s, runtime %d, %zu device(s)%s%s\n", info.compiled ? "compiled in" : "not compiled in",
              info.runtime_version, info.devices.size(), info.reason.empty() ? "" : ": ", info.reason.c_str());
  if (info.devices.empty()) {
    std::printf("FAIL no CUDA device: %s\n", info.reason.c_str());
    return 1;
  }
  for (const vgg::CudaDevice& d : info.devices)
    std::printf("  cuda:%d %s, cc %d.%d, %.1f GB\n", d.index, d.name.c_str(), d.cc_major, d.cc_minor,
                double(d.total_memory_bytes) / 1e9);
  }
  Tally t;
  const auto t0 = std::chrono::steady_clock::now();

  // References once per case, shared by every precision.
  const std::vector<ConvCase> cases = ConvCases(args.quick);
  std::vector<ConvData> data;
  data.reserve(cases.size());
  for (const ConvCase& c : cases) data.push_back(MakeConvData(c, args.threads));
  std::printf("references: %zu conv cases in %.1f s\n", cases.size(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

  for (size_t pi = 0; pi < args.precisions.size(); ++pi) {
    const Precision p = args.precisions[pi];
    const char* pn = vgg::cuda::PrecisionName(p);
    std::unique_ptr<vgg::Backend> be;
    const Status st = MakeBackendUnderTest(args, p, &be);
    if (!st.ok()) {
      t.Record(false, std::string("MakeCudaBackend(") + pn + "): " + st.message);
      continue;
    }
    std::printf("\n== %s: %s\n", pn, be->kernel_family().c_str());
    for (size_t i = 0; i < cases.size(); ++i) {
      const ConvCase& c = cases[i];
      std::vector<float> y;
      const Status rs = RunConv(*be, c, data[i], &y);
      const Diff d = rs.ok() ? Compare(y.data(), data[i].ref.data(), y.size()) : Diff{};
      const double tol = ConvTol(p);
      std::string line = CaseLine(pn, c, data[i].seed) + "  rel_l2 " + Fmt("%.3g", d.rel_l2) + " (tol " +
                         Fmt("%.0e", tol) + ") max|diff| " + Fmt("%.3g", d.max_abs) + "  [" +
                         vgg::cuda::ConvKernelName(*be, c.s) + "]";
      if (!rs.ok()) line += "  error: " + rs.message;
      if (d.nonfinite_bad)
        line += "  " + std::to_string(d.nonfinite_bad) + " non-finite mismatches, first at " +
                std::to_string(d.first_bad) + ": " + Fmt("%g", y[d.first_bad]) + " vs reference " +
                Fmt("%g", data[i].ref[d.first_bad]);
      t.Record(rs.ok() && d.nonfinite_bad == 0 && d.rel_l2 <= tol, line);
    }
    if (pi == 0) {
      std::printf("\n== other ops (fp32 in every precision)\n");
      CheckOps(*be, t);
      if (!args.self_test && !args.quick) {  // --quick runs under compute-sanitizer: no intentional API errors
        std::printf("\n== error paths\n");
        CheckErrors(*be, args, t);
      }
    }
    std::printf("  device memory held by the backend at the end: %zu bytes\n", vgg::cuda::DeviceBytesInUse(*be));
  }
  if (!args.quick && !args.no_network) {
    std::printf("\n== whole networks vs the cpu backend\n");
    CheckNetworks(args, t);
  }
  std::printf("\ncuda-check: %d passed, %d failed (%.1f s)\n", t.pass, t.fail,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  for (const std::string& f : t.failures) std::printf("  FAILED: %s\n", f.c_str());
  return t.fail ? 1 : 0;
}

}  // namespace vggh
