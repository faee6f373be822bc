#include "data.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <thread>

#include "core/ref/reference.h"

namespace vggh {

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

uint64_t SeedOf(const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : name) h = (h ^ ch) * 1099511628211ull;
  return h;
}

ConvData MakeConvData(const ConvCase& c, int threads) {
  const vgg::ConvShape& s = c.s;
  ConvData d;
  d.seed = SeedOf(c.name);
  const size_t kdim = size_t(s.C) * s.R * s.S;
  d.x.resize(size_t(s.N) * s.C * s.H * s.W);
  d.w.resize(size_t(s.K) * kdim);
  FillUniform(d.x.data(), d.x.size(), d.seed, -1.f, 1.f);
  const float a = float(std::sqrt(3.0 / double(kdim)));
  FillUniform(d.w.data(), d.w.size(), d.seed + 1, -a, a);
  if (c.bias) {
    d.b.resize(size_t(s.K));
    FillUniform(d.b.data(), d.b.size(), d.seed + 2, -0.5f, 0.5f);
  }
  if (c.nonfinite) {
    d.x[5 % d.x.size()] = std::numeric_limits<float>::quiet_NaN();
    d.x[d.x.size() / 2 + 3 < d.x.size() ? d.x.size() / 2 + 3 : 0] = std::numeric_limits<float>::infinity();
    d.x[d.x.size() - 1] = -std::numeric_limits<float>::infinity();
  }
  d.ref.resize(size_t(s.N) * s.K * s.P() * s.Q());
  RefConvParallel(s, d.x.data(), d.w.data(), c.bias ? d.b.data() : nullptr, c.relu, d.ref.data(), threads);
  return d;
}

std::vector<float> PoolInput(const PoolCase& c, uint64_t seed) {
  const vgg::PoolShape& s = c.s;
  const float kNaN = std::numeric_limits<float>::quiet_NaN(), kInf = std::numeric_limits<float>::infinity();
  std::vector<float> x(size_t(s.N) * s.C * s.H * s.W), u(x.size()), pick(x.size());
  FillUniform(x.data(), x.size(), seed, -1.f, 1.f);
  FillUniform(u.data(), u.size(), seed + 1, 0.f, 1.f);
  FillUniform(pick.data(), pick.size(), seed + 2, 0.f, 5.f);
  const float specials[] = {kNaN, -0.f, 0.f, -kInf, kInf};
  for (size_t i = 0; i < x.size(); ++i) {
    if (u[i] < 0.05f) x[i] = specials[std::min(4, int(pick[i]))];
    else if (u[i] < 0.1f) x[i] = std::round(x[i] * 2.f);
  }
  if (s.H >= 2 && s.W >= 2) x[0] = x[1] = x[size_t(s.W)] = x[size_t(s.W) + 1] = -kInf;
  if (s.H >= 2 && s.W > 3 && s.window == 2) {
    x[2] = -0.f;
    x[3] = 0.f;
    x[size_t(s.W) + 2] = -0.f;
    x[size_t(s.W) + 3] = -0.f;
  }
  return x;
}

void RefConvParallel(const vgg::ConvShape& s, const float* x, const float* w, const float* b, bool relu, float* y,
                     int threads) {
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  // Tasks: (image, block of output channels), each a batch-1 conv on contiguous slices of w, b and y.
  const int kb = std::max(1, std::min(s.K, (s.K + 15) / 16));  // channels per task
  struct Task {
    int n, k0, k1;
  };
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

}  // namespace vggh
