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
// With bf16 (CpuPrecision::kBf16), kAuto picks the same (the .cpp says why); only kGemm layers compute in bf16.
ConvAlgorithm ChooseConvAlgorithm(const ConvShape& s, ConvAlgorithm requested, bool bf16 = false);
// 2 or 4 for the Winograd algorithms, 0 otherwise.
int WinogradTile(ConvAlgorithm a);

// The single im2col column of an image equals the image when the kernel covers the whole unpadded input
// (FC6 as a 7×7 valid conv on pool5, FC7 and FC8 as 1×1 convs on 1×1 maps).
inline bool FcShaped(const ConvShape& s) { return s.pad == 0 && s.R == s.H && s.S == s.W; }
// One output position per image (P = Q = 1): FC-shaped layers, or a padded conv on a 1×1 map.
inline bool GemvShaped(const ConvShape& s) { return s.P() == 1 && s.Q() == 1; }

// The GEMV kernel for a GEMM-algorithm layer of shape s: for a GEMV-shaped layer `gemv` at batch 1 and
// `gemv_cols` above (faster than the blocked GEMM at every batch measured, 1 to 64: bench/RESULTS.md; the
// two give the same bits anyway, cpu_kernels.h); null for the others, which run the blocked GEMM.
const Kernel<ConvGemvFn>* GemvKernel(const IsaKernels& k, const ConvShape& s);

// How one GEMM is split over threads: tm row groups × tn column groups.
struct Grid {
  int tm = 1, tn = 1;
};
Grid ChooseGrid(const IsaKernels& k, int threads, int M, int cols, int kdim);

// How one Winograd conv is split: tm row groups × tn blocks of tiles, and the per-thread buffer sizes.
// With shared_input, each block's input transform runs once, as tn × ch_split kInput tasks (channel
// ranges) into a buffer the block's tm kOutput tasks then read; otherwise every task transforms its own
// block (kAll), which is only done when tm = 1 (row groups would redo it).
struct WinoPlan {
  int tm = 1, tn = 1;
  int tiles = 0, ntp = 0, rows_cap = 0;
  bool shared_input = false;
  int ch_split = 1;
};
WinoPlan PlanWinograd(const IsaKernels& k, int threads, const ConvShape& s, int m);

// How one GEMV is split: tm chunks of blocks of k.gemv_panels panels × tn chunks of columns (groups of
// k.gemv_group); columns are split only when there are too few panel blocks to go round the threads.
Grid ChooseGemvGrid(const IsaKernels& k, int threads, int M, int cols);

// Task t of a tm × tn grid over `panels` row panels and `units` column units of `unit` columns each
// (clipped to `cols`): near-equal shares, so every task of a row or column of the grid costs the same.
GemmTask GridTask(int t, int tm, int tn, int panels, int units, int unit, int cols, float* ws);

// Scratch floats conv2d needs for the full shape s with `algorithm` (0 when none).
size_t ConvWorkspaceFloats(const IsaKernels& k, int threads, const ConvShape& s, ConvAlgorithm algorithm);

}  // namespace vgg::cpu
