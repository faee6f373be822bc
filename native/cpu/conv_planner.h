// Every decision the CPU backend makes about a conv: which algorithm serves a layer, how much scratch
// it needs, and how one call is split over the thread pool. Pure functions of the shape, the kernel
// family and the thread count, so pack_conv, plan_conv and conv2d always agree.
#pragma once
#include <cstddef>

#include "core/backend.h"
#include "cpu/cpu_kernels.h"

namespace vgg::cpu {

// Whether Winograd F(m×m, 3×3) serves this layer (s.N, s.H, s.W ignored): 3×3, stride 1, pad 1, with C and
// K >= 64 (VGG's conv1_2 … conv5_3; below 64 channels the transforms cost more than they save).
bool WinogradEligible(const ConvShape& s);
// The algorithm for a layer: kAuto is F(4×4) where eligible (8–18% faster end to end than F(2×2) on vgg16,
// at 36/9 instead of 16/9 of those layers' weights), kGemm elsewhere; a Winograd request on an ineligible
// layer, or kDirect, gets kGemm.
ConvAlgorithm ChooseConvAlgorithm(const ConvShape& s, ConvAlgorithm requested);
// 2 or 4 for the Winograd algorithms, 0 otherwise.
int WinogradTile(ConvAlgorithm a);

// The single im2col column equals x when the kernel covers the whole unpadded input (FC6 at batch 1).
inline bool FcShaped(const ConvShape& s) { return s.pad == 0 && s.R == s.H && s.S == s.W; }

// How one GEMM is split over threads: tm row groups × tn column groups.
struct Grid {
  int tm = 1, tn = 1;
};
Grid ChooseGrid(const IsaKernels& k, int threads, int M, int cols, int kdim);

// How one Winograd conv is split: tm row groups × tn blocks of tiles, and the per-thread buffer sizes.
struct WinoPlan {
  int tm = 1, tn = 1;
  int tiles = 0, ntp = 0, rows_cap = 0;
};
WinoPlan PlanWinograd(const IsaKernels& k, int threads, const ConvShape& s, int m);

// Task t of a tm × tn grid over `panels` row panels and `units` column units of `unit` columns each
// (clipped to `cols`): near-equal shares, so every task of a row or column of the grid costs the same.
GemmTask GridTask(int t, int tm, int tn, int panels, int units, int unit, int cols, float* ws);

// Scratch floats conv2d needs for the full shape s with `algorithm` (0 when none).
size_t ConvWorkspaceFloats(const IsaKernels& k, int threads, const ConvShape& s, ConvAlgorithm algorithm);

}  // namespace vgg::cpu
