// The optimised CPU backend: conv2d as a cache-blocked GEMM with the im2col fused into the packing of
// B, a column-grouped GEMV for FC layers (one output position per image) over the same packed weights,
// or Winograd F(2×2)/F(4×4) for 3×3 layers (algorithm per layer: conv_planner.h); the ISA family chosen
// once (scalar / avx2+fma / avx512 on x86-64, scalar / neon on aarch64); one persistent thread pool shared by all ops,
// and by every CPU backend of the same size in the process.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "core/backend.h"
#include "core/ref/reference.h"
#include "cpu/aligned_buffer.h"
#include "cpu/conv_pack.h"
#include "cpu/conv_planner.h"
#include "cpu/cpu_kernels.h"
#include "cpu/thread_pool.h"

namespace vgg {
namespace {

using cpu::ConvGemmArgs;
using cpu::CpuPackedConv;
using cpu::GemmTask;
using cpu::IsaKernels;

std::string CpuidSummary(const CpuInfo& ci) {
#if defined(__aarch64__)
  return ci.neon ? "hwcaps report asimd" : "hwcaps report no asimd";
#endif
  std::string s = "cpuid reports";
  s += ci.avx512 ? " avx512f+bw+vl+dq" : " no avx512f+bw+vl+dq";
  s += ci.avx2 ? ", avx2" : ", no avx2";
  s += ci.fma ? ", fma" : ", no fma";
  return s;
}

class CpuBackend final : public Backend {
 public:
  // bf16: the bf16 kernels of k's family (precision bf16), or null (fp32).
  CpuBackend(const IsaKernels& k, const cpu::Bf16Kernels* bf16, int threads, std::string why)
      : k_(k), bf16_(bf16), pool_holder_(cpu::SharedThreadPool(threads)), pool_(*pool_holder_), why_(std::move(why)) {}

  std::string name() const override { return "cpu"; }
  std::string kernel_family() const override {
    std::string isa = "scalar";
    for (const cpu::IsaFamily& f : cpu::CompiledFamilies())
      if (f.isa == k_.isa) isa = f.name;
    std::string gemm = bf16_ ? std::string(bf16_->gemm.name) + ", " + bf16_->gemv.name + ", " + bf16_->gemv_cols.name
                             : std::string(k_.gemm.name) + ", " + k_.gemv.name + ", " + k_.gemv_cols.name;
    return isa + (bf16_ ? "+bf16" : "") + " (" + why_ + "): " + gemm + ", " + k_.winograd2x2.name + ", " +
           k_.winograd4x4.name + ", " + k_.maxpool_2x2s2_row.name + ", " + std::to_string(pool_.threads()) +
           (pool_.threads() == 1 ? " thread" : " threads");
  }
  std::string precision_name() const override { return bf16_ ? "bf16" : "fp32"; }

  Status alloc(size_t floats, float** out) override {
    *out = cpu::AlignedFloats(floats);
    return *out ? Status::Ok()
                : DeviceError("cpu: out of host memory allocating " + std::to_string(floats) + " floats");
  }
  void release(float* p) override { cpu::FreeFloats(p); }
  Status upload(float* d, const float* s, size_t n) override {
    std::memcpy(d, s, n * sizeof(float));
    return {};
  }
  Status download(float* d, const float* s, size_t n) override {
    std::memcpy(d, s, n * sizeof(float));
    return {};
  }
  Status copy(float* d, const float* s, size_t n) override {
    std::memcpy(d, s, n * sizeof(float));
    return {};
  }
  Status synchronize() override { return {}; }

  ConvAlgorithm choose_conv_algorithm(const ConvShape& s, ConvAlgorithm requested) const override {
    return cpu::ChooseConvAlgorithm(s, requested, bf16_ != nullptr);
  }

  Status pack_conv(const ConvShape& s, ConvAlgorithm algorithm, const float* w, const float* b,
                   std::unique_ptr<PackedConv>* out) override {
    std::unique_ptr<CpuPackedConv> pc;
    VGG_RETURN_IF_ERROR(cpu::PackConv(k_, pool_, s, algorithm, w, b, PacksBf16(algorithm), &pc));
    *out = std::move(pc);
    return {};
  }

  Status pack_conv_begin(const ConvShape& s, ConvAlgorithm algorithm, std::unique_ptr<PackedConv>* out) override {
    std::unique_ptr<CpuPackedConv> pc;
    VGG_RETURN_IF_ERROR(cpu::PackConvBegin(k_, s, algorithm, PacksBf16(algorithm), &pc));
    *out = std::move(pc);
    return {};
  }

  Status pack_conv_rows(const ConvShape& s, PackedConv* w, int k0, int k1, const float* w_rows,
                        const float* b_rows) override {
    auto* pc = static_cast<CpuPackedConv*>(w);
    if (pc->K != s.K || pc->C != s.C || pc->R != s.R || pc->S != s.S)
      return InvalidArgument("cpu.pack_conv_rows: shape (K,C,R,S) differs from the allocated weights");
    return cpu::PackConvRows(k_, pool_, pc, k0, k1, w_rows, b_rows);
  }

  Status plan_conv(const ConvShape& s, const PackedConv& w, ConvPlan* out) const override {
    const auto& pc = static_cast<const CpuPackedConv&>(w);
    if (pc.kernels != &k_ || (pc.bf16 && !bf16_))
      return InvalidArgument("cpu.plan_conv: weights were packed by another backend");
    const auto* gemv = pc.winograd ? nullptr : GemvKernelFor(pc, s);
    const char* kernel = pc.winograd == 4   ? k_.winograd4x4.name
                         : pc.winograd == 2 ? k_.winograd2x2.name
                         : gemv             ? gemv->name
                         : pc.bf16          ? bf16_->gemm.name
                                            : k_.gemm.name;
    *out = {pc.algo, kernel, cpu::ConvWorkspaceFloats(k_, pool_.threads(), s, pc.algo)};
    return {};
  }

  Status conv2d(const ConvShape& s, const ConvPlan& plan, const PackedConv& w, bool relu, const float* x, float* y,
                float* workspace) override {
    const auto& pc = static_cast<const CpuPackedConv&>(w);
    VGG_RETURN_IF_ERROR(CheckConv("cpu.conv2d", s, plan, pc, workspace));
    if (pc.winograd) return Winograd(s, pc, relu, nullptr, x, y, workspace);
    const int P = s.P(), Q = s.Q();
    const int64_t cols64 = int64_t(s.N) * P * Q;
    ConvGemmArgs g;
    g.s = s;
    g.M = s.K;
    g.Mpad = pc.Mpad;
    g.Kdim = pc.Kdim;
    g.cols = int(cols64);
    g.PQ = P * Q;
    g.a = pc.a.get();
    g.a_bf16 = pc.a_bf16();
    g.bias = pc.bias.get();
    g.relu = relu;
    g.x = x;
    g.y = y;
    if (const auto* gemv = GemvKernelFor(pc, s)) return Gemv(*gemv, g, workspace);
    auto* gemm = pc.bf16 ? bf16_->gemm.fn : k_.gemm.fn;
    const cpu::Grid grid = cpu::ChooseGrid(k_, pool_.threads(), s.K, g.cols, g.Kdim);
    const size_t per_thread = cpu::GemmWorkspacePerThread(k_, g.Kdim, g.cols);
    const int panels = g.Mpad / k_.mr;
    const int granules = (g.cols + k_.nr - 1) / k_.nr;
    // tm·tn tasks claimed dynamically; each thread packs B into its own slice of the workspace.
    pool_.Run(grid.tm * grid.tn, [&](int t, int thread) {
      const GemmTask task =
          cpu::GridTask(t, grid.tm, grid.tn, panels, granules, k_.nr, g.cols, workspace + size_t(thread) * per_thread);
      if (task.p0 < task.p1 && task.c0 < task.c1) gemm(g, task);
    });
    return {};
  }

  // The Winograd kernels pool 2×2/2 windows of their output tiles (4×4 or 2×2, so a window never spans two).
  bool fuses_maxpool(const ConvShape& s, const ConvPlan& plan, const PoolShape& pool) const override {
    return cpu::WinogradTile(plan.algorithm) != 0 && pool.window == 2 && pool.stride == 2 && pool.N == s.N &&
           pool.C == s.K && pool.H == s.P() && pool.W == s.Q() && pool.H >= 2 && pool.W >= 2;
  }

  Status conv2d_maxpool(const ConvShape& s, const ConvPlan& plan, const PackedConv& w, bool relu, const PoolShape& pool,
                        const float* x, float* y, float* workspace) override {
    const auto& pc = static_cast<const CpuPackedConv&>(w);
    VGG_RETURN_IF_ERROR(CheckConv("cpu.conv2d_maxpool", s, plan, pc, workspace));
    if (!fuses_maxpool(s, plan, pool) || !pc.winograd)
      return InvalidArgument("cpu.conv2d_maxpool: pool " + std::to_string(pool.window) + "/" +
                             std::to_string(pool.stride) + " over " + std::to_string(pool.H) + "x" +
                             std::to_string(pool.W) + " is not fused with this conv (fuses_maxpool is false)");
    return Winograd(s, pc, relu, &pool, x, y, workspace);
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
            k_.maxpool_2x2s2_row.fn(xp + size_t(2 * p) * s.W, xp + size_t(2 * p + 1) * s.W, yp + size_t(p) * Q, Q);
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

  // Tiny next to the convs (pool5 planes): the reference loop, one range of planes per thread, so the
  // result is the reference's bit for bit.
  Status adaptive_avgpool2d(const AdaptivePoolShape& s, const float* x, float* y) override {
    if (s.P < 1 || s.Q < 1 || s.H < 1 || s.W < 1)
      return InvalidArgument("cpu.adaptive_avgpool2d: empty input or output");
    ParallelRanges(size_t(s.N) * s.C, size_t(s.H) * s.W, [&](size_t a, size_t b) {
      AdaptivePoolShape part = s;
      part.N = 1;
      part.C = int(b - a);
      ref::adaptive_avgpool2d(part, x + a * s.H * s.W, y + a * s.P * s.Q);
    });
    return {};
  }

  // Only after a pre-ReLU feature was copied out (the convs fuse their ReLU): plain loop, vectorised by the
  // compiler, split across the pool.
  Status relu(float* x, size_t n) override {
    ParallelRanges(n, 1, [&](size_t a, size_t b) { ref::relu(x + a, b - a); });
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

 private:
  // bf16 weights for the GEMM layers of a bf16 backend; Winograd layers stay fp32.
  bool PacksBf16(ConvAlgorithm algorithm) const { return bf16_ && algorithm == ConvAlgorithm::kGemm; }

  // The GEMV kernel of a GEMM-algorithm layer (cpu::GemvKernel), the bf16 one for bf16 weights; null: blocked GEMM.
  const cpu::Kernel<cpu::ConvGemvFn>* GemvKernelFor(const CpuPackedConv& pc, const ConvShape& s) const {
    const auto* f32 = cpu::GemvKernel(k_, s);
    if (!f32 || !pc.bf16) return f32;
    return f32 == &k_.gemv ? &bf16_->gemv : &bf16_->gemv_cols;
  }

  // What conv2d and conv2d_maxpool check of their arguments (`what` names the call in errors).
  Status CheckConv(const char* what, const ConvShape& s, const ConvPlan& plan, const CpuPackedConv& pc,
                   const float* workspace) const {
    const std::string w = what;
    if (pc.kernels != &k_ || (pc.bf16 && !bf16_))
      return InvalidArgument(w + ": weights were packed by another backend");
    if (pc.K != s.K || pc.C != s.C || pc.R != s.R || pc.S != s.S)
      return InvalidArgument(w + ": shape (K,C,R,S) differs from the packed weights");
    if (plan.algorithm != pc.algo) return InvalidArgument(w + ": the plan is for another algorithm");
    if (s.P() < 1 || s.Q() < 1 || s.N < 1) return InvalidArgument(w + ": empty output");
    if (int64_t(s.N) * s.P() * s.Q() > (int64_t(1) << 30)) return Unsupported(w + ": too many output columns");
    const size_t need = cpu::ConvWorkspaceFloats(k_, pool_.threads(), s, pc.algo);
    if (need > plan.workspace_floats || (need && !workspace))
      return InvalidArgument(w + ": workspace of " + std::to_string(need) + " floats missing");
    return {};
  }

  // pool: the 2×2/2 max pool fused into the output transform (y is then the pooled output), or null.
  Status Winograd(const ConvShape& s, const CpuPackedConv& pc, bool relu, const PoolShape* pool, const float* x,
                  float* y, float* workspace) {
    const int m = pc.winograd;
    const cpu::WinoPlan wp = cpu::PlanWinograd(k_, pool_.threads(), s, m);
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
    wa.pool = pool != nullptr;
    wa.x = x;
    wa.y = y;
    const int points = (m + 2) * (m + 2);
    auto* kernel = m == 4 ? k_.winograd4x4.fn : k_.winograd2x2.fn;
    const int panels = pc.Mpad / k_.mr;
    const int units = (wp.tiles + k_.vl - 1) / k_.vl;
    // Workspace: the shared V of every block (when shared), then each thread's scratch.
    const size_t block_v = wp.shared_input ? cpu::WinogradInputFloats(s.C, wp.ntp, points) : 0;
    float* scratch = workspace + size_t(wp.tn) * block_v;
    const size_t per_thread = cpu::WinogradWorkspacePerThread(s.C, wp.ntp, wp.rows_cap, points, wp.shared_input);
    // Task t of the tm × tn grid: its rows, its block's tiles, and its block's shared V.
    const auto grid_task = [&](int t, int thread, cpu::WinogradTask::Stage stage) {
      const GemmTask g =
          cpu::GridTask(t, wp.tm, wp.tn, panels, units, k_.vl, wp.tiles, scratch + size_t(thread) * per_thread);
      cpu::WinogradTask task;
      task.stage = stage;
      task.p0 = g.p0;
      task.p1 = g.p1;
      task.c0 = g.c0;
      task.c1 = g.c1;
      task.ws = g.ws;
      task.v = workspace + size_t(t % wp.tn) * block_v;
      return task;
    };
    if (!wp.shared_input) {
      pool_.Run(wp.tm * wp.tn, [&](int t, int thread) {
        const cpu::WinogradTask task = grid_task(t, thread, cpu::WinogradTask::kAll);
        if (task.p0 < task.p1 && task.c0 < task.c1) kernel(wa, task);
      });
      return {};
    }
    // Each block's input transform once, split over channels (tasks of row group 0 give the tiles).
    pool_.Run(wp.tn * wp.ch_split, [&](int t, int thread) {
      cpu::WinogradTask task = grid_task(t / wp.ch_split, thread, cpu::WinogradTask::kInput);
      const int part = t % wp.ch_split;
      task.ch0 = int(int64_t(s.C) * part / wp.ch_split);
      task.ch1 = int(int64_t(s.C) * (part + 1) / wp.ch_split);
      if (task.c0 < task.c1 && task.ch0 < task.ch1) kernel(wa, task);
    });
    pool_.Run(wp.tm * wp.tn, [&](int t, int thread) {
      const cpu::WinogradTask task = grid_task(t, thread, cpu::WinogradTask::kOutput);
      if (task.p0 < task.p1 && task.c0 < task.c1) kernel(wa, task);
    });
    return {};
  }

  // GEMV-shaped layers (one output position per image): chunks of panel blocks over the threads, each
  // with every column, so the weights stream from memory once per call.
  Status Gemv(const cpu::Kernel<cpu::ConvGemvFn>& kernel, const ConvGemmArgs& g, float* workspace) {
    const cpu::Grid grid = cpu::ChooseGemvGrid(k_, pool_.threads(), g.M, g.cols);
    const int panels = g.Mpad / k_.mr, blocks = (panels + k_.gemv_panels - 1) / k_.gemv_panels;
    const int groups = (g.cols + k_.gemv_group - 1) / k_.gemv_group;
    const size_t per_thread = workspace ? cpu::GemvWorkspacePerThread(k_, g.Kdim, g.cols) : 0;
    pool_.Run(grid.tm * grid.tn, [&](int t, int thread) {
      GemmTask task = cpu::GridTask(t, grid.tm, grid.tn, blocks, groups, k_.gemv_group, g.cols,
                                    workspace + size_t(thread) * per_thread);
      task.p0 *= k_.gemv_panels;
      task.p1 = std::min(task.p1 * k_.gemv_panels, panels);
      if (task.p0 < task.p1 && task.c0 < task.c1) kernel.fn(g, task);
    });
    return {};
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
  const cpu::Bf16Kernels* bf16_;
  std::shared_ptr<cpu::ThreadPool> pool_holder_;  // shared with every cpu backend of this size (SharedThreadPool)
  cpu::ThreadPool& pool_;
  std::string why_;
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
  std::string compiled;
  for (const cpu::IsaFamily& f : cpu::CompiledFamilies()) {
    compiled += compiled.empty() ? f.name : std::string(", ") + f.name;
    if (f.isa != isa) continue;
    if (!f.supported)
      return Unsupported(std::string("cpu: isa '") + f.name + "' forced but this CPU lacks it (" + CpuidSummary(ci) +
                         ")");
    k = &f.kernels();
  }
  if (!k)
    return Unsupported(std::string("cpu: isa '") + IsaName(isa) + "' is not compiled into this binary (it holds " +
                       compiled + ")");
  const cpu::Bf16Kernels* bf16 = nullptr;
  if (opt.precision == CpuPrecision::kBf16) {
    // Opt-in only, never a silent fp32: the avx512 family on a CPU with AVX512_BF16, or kUnsupported.
#if defined(__x86_64__)
    if (!ci.avx512_bf16)
      return Unsupported(std::string("cpu: precision 'bf16' needs AVX512_BF16 (vdpbf16ps: AMD Zen 4 and later, Intel "
                                     "Cooper Lake, Sapphire Rapids and later); ") +
                         CpuidSummary(ci) + ", no avx512_bf16. Use precision 'fp32'");
    if (k->isa != CpuIsa::kAvx512)
      return Unsupported(std::string("cpu: precision 'bf16' runs on the avx512 kernel family, isa '") +
                         IsaName(k->isa) + "' was chosen");
    bf16 = &cpu::Avx512Bf16Kernels();
    why += "; bf16 products (cpuid reports avx512_bf16)";
#else
    return Unsupported("cpu: precision 'bf16' needs AVX512_BF16 (x86-64); this build's CPU kernels have no bf16");
#endif
  }
  const int threads = opt.threads > 0 ? opt.threads : ci.hardware_threads;
  try {
    *out = std::make_unique<CpuBackend>(*k, bf16, threads, why);
  } catch (const std::exception& e) {  // thread creation can fail (std::system_error)
    return DeviceError(std::string("cpu: could not start the thread pool: ") + e.what());
  }
  return {};
}

}  // namespace vgg
