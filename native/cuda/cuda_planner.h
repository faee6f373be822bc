// How the CUDA backend computes one conv: a pure function of the shape, the precision and the device's
// multiprocessor count, so that plan_conv (workspace size, kernel name) and conv2d (launch) always agree,
// and so that plans can be checked on a host without a GPU.
//   - N·P·Q ≤ kGemvMaxCols columns: im2col_columns_f32 into the workspace, then gemv_*, with 8 rows per
//     block, or 4 when 8 would not give two blocks per multiprocessor (bandwidth bound);
//   - fp32: the SIMT implicit GEMM over NCHW input, BM 64 for K ≤ 64 output channels else 128, BN 128;
//     when the tiles cannot fill two blocks per multiprocessor the reduction is split (split-K ≤ 32,
//     ≥ 4 main-loop steps each);
//   - tf32, bf16, fp16: nchw_to_nhwc_* converts the input into the workspace, then the tensor-core
//     implicit GEMM (conv_mma.cuh) with 128×128 tiles (64×128 for K ≤ 64); when those tiles cannot fill
//     two blocks per multiprocessor, 64×64 tiles, and if those cannot either, split-K over them (≤ 8
//     splits of ≥ 8 k-tiles each: at batch 1, VGG16's conv5 is 8 × 4 tiles × 8 splits, where 128×128
//     tiles needed 29 splits and 3.6× the partial-sum traffic).
// Split-K sums go to a [split][K][cols] workspace and splitk_reduce_bias_relu_f32 adds them in a fixed
// order (deterministic, no atomics).
#pragma once
#include <cstddef>
#include <string>

#include "core/backend.h"
#include "cuda/cuda_kernels.h"

namespace vgg::cuda {

using Precision = CudaOptions::Precision;

// How conv weights are packed for a precision: kSimt in OIHW order (j = c·R·S + r·S + s), the tensor-core
// maths in KRSC order with the channels padded to Cp (j = (r·S + s)·Cp + c); the reduction padded to Kpad.
struct WeightLayout {
  bool krsc = false;
  int Cp = 0;          // channels per (r, s) position: C, or C rounded up to 16 bytes of the compute type
  int Kpad = 0;        // padded reduction length (a multiple of kRedPad) = row stride of A
  int elem_bytes = 4;  // bytes per packed weight (and per NHWC input element)
};
WeightLayout WeightLayoutOf(const ConvShape& s, Precision p);

struct IgemmPlan {
  bool gemv = false;            // the GEMV path (no tiles below)
  int gemv_threads = kThreads;  // 256 (8 rows per block) or 128 (4 rows)
  bool mma = false;             // the tensor-core path: NHWC conversion, then conv2d_nhwc_*_igemm_mma_*
  MmaTile tile = MmaTile::k128x128;
  int bm = 0, bn = 0;  // outputs per block: rows (output channels) × columns (N·P·Q)
  int bk = 0;          // reduction per main-loop step
  int split = 1;       // split-K factor (1: none)
  int per = 0;         // main-loop steps per split
  int ktiles = 0, mtiles = 0, ntiles = 0;
  size_t ws_nhwc = 0;  // workspace floats holding the NHWC input (mma), at the start of the workspace
  size_t ws = 0;       // all workspace floats: [NHWC input][split-K partial sums], or the GEMV's columns
  std::string kernel;  // e.g. "conv2d_nhwc_tf32_igemm_mma_64x64x16_s4 split-K 8", "gemv_f32_x1 4 rows/block"
};

IgemmPlan PlanConv(const ConvShape& s, Precision p, int sms);

// The math of the implicit GEMM for a precision.
Math MathOf(Precision p);
// The dtype part of kernel names: "f32", "tf32", "bf16", "f16".
const char* DtypeTag(Precision p);

}  // namespace vgg::cuda
