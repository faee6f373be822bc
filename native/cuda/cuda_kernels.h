// The CUDA kernels of native/cuda and their host-side launchers, named by op, layout, dtype,
// specialisation and tile. Only plain C/CUDA-runtime types cross this header, so the backend
// (cuda_backend.cpp) is ordinary C++; the kernels live in the .cu files, one family per file so a
// parallel build compiles them side by side.
//
// Every launcher launches through Launch<kernel>(grid, block, smem, stream, args...) (launch.cuh), never
// <<<...>>>: CI compiles these files as plain C++ for the host emulation (native/cuda/emulation), where a
// launch runs the kernel on the CPU. Launch returns cudaGetLastError() after the launch:
// launch-configuration errors surface there, errors inside a kernel at the next synchronising call.
// cudaGetLastError() also returns an error that was pending before the launch, so a caller that names
// the kernel in its report checks cudaPeekAtLastError() first (CudaBackend::Run does).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace vgg::cuda {

// How conv2d multiplies: the math of the implicit GEMM and the storage of the packed weights.
//   kSimt: fp32 FMA over NCHW input;  kTf32: mma.sync m16n8k8 tf32;  kBf16 / kFp16: mma.sync m16n8k16
//   (tensor cores over NHWC input in the compute type, fp32 accumulation).
// Packed weights are float for kSimt, float rounded to tf32 for kTf32, __nv_bfloat16 for kBf16, __half
// for kFp16.
enum class Math { kSimt = 0, kTf32 = 1, kBf16 = 2, kFp16 = 3 };

// SIMT tiles (256 threads). BM: rows (output channels) per block, 64 or 128; BN: columns (N·P·Q) per
// block; BK: reduction (C·R·S) per main-loop step.
constexpr int kThreads = 256;
constexpr int kBN = 128;
constexpr int kBkSimt = 16;
// Tensor-core tiles: BM × BN outputs per block of `threads`, a `stages`-deep cp.async pipeline of k-tiles
// of 64 bytes of reduction per row (kBkMmaBytes: 32 bf16/f16 or 16 tf32 elements).
enum class MmaTile { k128x128, k64x128, k64x64 };
struct MmaTileShape {
  int bm, bn, threads, stages;
};
constexpr MmaTileShape ShapeOf(MmaTile t) {
  return t == MmaTile::k128x128  ? MmaTileShape{128, 128, 256, 3}
         : t == MmaTile::k64x128 ? MmaTileShape{64, 128, 256, 4}
                                 : MmaTileShape{64, 64, 128, 4};
}
constexpr int kBkMmaBytes = 64;
// Packed weights: rows padded to a multiple of kRowPad, the reduction to a multiple of kRedPad (zeros),
// so GEMM/GEMV tiles load A without bounds checks.
constexpr int kRowPad = 128;
constexpr int kRedPad = 32;
// Columns at or below this run the GEMV path (bandwidth bound: batch-1..8 FC layers).
constexpr int kGemvMaxCols = 8;

// Implicit-GEMM conv: y (N,K,P,Q) = A (K × C·R·S) · im2col(x) (C·R·S × N·P·Q) [+ bias, ReLU].
// Column n ↦ (img, p, q) with n = img·P·Q + p·Q + q; reduction j ↦ (c, r, s) through `kdec`: for kSimt
// j = (c·R + r)·S + s (OIHW order), for the tensor-core maths j = (r·S + s)·Cp + c (KRSC, channels
// padded to Cp).
struct ConvArgs {
  const float* x = nullptr;     // input (N,C,H,W) NCHW
  const void* xh = nullptr;     // tensor-core maths: the input as (N,H,W,Cp) NHWC in the compute type
  const void* A = nullptr;      // packed weights [Mpad][Kpad], row-major, element type per Math
  const float* bias = nullptr;  // [Mpad], zeros where the layer has no bias
  const int2* kdec = nullptr;   // [Kpad]: {c, r<<16 | s} for a weight of the layer, {-1, 0} for padding
  float* y = nullptr;           // output (N,K,P,Q), written when partial == nullptr
  float* partial = nullptr;     // split-K: [split][K][cols] raw sums (no bias/ReLU), else nullptr
  int C = 0, H = 0, W = 0, K = 0, P = 0, Q = 0, R = 0, S = 0, stride = 1, pad = 0;
  int Cp = 0;    // channels of xh: C rounded up to 16 bytes of the compute type (tensor-core maths)
  int Kpad = 0;  // padded reduction length = row stride of A
  int cols = 0;  // N·P·Q
  int PQ = 0, HW = 0;
  long long CHW = 0;         // input floats per image (< 2^31: checked by the backend)
  long long KPQ = 0;         // output floats per image
  int ktiles = 0;            // Kpad / BK
  int ktiles_per_split = 0;  // main-loop steps per blockIdx.y
  int mtiles = 0;            // ceil(K / BM); blockIdx.x = ntile · mtiles + mtile
  int ntiles = 0;            // ceil(cols / BN)
  int relu = 0;
};

// conv2d_nchw_f32_igemm_simt_{bm}x128x16: fp32 FMA, 8×8 (bm 128) or 4×8 (bm 64) outputs per thread.
cudaError_t LaunchConvSimt(const ConvArgs& a, int bm, int split, cudaStream_t stream);
// conv2d_nhwc_{tf32,bf16,f16}_igemm_mma_{bm}x{bn}x{32|16}_s{stages}: tensor cores (conv_mma.cuh) over
// a.xh, fp32 accumulation; `math` one of kTf32, kBf16, kFp16.
cudaError_t LaunchConvMma(Math math, const ConvArgs& a, MmaTile tile, int split, cudaStream_t stream);
// nchw_to_nhwc_{tf32,bf16,f16}: xh (N,H,W,Cp) = x (N,C,H,W) converted to the compute type of `math`
// (round to nearest even; tf32: cvt.rna), zeros in channels C..Cp−1.
cudaError_t LaunchNchwToNhwc(Math math, const float* x, int N, int C, int HW, int Cp, void* xh, cudaStream_t stream);

// splitk_reduce_bias_relu_f32: y = [relu](Σ_z partial[z] + bias), summed in z order (deterministic).
cudaError_t LaunchSplitkReduce(const float* partial, int split, int K, int cols, int PQ, const float* bias, int relu,
                               float* y, cudaStream_t stream);

// im2col_columns_f32: out[col][j] (ncols × Kpad, zeros for j ≥ C·R·S) — the few columns of a GEMV.
cudaError_t LaunchIm2colColumns(const ConvArgs& a, float* out, cudaStream_t stream);

// gemv_{f32,bf16w,f16w}_x{ncols}: y[:, col] = [relu](A · cols[col] + bias) for ncols ≤ kGemvMaxCols;
// one warp per row, `threads` (128 or 256) per block, 16-byte loads of A, fp32 accumulation. `cols` is
// im2col_columns' output.
cudaError_t LaunchGemv(Math math, const void* A, int Kpad, const float* bias, const float* cols, int ncols, int K,
                       int PQ, int relu, int threads, float* y, cudaStream_t stream);

// pack_weights_{f32,tf32,bf16,f16}: w (K, C, R·S) OIHW into A[Mpad][Kpad] in the storage type of `math`
// (round to nearest even; tf32: cvt.rna), zeros in the padding. Cp = 0: A[m][c·RS + rs] (OIHW order,
// kSimt); Cp ≥ C: A[m][rs·Cp + c] (KRSC, the tensor-core maths).
cudaError_t LaunchPackWeights(Math math, const float* w, int K, int C, int RS, int Cp, int Mpad, int Kpad, void* A,
                              cudaStream_t stream);

// Plain fp32 ops, one thread per output.
cudaError_t LaunchMaxpool(const float* x, float* y, long long NC, int H, int W, int P, int Q, int window, int stride,
                          cudaStream_t stream);
cudaError_t LaunchRelu(float* x, long long n, cudaStream_t stream);
cudaError_t LaunchAdaptiveAvgpool(const float* x, float* y, long long NC, int H, int W, int P, int Q,
                                  cudaStream_t stream);
cudaError_t LaunchLrn(const float* x, float* y, int N, int C, long long HW, int size, float alpha, float beta, float k,
                      cudaStream_t stream);

// A cheap attribute query on one of our kernels: cudaErrorNoKernelImageForDevice (or
// cudaErrorInvalidDeviceFunction) when this binary has no SASS/PTX the current device can run.
cudaError_t CheckKernelImage();

}  // namespace vgg::cuda
