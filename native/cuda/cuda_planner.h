// How the CUDA backend computes one conv: a pure function of the shape, the precision and the device's
// multiprocessor count, so that plan_conv (workspace size, kernel name) and conv2d (launch) always agree,
// and so that plans can be checked on a host without a GPU.
//   - N·P·Q ≤ kGemvMaxCols columns: im2col_columns_f32 into the workspace, then gemv_* (bandwidth bound);
//   - otherwise the implicit GEMM, SIMT fp32 (fp32) or wmma tensor cores (tf32, bf16, fp16), BM 64 for
//     K ≤ 64 output channels else 128, BN 128; when the tiles cannot fill two blocks per multiprocessor
//     the reduction is split (split-K ≤ 32, ≥ 4 main-loop steps each) into a [split][K][cols] workspace
//     and splitk_reduce_bias_relu_f32 sums the splits in a fixed order (deterministic, no atomics).
#pragma once
#include <cstddef>
#include <string>

#include "core/backend.h"
#include "cuda/cuda_kernels.h"

namespace vgg::cuda {

using Precision = CudaOptions::Precision;

struct IgemmPlan {
  bool gemv = false;  // the GEMV path (no tiles below)
  int bm = 0;         // rows (output channels) per block: 64 or 128
  int bk = 0;         // reduction per main-loop step
  int split = 1;      // split-K factor (1: none)
  int per = 0;        // main-loop steps per split
  int ktiles = 0, mtiles = 0, ntiles = 0;
  size_t ws = 0;       // workspace floats: the GEMV's gathered columns, or the split-K partial sums
  std::string kernel;  // e.g. "conv2d_nchw_tf32_igemm_wmma_128x128x32 split-K 4", "gemv_f32_x1"
};

IgemmPlan PlanConv(const ConvShape& s, Precision p, int sms);

// The math of the implicit GEMM for a precision.
Math MathOf(Precision p);
// The dtype part of kernel names: "f32", "tf32", "bf16", "f16".
const char* DtypeTag(Precision p);

}  // namespace vgg::cuda
