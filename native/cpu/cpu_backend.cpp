// The optimised CPU backend: conv2d as a cache-blocked GEMM with the im2col fused into the packing of
// B (cpu_kernels.h), a GEMV path for single-column FC layers over the same packed weights, ISA family
// chosen once (scalar / avx2+fma / avx512), and a persistent thread pool shared by all ops.
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>

#include "core/backend.h"
#include "cpu/cpu_kernels.h"
#include "cpu/thread_pool.h"

namespace vgg {
namespace {

using cpu::ConvGemmArgs;
using cpu::GemmTask;
using cpu::IsaKernels;

constexpr size_t kAlign = 64;  // bytes; alloc() and every packed buffer
// Winograd tile for eligible convs unless VGGNET_WINOGRAD says otherwise. F(4×4) measured 8-18% faster
// end to end than F(2×2) on vgg16 (bench/RESULTS.md) at the cost of 36/9 (not 16/9) of those layers' weights.
constexpr int kDefaultWinograd = 4;
static const double kWinoBudget = 393216;  // floats: (m+2)² · tiles · (C + rows) per thread, ~1.5 MB

// Buffers of 1 MiB and more are mapped straight from the kernel and unmapped on release, so dispose()
// returns weights and activations to the system: glibc keeps freed heap blocks below its (adaptive, up
// to 32 MB) mmap threshold, and RSS crept up by tens of MB per load/dispose cycle. A 64-byte header in
// front of every buffer records how it was obtained.
constexpr size_t kMapThreshold = size_t(1) << 20;
struct BufHeader {
  size_t mapped_bytes;  // 0: from aligned_alloc
};
static_assert(sizeof(BufHeader) <= kAlign, "header must fit the alignment pad");

float* AlignedFloats(size_t floats) {
  if (floats > (SIZE_MAX - 2 * kAlign) / sizeof(float)) return nullptr;
  const size_t bytes = (std::max<size_t>(floats, 1) * sizeof(float) + kAlign - 1) / kAlign * kAlign + kAlign;
  char* base = nullptr;
  size_t mapped = 0;
  if (bytes >= kMapThreshold) {
    void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    base = static_cast<char*>(m);
    mapped = bytes;
  } else {
    base = static_cast<char*>(std::aligned_alloc(kAlign, bytes));
    if (!base) return nullptr;
  }
  reinterpret_cast<BufHeader*>(base)->mapped_bytes = mapped;
  return reinterpret_cast<float*>(base + kAlign);
}

void FreeFloats(float* p) {
  if (!p) return;
  char* base = reinterpret_cast<char*>(p) - kAlign;
  const size_t mapped = reinterpret_cast<BufHeader*>(base)->mapped_bytes;
  if (mapped) munmap(base, mapped);
  else std::free(base);
}

// Task t of a tm × tn grid over `panels` row panels and `units` column units of `unit` columns each
// (clipped to `cols`): near-equal shares, so every task of a row or column of the grid costs the same.
GemmTask GridTask(int t, int tm, int tn, int panels, int units, int unit, int cols, float* ws) {
  const int ti = t / tn, tj = t % tn;
  GemmTask task;
  task.p0 = int(int64_t(panels) * ti / tm);
  task.p1 = int(int64_t(panels) * (ti + 1) / tm);
  task.c0 = std::min(cols, int(int64_t(units) * tj / tn) * unit);
  task.c1 = std::min(cols, int(int64_t(units) * (tj + 1) / tn) * unit);
  task.ws = ws;
  return task;
}

struct FreeDeleter {
  void operator()(float* p) const { FreeFloats(p); }
};
using AlignedBuf = std::unique_ptr<float, FreeDeleter>;

// Weights of one conv layer in the GEMM panel layout of one kernel family (cpu_kernels.h).
class CpuPackedConv final : public PackedConv {
 public:
  int K = 0, C = 0, R = 0, S = 0;
  int Mpad = 0, Kdim = 0;
  const IsaKernels* kernels = nullptr;  // the layout (MR, KC) belongs to this family
  int winograd = 0;                     // 2 or 4: a holds the (m+2)² transformed F(m×m, 3×3) matrices
  AlignedBuf a;                         // Kdim × Mpad floats (Winograd: (m+2)² · C × Mpad)
  AlignedBuf bias;                      // Mpad floats, zeros where the layer has no bias
  size_t bytes() const override {
    const size_t rows = winograd ? size_t(winograd + 2) * (winograd + 2) * C : size_t(Kdim);
    return (rows + 1) * Mpad * sizeof(float);
  }
};

// How one GEMM is split over threads: tm row groups × tn column groups (tm·tn ≤ threads).
struct Grid {
  int tm = 1, tn = 1;
};

// How one Winograd conv is split: tm row groups × tn blocks of tiles, and the per-thread buffer sizes.
struct WinoPlan {
  int tm = 1, tn = 1;
  int tiles = 0, ntp = 0, rows_cap = 0;
};

std::string CpuidSummary(const CpuInfo& ci) {
  std::string s = "cpuid reports";
  s += ci.avx512 ? " avx512f+bw+vl+dq" : " no avx512f+bw+vl+dq";
  s += ci.avx2 ? ", avx2" : ", no avx2";
  s += ci.fma ? ", fma" : ", no fma";
  return s;
}

class CpuBackend final : public Backend {
 public:
  CpuBackend(const IsaKernels& k, int threads, std::string why, int winograd)
      : k_(k), pool_(threads), why_(std::move(why)), winograd_(winograd) {}

  std::string name() const override { return "cpu"; }
  std::string kernel_family() const override {
    std::string isa = k_.isa == CpuIsa::kAvx512 ? "avx512" : k_.isa == CpuIsa::kAvx2 ? "avx2" : "scalar";
    return isa + " (" + why_ + "): " + k_.gemm_name + ", " + k_.gemv_name + ", " + k_.maxpool_name + ", " +
           WinogradReport() + ", " +
           std::to_string(pool_.threads()) + (pool_.threads() == 1 ? " thread" : " threads");
  }

  Status alloc(size_t floats, float** out) override {
    *out = AlignedFloats(floats);
    return *out ? Status::Ok()
                : RuntimeError("cpu: out of host memory allocating " + std::to_string(floats) + " floats");
  }
  void release(float* p) override { FreeFloats(p); }
  Status upload(float* d, const float* s, size_t n) override { std::memcpy(d, s, n * sizeof(float)); return {}; }
  Status download(float* d, const float* s, size_t n) override { std::memcpy(d, s, n * sizeof(float)); return {}; }
  Status synchronize() override { return {}; }

  Status pack_conv(const ConvShape& s, const float* w, const float* b, std::unique_ptr<PackedConv>* out) override {
    if (s.K < 1 || s.C < 1 || s.R < 1 || s.S < 1)
      return InvalidArgument("cpu.pack_conv: K, C, R, S must be >= 1");
    const int64_t kdim = int64_t(s.C) * s.R * s.S;
    if (kdim > (int64_t(1) << 30) || s.K > (1 << 24)) return Unsupported("cpu.pack_conv: layer too large");
    auto pc = std::make_unique<CpuPackedConv>();
    pc->K = s.K; pc->C = s.C; pc->R = s.R; pc->S = s.S;
    pc->kernels = &k_;
    const int MR = k_.mr, KC = k_.kc;
    pc->Mpad = (s.K + MR - 1) / MR * MR;
    if (const int m = WinogradTile(s)) return PackWinograd(s, w, b, m, std::move(pc), out);
    pc->Kdim = int(kdim);
    pc->a.reset(AlignedFloats(size_t(kdim) * pc->Mpad));
    pc->bias.reset(AlignedFloats(size_t(pc->Mpad)));
    if (!pc->a || !pc->bias)
      return RuntimeError("cpu.pack_conv: out of host memory for " + std::to_string(kdim * pc->Mpad) + " floats");
    const int Kd = pc->Kdim, Mpad = pc->Mpad, panels = Mpad / MR;
    float* dst = pc->a.get();
    // Panels of one KC block are independent: pack them in parallel (FC6 is 103M floats).
    for (int p0 = 0; p0 < Kd; p0 += KC) {
      const int kc = std::min(KC, Kd - p0);
      float* block = dst + size_t(p0) * Mpad;
      pool_.Run(pool_.threads(), [&](int t) {
        const int ia = int(int64_t(panels) * t / pool_.threads()), ib = int(int64_t(panels) * (t + 1) / pool_.threads());
        for (int ip = ia; ip < ib; ++ip) {
          float* panel = block + size_t(ip) * MR * kc;
          for (int i = 0; i < MR; ++i) {
            const int m = ip * MR + i;
            if (m < s.K) {
              const float* wr = w + size_t(m) * Kd + p0;
              for (int kk = 0; kk < kc; ++kk) panel[size_t(kk) * MR + i] = wr[kk];
            } else {
              for (int kk = 0; kk < kc; ++kk) panel[size_t(kk) * MR + i] = 0.f;
            }
          }
        }
      });
    }
    for (int m = 0; m < Mpad; ++m) pc->bias.get()[m] = (b && m < s.K) ? b[m] : 0.f;
    *out = std::move(pc);
    return {};
  }

  size_t conv_workspace(const ConvShape& s) const override {
    if (const int m = WinogradTile(s)) {
      const WinoPlan wp = PlanWinograd(s, m);
      return size_t(pool_.threads()) * cpu::WinogradWorkspacePerThread(s.C, wp.ntp, wp.rows_cap, (m + 2) * (m + 2));
    }
    const int cols = s.N * s.P() * s.Q();
    const int kdim = s.C * s.R * s.S;
    if (cols == 1) return FcShaped(s) ? 0 : (size_t(kdim) + 15) / 16 * 16;
    return size_t(pool_.threads()) * cpu::GemmWorkspacePerThread(k_, kdim, cols);
  }

  Status conv2d(const ConvShape& s, const PackedConv& w, bool relu, const float* x, float* y,
                float* workspace) override {
    const auto& pc = static_cast<const CpuPackedConv&>(w);
    if (pc.kernels != &k_) return InvalidArgument("cpu.conv2d: weights were packed by another backend");
    if (pc.K != s.K || pc.C != s.C || pc.R != s.R || pc.S != s.S)
      return InvalidArgument("cpu.conv2d: shape (K,C,R,S) differs from the packed weights");
    const int P = s.P(), Q = s.Q();
    if (P < 1 || Q < 1 || s.N < 1) return InvalidArgument("cpu.conv2d: empty output");
    const int64_t cols64 = int64_t(s.N) * P * Q;
    if (cols64 > (int64_t(1) << 30)) return Unsupported("cpu.conv2d: too many output columns");
    ConvGemmArgs g;
    g.s = s;
    g.M = s.K;
    g.Mpad = pc.Mpad;
    g.Kdim = pc.Kdim;
    g.cols = int(cols64);
    g.PQ = P * Q;
    g.a = pc.a.get();
    g.bias = pc.bias.get();
    g.relu = relu;
    g.x = x;
    g.y = y;
    const size_t need = conv_workspace(s);
    if (need && !workspace) return InvalidArgument("cpu.conv2d: workspace of " + std::to_string(need) + " floats missing");
    if (pc.winograd != WinogradTile(s)) return InvalidArgument("cpu.conv2d: weights were packed for another algorithm");
    if (const int m = pc.winograd) {
      const WinoPlan wp = PlanWinograd(s, m);
      cpu::WinogradArgs wa;
      wa.s = s;
      wa.M = s.K;
      wa.Mpad = pc.Mpad;
      wa.tiles = wp.tiles;
      wa.ntp = wp.ntp;
      wa.rows_cap = wp.rows_cap;
      wa.a = pc.a.get();
      wa.bias = pc.bias.get();
      wa.relu = relu;
      wa.x = x;
      wa.y = y;
      const size_t per_thread = cpu::WinogradWorkspacePerThread(s.C, wp.ntp, wp.rows_cap, (m + 2) * (m + 2));
      auto* kernel = m == 4 ? k_.conv_winograd4 : k_.conv_winograd;
      const int panels = pc.Mpad / k_.mr;
      const int units = (wp.tiles + k_.vl - 1) / k_.vl;
      pool_.Run(wp.tm * wp.tn, [&](int t, int thread) {
        const GemmTask task = GridTask(t, wp.tm, wp.tn, panels, units, k_.vl, wp.tiles, workspace + size_t(thread) * per_thread);
        if (task.p0 < task.p1 && task.c0 < task.c1) kernel(wa, task);
      });
      return {};
    }

    if (g.cols == 1) {
      // GEMV: one output column (batch-1 FC layers). The column of im2col is x itself when the kernel
      // covers the whole unpadded input; otherwise it is gathered into the workspace.
      const float* bcol = x;
      if (!FcShaped(s)) {
        Im2colColumn(s, x, workspace);
        bcol = workspace;
      }
      // Memory-bound: chunks of panels claimed dynamically, so a thread the host slows down does less.
      const int panels = g.Mpad / k_.mr;
      const int T = pool_.threads();
      const int chunks = T == 1 ? 1 : std::min(panels, 8 * T);
      pool_.Run(chunks, [&](int t) {
        k_.conv_gemv(g, int(int64_t(panels) * t / chunks), int(int64_t(panels) * (t + 1) / chunks), bcol);
      });
      return {};
    }

    const Grid grid = ChooseGrid(s.K, g.cols, g.Kdim);
    const size_t per_thread = cpu::GemmWorkspacePerThread(k_, g.Kdim, g.cols);
    const int panels = g.Mpad / k_.mr;
    const int granules = (g.cols + k_.nr - 1) / k_.nr;
    // tm·tn tasks claimed dynamically; each thread packs B into its own slice of the workspace.
    pool_.Run(grid.tm * grid.tn, [&](int t, int thread) {
      const GemmTask task = GridTask(t, grid.tm, grid.tn, panels, granules, k_.nr, g.cols, workspace + size_t(thread) * per_thread);
      if (task.p0 < task.p1 && task.c0 < task.c1) k_.conv_gemm(g, task);
    });
    return {};
  }

  Status maxpool2d(const PoolShape& s, const float* x, float* y) override {
    const int P = s.P(), Q = s.Q();
    if (P < 1 || Q < 1) return InvalidArgument("cpu.maxpool2d: empty output");
    const size_t planes = size_t(s.N) * s.C;
    ParallelRanges(planes, size_t(s.H) * s.W, [&](size_t a, size_t b) {
      for (size_t nc = a; nc < b; ++nc) {
        const float* xp = x + nc * s.H * s.W;
        float* yp = y + nc * P * Q;
        if (s.window == 2 && s.stride == 2) {  // VGG's pooling (paper §2.1): vectorised, same result
          for (int p = 0; p < P; ++p)
            k_.maxpool_2x2s2_row(xp + size_t(2 * p) * s.W, xp + size_t(2 * p + 1) * s.W, yp + size_t(p) * Q, Q);
          continue;
        }
        for (int p = 0; p < P; ++p)
          for (int q = 0; q < Q; ++q) {
            // Same scan order and rule as ref::maxpool2d, so the result (NaN payloads, ±0) is identical.
            float m = -std::numeric_limits<float>::infinity();
            const float* xw = xp + size_t(p) * s.stride * s.W + size_t(q) * s.stride;
            for (int r = 0; r < s.window && !std::isnan(m); ++r)
              for (int t = 0; t < s.window; ++t) {
                const float v = xw[size_t(r) * s.W + t];
                if (std::isnan(v) || v > m) m = v;
                if (std::isnan(m)) break;
              }
            yp[p * Q + q] = m;
          }
      }
    });
    return {};
  }

  Status lrn(int N, int C, int H, int W, const LrnParams& prm, const float* x, float* y) override {
    const size_t plane = size_t(H) * W;
    const int half = prm.size / 2;
    const double k = prm.k, alpha = prm.alpha;
    const float beta = prm.beta;
    // One task per (n, c) plane; the window sum runs over neighbouring channels of the same image.
    ParallelRanges(size_t(N) * C, plane * prm.size, [&](size_t a, size_t b) {
      for (size_t nc = a; nc < b; ++nc) {
        const size_t n = nc / C;
        const int c = int(nc % C);
        const int j0 = std::max(0, c - half), j1 = std::min(C - 1, c + prm.size - 1 - half);
        const float* xn = x + n * C * plane;
        float* yc = y + nc * plane;
        const float* xc = xn + size_t(c) * plane;
        for (size_t i = 0; i < plane; ++i) {
          float sum = 0.f;
          for (int j = j0; j <= j1; ++j) {
            const float v = xn[size_t(j) * plane + i];
            sum += v * v;
          }
          yc[i] = xc[i] / std::pow(float(k + alpha * double(sum)), beta);
        }
      }
    });
    return {};
  }

  Status softmax(int rows, int cols, const float* x, float* y) override {
    ParallelRanges(size_t(rows), size_t(cols) * 16, [&](size_t a, size_t b) {
      for (size_t r = a; r < b; ++r) {
        const float* xr = x + r * cols;
        float* yr = y + r * cols;
        double m = -std::numeric_limits<double>::infinity();
        bool nan = false;
        for (int c = 0; c < cols; ++c) {
          nan |= std::isnan(xr[c]);
          m = std::max(m, double(xr[c]));
        }
        if (nan) {  // a NaN logit makes the whole row NaN (as the reference does, via the sum)
          for (int c = 0; c < cols; ++c) yr[c] = std::numeric_limits<float>::quiet_NaN();
          continue;
        }
        double sum = 0;
        for (int c = 0; c < cols; ++c) sum += std::exp(double(xr[c]) - m);
        const double inv = 1.0 / sum;
        for (int c = 0; c < cols; ++c) yr[c] = float(std::exp(double(xr[c]) - m) * inv);
      }
    });
    return {};
  }

  Status spatial_mean(int N, int C, int H, int W, const float* x, float* y) override {
    const size_t plane = size_t(H) * W;
    ParallelRanges(size_t(N) * C, plane, [&](size_t a, size_t b) {
      for (size_t nc = a; nc < b; ++nc) {
        const float* xp = x + nc * plane;
        double acc[4] = {0, 0, 0, 0};
        size_t i = 0;
        for (; i + 4 <= plane; i += 4)
          for (int u = 0; u < 4; ++u) acc[u] += xp[i + u];
        for (; i < plane; ++i) acc[0] += xp[i];
        y[nc] = float(((acc[0] + acc[1]) + (acc[2] + acc[3])) / double(plane));
      }
    });
    return {};
  }

  Status flip_w(int N, int C, int H, int W, const float* x, float* y) override {
    ParallelRanges(size_t(N) * C * H, size_t(W), [&](size_t a, size_t b) {
      for (size_t row = a; row < b; ++row) {
        const float* xr = x + row * W;
        float* yr = y + row * W;
        for (int w = 0; w < W; ++w) yr[w] = xr[W - 1 - w];
      }
    });
    return {};
  }

 private:
  // Winograd serves 3×3 stride-1 pad-1 convs with at least 64 input and output channels (VGG's conv1_2 …
  // conv5_3): F(4×4, 3×3) when winograd_ == 4, F(2×2, 3×3) when 2; 0 (VGGNET_WINOGRAD=0) turns it off.
  // The choice depends only on (K, C, R, S, stride, pad), so pack_conv, conv_workspace and conv2d agree.
  int WinogradTile(const ConvShape& s) const {
    if (!winograd_ || s.R != 3 || s.S != 3 || s.stride != 1 || s.pad != 1 || s.C < 64 || s.K < 64) return 0;
    return winograd_;
  }

  std::string WinogradReport() const {
    const std::string both = std::string(k_.winograd_name) + ", " + k_.winograd4_name;
    if (winograd_ == 0) return both + " (off: VGGNET_WINOGRAD=0)";
    return both + (winograd_ == 4 ? " (4x4 in use" : " (2x2 in use") + " for 3x3 s1 p1, C and K >= 64)";
  }

  // Blocks of tiles sized so a thread's V and M buffers ((m+2)² · tiles · (C + rows) floats) stay near
  // 1.5 MB (this L2 holds 2 MB; at least one NR panel), then rows split until there are a few tasks per thread.
  WinoPlan PlanWinograd(const ConvShape& s, int m) const {
    const int T = pool_.threads();
    const int NR = k_.nr, VL = k_.vl, MR = k_.mr;
    const int panels = (s.K + MR - 1) / MR;
    WinoPlan p;
    const int points = (m + 2) * (m + 2);
    p.tiles = s.N * ((s.P() + m - 1) / m) * ((s.Q() + m - 1) / m);
    const int units = (p.tiles + VL - 1) / VL;
    const int budget = int(kWinoBudget / (points * (s.C + std::min(panels * MR, 256))));
    const int nt = std::max(1, std::min(8, budget / NR)) * NR;
    p.tn = std::min(units, (p.tiles + nt - 1) / nt);
    while (T > 1 && p.tm * p.tn < 4 * T && panels / (p.tm * 2) >= 4) p.tm *= 2;
    p.rows_cap = (panels + p.tm - 1) / p.tm * MR;
    p.ntp = ((units + p.tn - 1) / p.tn * VL + NR - 1) / NR * NR;
    return p;
  }

  // U_ξ = (G g Gᵀ)[i][s], ξ = (m+2)·i + s, computed in double. F(2×2): G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1];
  // F(4×4): G = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1/24 1/12 ⅙; 1/24 −1/12 ⅙; 0 0 1] (Lavin & Gray 2015).
  Status PackWinograd(const ConvShape& s, const float* w, const float* b, int m, std::unique_ptr<CpuPackedConv> pc,
                      std::unique_ptr<PackedConv>* out) {
    static const double kG2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    static const double kG4[6][3] = {{1.0 / 4, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                     {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
    const int A = m + 2, NP = A * A;
    const double* G = m == 4 ? &kG4[0][0] : &kG2[0][0];
    const int MR = k_.mr, KC = k_.kc, C = s.C, K = s.K, Mpad = pc->Mpad;
    pc->winograd = m;
    pc->Kdim = C * 9;
    const size_t n = size_t(NP) * C * Mpad;
    pc->a.reset(AlignedFloats(n));
    pc->bias.reset(AlignedFloats(size_t(Mpad)));
    if (!pc->a || !pc->bias)
      return RuntimeError("cpu.pack_conv: out of host memory for " + std::to_string(n) + " floats");
    float* dst = pc->a.get();
    const int panels = Mpad / MR;
    pool_.Run(panels, [&](int ip) {
      for (int i = 0; i < MR; ++i) {
        const int k = ip * MR + i;
        for (int c = 0; c < C; ++c) {
          double u[36] = {};
          if (k < K) {
            const float* g = w + (size_t(k) * C + c) * 9;
            double gg[6][3];  // G g
            for (int r = 0; r < A; ++r)
              for (int t = 0; t < 3; ++t)
                gg[r][t] = G[r * 3 + 0] * g[t] + G[r * 3 + 1] * g[3 + t] + G[r * 3 + 2] * g[6 + t];
            for (int r = 0; r < A; ++r)
              for (int q = 0; q < A; ++q)
                u[r * A + q] = gg[r][0] * G[q * 3 + 0] + gg[r][1] * G[q * 3 + 1] + gg[r][2] * G[q * 3 + 2];
          }
          const int pcb = c / KC * KC, kc = std::min(KC, C - pcb);
          for (int xi = 0; xi < NP; ++xi)
            dst[size_t(xi) * C * Mpad + size_t(pcb) * Mpad + size_t(ip) * MR * kc + size_t(c - pcb) * MR + i] = float(u[xi]);
        }
      }
    });
    for (int mm = 0; mm < Mpad; ++mm) pc->bias.get()[mm] = (b && mm < s.K) ? b[mm] : 0.f;
    *out = std::move(pc);
    return {};
  }

  // The single im2col column equals x when the kernel covers the whole unpadded input.
  static bool FcShaped(const ConvShape& s) { return s.pad == 0 && s.R == s.H && s.S == s.W; }

  static void Im2colColumn(const ConvShape& s, const float* x, float* col) {
    size_t k = 0;
    for (int c = 0; c < s.C; ++c)
      for (int r = 0; r < s.R; ++r)
        for (int t = 0; t < s.S; ++t, ++k) {
          const int h = r - s.pad, w = t - s.pad;  // P = Q = 1: p = q = 0
          col[k] = (h >= 0 && h < s.H && w >= 0 && w < s.W) ? x[(size_t(c) * s.H + h) * s.W + w] : 0.f;
        }
  }

  // Splits the GEMM into tm row groups (of MR panels) × tn column chunks (of NR-column granules), the
  // tasks being claimed dynamically by the pool's threads. Work of a task ~ kdim · cols · (rows + 16):
  // padded MACs plus packing its B columns (~16 MAC-equivalents per packed float, paid again by each row
  // group). Minimises the list-scheduling bound total/T + largest task (+ a fixed cost per task), so big
  // layers get several tasks per thread (a preempted thread on a shared host then costs one task, not
  // half the layer) and small ones split rows as well as columns.
  Grid ChooseGrid(int M, int cols, int kdim) const {
    const int T = pool_.threads();
    if (T == 1) return {};
    const int64_t panels = (M + k_.mr - 1) / k_.mr;
    const int64_t granules = (cols + k_.nr - 1) / k_.nr;
    const double kd = double(kdim), per_task = 1e5;
    Grid best;
    double best_cost = std::numeric_limits<double>::infinity();
    for (int tm = 1; tm <= std::min<int64_t>(panels, 8 * T); ++tm)
      for (int tn = 1; tn <= std::min<int64_t>(granules, 64 * T) && tm * tn <= 64 * T; ++tn) {
        const double rows_max = double((panels + tm - 1) / tm) * k_.mr + 16.0;
        const double cols_max = double((granules + tn - 1) / tn) * k_.nr;
        const double total = kd * (double(panels) * k_.mr + 16.0 * tm) * (double(cols) + 0.5 * k_.vl * tn);
        const double cost = total / T + kd * rows_max * cols_max + per_task * tm * tn;
        if (cost < best_cost * 0.999) {
          best_cost = cost;
          best = {tm, tn};
        }
      }
    return best;
  }

  // Runs fn(a, b) over [0, n) split into contiguous ranges, one per thread when the work is worth it.
  template <class F>
  void ParallelRanges(size_t n, size_t work_per_item, F&& fn) {
    const size_t total = n * std::max<size_t>(work_per_item, 1);
    int T = pool_.threads();
    if (total < (size_t(1) << 15)) T = 1;
    if (size_t(T) > n) T = int(n);
    if (T <= 1) {
      fn(size_t(0), n);
      return;
    }
    // A few chunks per thread, claimed dynamically (balances a thread the host slows down).
    const size_t chunks = std::min(n, size_t(4) * T);
    pool_.Run(int(chunks), [&](int t) { fn(n * t / chunks, n * (t + 1) / chunks); });
  }

  const IsaKernels& k_;
  cpu::ThreadPool pool_;
  std::string why_;
  const int winograd_;  // 0 (off), 2 or 4: the Winograd tile size used for eligible convs
};

}  // namespace

Status MakeCpuBackend(const CpuOptions& opt, std::unique_ptr<Backend>* out) {
  const CpuInfo& ci = GetCpuInfo();
  if (opt.threads < 0) return InvalidArgument("cpu: threads must be >= 0, got " + std::to_string(opt.threads));
  CpuIsa isa = opt.isa == CpuIsa::kAuto ? ci.best : opt.isa;
  std::string why;
  if (opt.isa == CpuIsa::kAuto) {
    why = ci.reason;
  } else {
    why = "forced by options; " + CpuidSummary(ci);
  }
  const IsaKernels* k = nullptr;
  switch (isa) {
    case CpuIsa::kAvx512:
      if (!(ci.avx512 && ci.fma))
        return Unsupported("cpu: isa 'avx512' forced but this CPU lacks it (" + CpuidSummary(ci) + ")");
      k = &cpu::Avx512Kernels();
      break;
    case CpuIsa::kAvx2:
      if (!(ci.avx2 && ci.fma))
        return Unsupported("cpu: isa 'avx2' forced but this CPU lacks it (" + CpuidSummary(ci) + ")");
      k = &cpu::Avx2Kernels();
      break;
    case CpuIsa::kScalar:
      k = &cpu::ScalarKernels();
      break;
    default:
      return InvalidArgument("cpu: unknown isa");
  }
  const int threads = opt.threads > 0 ? opt.threads : ci.hardware_threads;
  try {
    // VGGNET_WINOGRAD=0 keeps every conv on the direct GEMM path (for comparisons and tests); =2 or =4
    // picks the Winograd tile; unset (or anything else): the default below.
    const char* wg = std::getenv("VGGNET_WINOGRAD");
    int winograd = kDefaultWinograd;
    if (wg && std::strcmp(wg, "0") == 0) winograd = 0;
    if (wg && std::strcmp(wg, "2") == 0) winograd = 2;
    if (wg && std::strcmp(wg, "4") == 0) winograd = 4;
    *out = std::make_unique<CpuBackend>(*k, threads, why, winograd);
  } catch (const std::exception& e) {  // thread creation can fail (std::system_error)
    return RuntimeError(std::string("cpu: could not start the thread pool: ") + e.what());
  }
  return {};
}

}  // namespace vgg
