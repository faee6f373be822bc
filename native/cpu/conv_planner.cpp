#include "cpu/conv_planner.h"

#include <algorithm>
#include <cstdint>
#include <limits>

namespace vgg::cpu {

namespace {
// Floats of a thread's Winograd V and M buffers ((m+2)² · tiles · (C + rows)): ~1.5 MB. (Zen 5 has 1 MB of
// L2 per core; a smaller budget measured no faster there, 2026-12-02.)
constexpr double kWinoBudget = 393216;
// Floats of one point's slice of a shared V (C × tiles), read by every row group's GEMM for that point:
// 256 KB, so it stays in L2 beside the task's M block.
constexpr int kSharedPointSlice = 65536;
// Tasks per thread a Winograd conv is split into (at least). Every row group reads its block's whole V, so
// row groups beyond what balance needs only re-stream V: 2 per thread instead of 4 took vgg16's 13 convs at
// batch 1 on 2 threads from 40.8 to 37.0 ms (conv3_2 4.6 → 3.7, conv5 1.7 → 1.4), batch 8 unchanged
// (`vggnet_harness conv --threads 2`, alternating, bench/RESULTS.md).
constexpr int kWinoTasksPerThread = 2;
// What packing one float of B costs, in MACs: ~135 measured where it costs most, FC6 as a 7×7 conv in dense
// evaluation (im2col runs of a few floats; PackB took 8% of a vgg16 dense 384 forward at 16 row groups).
// 128 rather than the 16 of a streaming copy: that layer then splits into 8 row groups, and the forward
// took 3–7% less on 2 threads; 224 batch 8 and dense 256/512 measured no different.
constexpr double kPack = 128;
}  // namespace

bool WinogradEligible(const ConvShape& s) {
  return s.R == 3 && s.S == 3 && s.stride == 1 && s.pad == 1 && s.C >= 64 && s.K >= 64;
}

// bf16 does not change the choice. Per vgg16 layer at 224, batch 1 (bench/RESULTS.md, 2026-12-02, Zen 5):
// fp32 Winograd F(4×4) takes about half the CPU time of the bf16 im2col GEMM on every 3×3 layer with
// C, K >= 64 (2.25·C multiplies per output against 9·C at twice the rate per instruction, plus B's rounding),
// so those layers stay fp32 Winograd. A bf16 Winograd would do at most ~10% better (F(2×2): 4·C bf16
// multiplies per output, ≈ 2·C f32-equivalents, with more transform work per output), and F(4×4)'s
// transforms (coefficients up to 8 and 1/24) amplify bf16's 2⁻⁹ rounding beyond what FC layers see. The
// GEMM/GEMV layers (conv1_1, config C's 1×1 convs, FC6–FC8, any layer with convAlgorithm 'gemm') run bf16.
ConvAlgorithm ChooseConvAlgorithm(const ConvShape& s, ConvAlgorithm requested, bool bf16) {
  (void)bf16;
  switch (requested) {
    case ConvAlgorithm::kAuto: return WinogradEligible(s) ? ConvAlgorithm::kWinograd4x4 : ConvAlgorithm::kGemm;
    case ConvAlgorithm::kWinograd2x2:
    case ConvAlgorithm::kWinograd4x4: return WinogradEligible(s) ? requested : ConvAlgorithm::kGemm;
    default: return ConvAlgorithm::kGemm;
  }
}

int WinogradTile(ConvAlgorithm a) {
  return a == ConvAlgorithm::kWinograd4x4 ? 4 : a == ConvAlgorithm::kWinograd2x2 ? 2 : 0;
}

// Splits the GEMM into tm row groups (of MR panels) × tn column chunks (of NR-column granules), the
// tasks being claimed dynamically by the pool's threads. Work of a task ~ kdim · cols · (rows + kPack):
// padded MACs plus packing its B columns, paid again by each row group. Minimises the list-scheduling
// bound total/T + largest task (+ a fixed cost per task), so big layers get several tasks per thread (a
// preempted thread on a shared host then costs one task, not half the layer) and small ones split rows
// as well as columns.
Grid ChooseGrid(const IsaKernels& k, int threads, int M, int cols, int kdim) {
  const int T = threads;
  if (T == 1) return {};
  const int64_t panels = (M + k.mr - 1) / k.mr;
  const int64_t granules = (cols + k.nr - 1) / k.nr;
  const double kd = double(kdim), per_task = 1e5;
  Grid best;
  double best_cost = std::numeric_limits<double>::infinity();
  for (int tm = 1; tm <= std::min<int64_t>(panels, 8 * T); ++tm)
    for (int tn = 1; tn <= std::min<int64_t>(granules, 64 * T) && tm * tn <= 64 * T; ++tn) {
      const double rows_max = double((panels + tm - 1) / tm) * k.mr + kPack;
      const double cols_max = double((granules + tn - 1) / tn) * k.nr;
      const double total = kd * (double(panels) * k.mr + kPack * tm) * (double(cols) + 0.5 * k.vl * tn);
      const double cost = total / T + kd * rows_max * cols_max + per_task * tm * tn;
      if (cost < best_cost * 0.999) {
        best_cost = cost;
        best = {tm, tn};
      }
    }
  return best;
}

const Kernel<ConvGemvFn>* GemvKernel(const IsaKernels& k, const ConvShape& s) {
  if (!GemvShaped(s)) return nullptr;
  return s.N == 1 ? &k.gemv : &k.gemv_cols;
}

// Memory-bound at small batches: a few chunks per thread, claimed dynamically, so a thread the host slows
// down does less. Each column chunk reads the weights again, so columns split only when the panel blocks
// alone give fewer than 4 tasks per thread (FC8's 1000 rows on many threads).
Grid ChooseGemvGrid(const IsaKernels& k, int threads, int M, int cols) {
  if (threads == 1) return {};
  const int panels = (M + k.mr - 1) / k.mr;
  const int blocks = (panels + k.gemv_panels - 1) / k.gemv_panels;
  const int groups = (cols + k.gemv_group - 1) / k.gemv_group;
  Grid g{std::min(blocks, 8 * threads), 1};
  if (g.tm < 4 * threads) g.tn = std::min(groups, (4 * threads + g.tm - 1) / g.tm);
  return g;
}

// Blocks of tiles sized so a thread's V and M buffers stay near kWinoBudget (at least one NR panel), then
// rows split until there are kWinoTasksPerThread tasks per thread. Few tiles and many channels (conv3–5 at
// batch 1 on several threads) split rows: then V is shared, and its blocks need only one point's slice in L2,
// so they grow (fewer blocks: the transformed weights stream from memory once per block).
WinoPlan PlanWinograd(const IsaKernels& k, int threads, const ConvShape& s, int m) {
  const int T = threads;
  const int NR = k.nr, VL = k.vl, MR = k.mr;
  const int panels = (s.K + MR - 1) / MR;
  WinoPlan p;
  const int points = (m + 2) * (m + 2);
  p.tiles = s.N * ((s.P() + m - 1) / m) * ((s.Q() + m - 1) / m);
  const int units = (p.tiles + VL - 1) / VL;
  const auto split = [&](int nt) {
    p.tn = std::min(units, (p.tiles + nt - 1) / nt);
    p.tm = 1;
    while (T > 1 && p.tm * p.tn < kWinoTasksPerThread * T && panels / (p.tm * 2) >= 4) p.tm *= 2;
  };
  const int budget = int(kWinoBudget / (points * (s.C + std::min(panels * MR, 256))));
  split(std::max(1, std::min(8, budget / NR)) * NR);
  if (p.tm > 1) {
    split(std::max(1, std::min(8, kSharedPointSlice / s.C / NR)) * NR);
    p.shared_input = p.tm > 1;
    p.ch_split = std::max(1, std::min(s.C / 16, (4 * T + p.tn - 1) / p.tn));
  }
  p.rows_cap = (panels + p.tm - 1) / p.tm * MR;
  p.ntp = ((units + p.tn - 1) / p.tn * VL + NR - 1) / NR * NR;
  return p;
}

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

size_t ConvWorkspaceFloats(const IsaKernels& k, int threads, const ConvShape& s, ConvAlgorithm algorithm) {
  if (const int m = WinogradTile(algorithm)) {
    const WinoPlan wp = PlanWinograd(k, threads, s, m);
    const int points = (m + 2) * (m + 2);
    const size_t shared = wp.shared_input ? size_t(wp.tn) * WinogradInputFloats(s.C, wp.ntp, points) : 0;
    return shared + size_t(threads) * WinogradWorkspacePerThread(s.C, wp.ntp, wp.rows_cap, points, wp.shared_input);
  }
  const int cols = s.N * s.P() * s.Q();
  const int kdim = s.C * s.R * s.S;
  if (GemvKernel(k, s)) return s.N == 1 && FcShaped(s) ? 0 : size_t(threads) * GemvWorkspacePerThread(k, kdim, s.N);
  return size_t(threads) * GemmWorkspacePerThread(k, kdim, cols);
}

}  // namespace vgg::cpu
