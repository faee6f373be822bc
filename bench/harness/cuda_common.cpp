// Shared pieces of the CUDA harness (cuda_harness.h): seeded data, VGG layer lists and weights, the
// device-resident executor, comparisons, and a threaded reference conv.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <thread>

#include "core/ref/reference.h"
#include "cuda_harness.h"

namespace vggh {

using vgg::LayerSpec;
using vgg::Shape4;
using vgg::Status;

void FillUniform(float* v, size_t n, uint64_t seed, float lo, float hi) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  const double span = double(hi) - double(lo);
  for (size_t i = 0; i < n; ++i) {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    v[i] = float(double(lo) + span * double(z >> 11) * (1.0 / 9007199254740992.0));
  }
}

std::vector<LayerSpec> VggLayers(const std::string& name) {
  std::vector<std::vector<int>> stages;
  bool lrn = false;
  if (name == "vgg11" || name == "vgg11_lrn") {
    stages = {{64}, {128}, {256, 256}, {512, 512}, {512, 512}};
    lrn = name == "vgg11_lrn";
  } else if (name == "vgg16") {
    stages = {{64, 64}, {128, 128}, {256, 256, 256}, {512, 512, 512}, {512, 512, 512}};
  } else if (name == "vgg19") {
    stages = {{64, 64}, {128, 128}, {256, 256, 256, 256}, {512, 512, 512, 512}, {512, 512, 512, 512}};
  } else {
    return {};
  }
  std::vector<LayerSpec> out;
  int c = 3;
  auto conv = [&](int k, int kernel, int pad, bool relu) {
    LayerSpec l;
    l.kind = LayerSpec::Kind::kConv;
    l.in_channels = c;
    l.out_channels = k;
    l.kernel = kernel;
    l.stride = 1;
    l.pad = pad;
    l.relu = relu;
    out.push_back(l);
    c = k;
  };
  for (size_t si = 0; si < stages.size(); ++si) {
    for (size_t li = 0; li < stages[si].size(); ++li) {
      conv(stages[si][li], 3, 1, true);
      if (lrn && si == 0 && li == 0) {
        LayerSpec l;
        l.kind = LayerSpec::Kind::kLrn;  // A-LRN: LRN after conv1_1 (paper Table 1), AlexNet constants
        out.push_back(l);
      }
    }
    LayerSpec p;
    p.kind = LayerSpec::Kind::kMaxPool;
    out.push_back(p);
  }
  conv(4096, 7, 0, true);   // FC6 as a 7×7 valid conv (paper §3.2)
  conv(4096, 1, 0, true);   // FC7
  conv(1000, 1, 0, false);  // FC8: class scores
  return out;
}

std::vector<const float*> NetWeights::wp() const {
  std::vector<const float*> r;
  for (const auto& v : w) r.push_back(v.data());
  return r;
}
std::vector<const float*> NetWeights::bp() const {
  std::vector<const float*> r;
  for (const auto& v : b) r.push_back(v.data());
  return r;
}

NetWeights HeWeights(const std::vector<LayerSpec>& layers, uint64_t seed) {
  NetWeights nw;
  uint64_t i = 0;
  for (const LayerSpec& l : layers) {
    if (l.kind != LayerSpec::Kind::kConv) continue;
    const size_t fan_in = size_t(l.in_channels) * l.kernel * l.kernel;
    nw.w.emplace_back(size_t(l.out_channels) * fan_in);
    nw.b.emplace_back(size_t(l.out_channels));
    const float a = float(std::sqrt(6.0 / double(fan_in)));
    FillUniform(nw.w.back().data(), nw.w.back().size(), seed * 1000 + 2 * i, -a, a);
    FillUniform(nw.b.back().data(), nw.b.back().size(), seed * 1000 + 2 * i + 1, -0.01f, 0.01f);
    ++i;
  }
  return nw;
}

int64_t NetMacs(const std::vector<LayerSpec>& layers, const Shape4& in) {
  Shape4 s = in;
  int64_t macs = 0;
  for (const LayerSpec& l : layers) {
    if (l.kind == LayerSpec::Kind::kConv) {
      const vgg::ConvShape cs{s.n, s.c, s.h, s.w, l.out_channels, l.kernel, l.kernel, l.stride, l.pad};
      macs += cs.macs();
      s = {s.n, l.out_channels, cs.P(), cs.Q()};
    } else if (l.kind == LayerSpec::Kind::kMaxPool) {
      s = {s.n, s.c, (s.h - l.window) / l.pool_stride + 1, (s.w - l.window) / l.pool_stride + 1};
    }
  }
  return macs;
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

// ---- DeviceModel ------------------------------------------------------------------------------------
Status DeviceModel::Create(vgg::Backend* be, std::vector<LayerSpec> layers, const NetWeights& w,
                           std::unique_ptr<DeviceModel>* out) {
  std::unique_ptr<DeviceModel> m(new DeviceModel());
  m->be_ = be;
  m->layers_ = std::move(layers);
  size_t ci = 0;
  for (const LayerSpec& l : m->layers_) {
    m->conv_index_.push_back(ci);
    if (l.kind != LayerSpec::Kind::kConv) continue;
    if (ci >= w.w.size()) return vgg::InvalidArgument("DeviceModel: weights missing");
    const vgg::ConvShape s{1, l.in_channels, 1, 1, l.out_channels, l.kernel, l.kernel, l.stride, l.pad};
    std::unique_ptr<vgg::PackedConv> pc;
    VGG_RETURN_IF_ERROR(be->pack_conv(s, w.w[ci].data(), w.b[ci].data(), &pc));
    m->packed_.push_back(std::move(pc));
    ++ci;
  }
  *out = std::move(m);
  return {};
}

DeviceModel::~DeviceModel() { Free(); }

void DeviceModel::Free() {
  for (float*& p : act_) {
    if (p) be_->release(p);
    p = nullptr;
  }
  if (x_) be_->release(x_);
  if (ws_) be_->release(ws_);
  x_ = ws_ = nullptr;
  out_ = nullptr;
}

Status DeviceModel::Plan(const Shape4& in) {
  if (x_ && in == in_) return {};
  Free();
  in_ = in;
  shapes_.assign(1, in);
  size_t max_act = 1, max_ws = 0;
  Shape4 s = in;
  for (const LayerSpec& l : layers_) {
    if (l.kind == LayerSpec::Kind::kConv) {
      const vgg::ConvShape cs{s.n, s.c, s.h, s.w, l.out_channels, l.kernel, l.kernel, l.stride, l.pad};
      if (cs.P() < 1 || cs.Q() < 1) return vgg::InvalidArgument("DeviceModel: input too small");
      max_ws = std::max(max_ws, be_->conv_workspace(cs));
      s = {s.n, l.out_channels, cs.P(), cs.Q()};
    } else if (l.kind == LayerSpec::Kind::kMaxPool) {
      s = {s.n, s.c, (s.h - l.window) / l.pool_stride + 1, (s.w - l.window) / l.pool_stride + 1};
    }
    shapes_.push_back(s);
    max_act = std::max(max_act, s.size());
  }
  VGG_RETURN_IF_ERROR(be_->alloc(in.size(), &x_));
  for (float*& a : act_) VGG_RETURN_IF_ERROR(be_->alloc(max_act, &a));
  if (max_ws) VGG_RETURN_IF_ERROR(be_->alloc(max_ws, &ws_));
  out_ = layers_.empty() ? x_ : act_[(layers_.size() - 1) % 2];
  return {};
}

// Layer i reads x_ (i = 0) or act_[(i − 1) % 2] and writes act_[i % 2].
Status DeviceModel::RunLayer(size_t i) {
  const LayerSpec& l = layers_[i];
  const Shape4& s = shapes_[i];
  const float* x = i == 0 ? x_ : act_[(i - 1) % 2];
  float* y = act_[i % 2];
  switch (l.kind) {
    case LayerSpec::Kind::kConv: {
      const vgg::ConvShape cs{s.n, s.c, s.h, s.w, l.out_channels, l.kernel, l.kernel, l.stride, l.pad};
      return be_->conv2d(cs, *packed_[conv_index_[i]], l.relu, x, y, ws_);
    }
    case LayerSpec::Kind::kMaxPool:
      return be_->maxpool2d({s.n, s.c, s.h, s.w, l.window, l.pool_stride}, x, y);
    case LayerSpec::Kind::kLrn:
      return be_->lrn(s.n, s.c, s.h, s.w, l.lrn, x, y);
  }
  return {};
}

Status DeviceModel::Run() {
  if (!x_) return vgg::InvalidArgument("DeviceModel::Run before Plan");
  for (size_t i = 0; i < layers_.size(); ++i) VGG_RETURN_IF_ERROR(RunLayer(i));
  return {};
}

// ---- comparisons ------------------------------------------------------------------------------------
Diff Compare(const float* got, const float* want, size_t n) {
  Diff d;
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    const float g = got[i], r = want[i];
    if (!std::isfinite(r)) {
      const bool same = (std::isnan(r) && std::isnan(g)) || g == r;
      if (!same) {
        if (d.first_bad == SIZE_MAX) d.first_bad = i;
        ++d.nonfinite_bad;
      }
      continue;
    }
    if (!std::isfinite(g)) {
      if (d.first_bad == SIZE_MAX) d.first_bad = i;
      ++d.nonfinite_bad;
      continue;
    }
    const double e = double(g) - double(r);
    num += e * e;
    den += double(r) * double(r);
    d.max_abs = std::max(d.max_abs, std::fabs(e));
  }
  d.rel_l2 = den > 0 ? std::sqrt(num / den) : (num > 0 ? INFINITY : 0.0);
  return d;
}

size_t FirstNotIdentical(const float* got, const float* want, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(got[i]) && std::isnan(want[i])) continue;
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) return i;
  }
  return SIZE_MAX;
}

void RefConvParallel(const vgg::ConvShape& s, const float* x, const float* w, const float* b, bool relu, float* y,
                     int threads) {
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  // Tasks: (image, block of output channels), each a batch-1 conv on contiguous slices of w, b and y.
  const int kb = std::max(1, std::min(s.K, (s.K + 15) / 16));  // channels per task
  struct Task { int n, k0, k1; };
  std::vector<Task> tasks;
  for (int n = 0; n < s.N; ++n)
    for (int k0 = 0; k0 < s.K; k0 += kb) tasks.push_back({n, k0, std::min(s.K, k0 + kb)});
  const size_t PQ = size_t(s.P()) * s.Q(), CHW = size_t(s.C) * s.H * s.W, CRS = size_t(s.C) * s.R * s.S;
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t t; (t = next.fetch_add(1)) < tasks.size();) {
      const Task& tk = tasks[t];
      vgg::ConvShape one = s;
      one.N = 1;
      one.K = tk.k1 - tk.k0;
      vgg::ref::conv2d(one, x + size_t(tk.n) * CHW, w + size_t(tk.k0) * CRS, b ? b + tk.k0 : nullptr, relu,
                       y + (size_t(tk.n) * s.K + tk.k0) * PQ);
    }
  };
  std::vector<std::thread> pool;
  const int nt = std::min<int>(threads, int(tasks.size()));
  for (int i = 1; i < nt; ++i) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

std::string ShapeStr(const vgg::ConvShape& s) {
  char b[160];
  std::snprintf(b, sizeof b, "N%d C%d %dx%d -> K%d %dx%d s%d p%d (cols %lld, C·R·S %d)", s.N, s.C, s.H, s.W, s.K, s.R,
                s.S, s.stride, s.pad, (long long)s.N * s.P() * s.Q(), s.C * s.R * s.S);
  return b;
}

std::string Shape4Str(const Shape4& s) {
  char b[96];
  std::snprintf(b, sizeof b, "[%d,%d,%d,%d]", s.n, s.c, s.h, s.w);
  return b;
}

}  // namespace vggh
