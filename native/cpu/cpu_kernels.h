// The CPU kernel tables: one table per ISA family, chosen once when the backend is made. Each ISA's
// translation unit (native/cpu/gemm_scalar.cpp, avx2/, avx512/ on x86-64, neon/ on aarch64; only the x86 folders
// need ISA compile flags) fills its table with kernels compiled from the shared templates in templates/ around its own
// microkernel. Every kernel is a real function whose symbol is the name the table, the plans, the tests
// and the benches use, e.g. vgg::cpu::conv2d_nchw_f32_3x3s1_winograd4x4__avx512.
//
// Convolution as GEMM: Y[K, N·P·Q] = W[K, C·R·S] × im2col(x)[C·R·S, N·P·Q] (+ bias, ReLU).
//  A = the weights, packed once (PackConvWeights) into KC-deep blocks of MR-row panels:
//      for each KC block pc (rows k of C·R·S), for each MR panel ip: kc × MR floats, a[k·MR + i];
//      rows K..Kpad-1 are zeros. Offset of panel (pc, ip) = pc·Kpad + ip·MR·kc.
//  B = im2col, never materialised: each thread packs KC × NC blocks straight from x into NR-wide
//      panels (kc × NR floats, the last panel narrower) inside its slice of the conv workspace.
//  Columns j = (n, p, q) span the batch.
// GEMV-shaped layers (one output position per image, P = Q = 1: the FC layers, at any batch) run the
// column-grouped GEMV (templates/gemv.h) over the same packed A instead.
// Every path computes each output in one order: bias, then a sequential chain of multiply-adds over
// k = 0 … C·R·S−1, then ReLU; so an image's result never depends on the batch it runs in.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/shapes.h"

namespace vgg::cpu {

// Everything one conv2d call needs, fixed for the call.
struct ConvGemmArgs {
  ConvShape s;
  int M = 0;                         // rows = output channels K
  int Mpad = 0;                      // M rounded up to MR
  int Kdim = 0;                      // reduction length C·R·S
  int cols = 0;                      // N·P·Q
  int PQ = 0;                        // P·Q
  const float* a = nullptr;          // packed weights (layout above)
  const uint16_t* a_bf16 = nullptr;  // or bf16 packed weights (precision bf16, layout at Bf16Kernels)
  const float* bias = nullptr;       // Mpad floats (zeros when the layer has none)
  bool relu = false;
  bool pool = false;         // y gets the 2×2/2 max pool of the output (maxpool2d's result, bit for bit)
  const float* x = nullptr;  // (N,C,H,W)
  float* y = nullptr;        // (N,K,P,Q), or (N,K,⌊P/2⌋,⌊Q/2⌋) with pool
};

// One thread's share of a GEMM: row panels [p0, p1) × columns [c0, c1), with its own scratch.
struct GemmTask {
  int p0 = 0, p1 = 0;
  int c0 = 0, c1 = 0;
  float* ws = nullptr;  // GemmWorkspacePerThread() floats, 64-byte aligned
};

// Winograd F(2×2, 3×3) for 3×3 stride-1 pad-1 convs (Lavin & Gray 2015): per output tile of 2×2 and
// channel pair, Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A over 4×4 input patches d, so the reduction over C becomes
// 16 independent GEMMs (one per transform point ξ = 4i + s): M_ξ[K, tiles] = U_ξ[K, C] × V_ξ[C, tiles].
//  U_ξ (weights, transformed once in pack_conv, in double, rounded to float) are packed like the GEMM's
//      A with Kdim = C: panel (pc, ip) of point ξ at ξ·C·Mpad + pc·Mpad + ip·MR·kc.
//  V_ξ (input transform of a block of tiles) are packed like the GEMM's B, kc × NR panels per KC block
//      of channels: point ξ at ξ·WinogradVPoint, block pc at pc·ntp (ntp: block capacity in tiles). They live in
//      the task's scratch (stage kAll), or in a buffer shared by every row group of the block (kInput
//      writes it, split over channels; kOutput reads it), so the transform is not redone per row group.
//  M_ξ land in a per-thread buffer (rows × ntp per point); the output transform adds the bias, applies
//  ReLU and writes the 2×2 outputs of each tile (clipped at odd P, Q).
// Multiply-adds per output: 16·C/4 = 4·C against 9·C for the direct GEMM (2.25× fewer).
struct WinogradArgs {
  ConvShape s;
  int M = 0, Mpad = 0;
  int tiles = 0;     // N · ceil(P/m) · ceil(Q/m) for tiles of m×m outputs; tile j = (n, ty, tx) in that order
  int ntp = 0;       // tile capacity of a thread's block buffers (a multiple of NR)
  int rows_cap = 0;  // row capacity of a thread's M buffer (a multiple of MR)
  const float* a = nullptr;     // 16 (or 36) · C · Mpad transformed, packed weights
  const float* bias = nullptr;  // Mpad floats
  bool relu = false;
  bool pool = false;         // y gets the 2×2/2 max pool of the output (maxpool2d's result, bit for bit)
  const float* x = nullptr;  // (N,C,H,W)
  float* y = nullptr;        // (N,K,P,Q), or (N,K,⌊P/2⌋,⌊Q/2⌋) with pool
};

// One Winograd task over tiles [c0, c1) of the block whose V is `v` (c0 a multiple of vl, c1 − c0 <= ntp):
//  kAll:    input transform into the task's own scratch, point GEMMs and output transform of rows [p0, p1);
//  kInput:  input transform of channels [ch0, ch1) into v (no GEMM, no output);
//  kOutput: point GEMMs and output transform of rows [p0, p1), reading v written by kInput tasks.
struct WinogradTask {
  enum Stage : int { kAll, kInput, kOutput };
  Stage stage = kAll;
  int p0 = 0, p1 = 0;
  int c0 = 0, c1 = 0;
  int ch0 = 0, ch1 = 0;
  float* v = nullptr;   // the block's shared V (points · C · ntp floats) for kInput and kOutput
  float* ws = nullptr;  // WinogradWorkspacePerThread(…, shared) floats, 64-byte aligned
};

// Floats from one point to the next in V (C × ntp) and in M (rows_cap × ntp): a cache line more than the
// point's block, because C·ntp·4 bytes is a multiple of 4 KB for every VGG layer and the transforms touch
// all points of a tile at once: unpadded, their lines would all fall into one L1 set.
inline size_t WinogradVPoint(int C, int ntp) { return size_t(C) * ntp + 16; }
inline size_t WinogradMPoint(int rows_cap, int ntp) { return size_t(rows_cap) * ntp + 16; }
// Floats of one block's V: `points` (16 for F(2×2), 36 for F(4×4)) points.
inline size_t WinogradInputFloats(int C, int ntp, int points) { return size_t(points) * WinogradVPoint(C, ntp); }
// Per-thread floats of the Winograd path: the M block of `points` points, the run table, and the V block
// unless V is shared.
inline size_t WinogradWorkspacePerThread(int C, int ntp, int rows_cap, int points, bool shared_input) {
  const size_t v = shared_input ? 0 : WinogradInputFloats(C, ntp, points);
  return (v + size_t(points) * WinogradMPoint(rows_cap, ntp) + size_t(ntp) * 8 + 15) / 16 * 16;
}

using ConvGemmFn = void(const ConvGemmArgs& g, const GemmTask& t);
// GEMV-shaped layers: row panels [t.p0, t.p1) × columns (images) [t.c0, t.c1), scratch
// GemvWorkspacePerThread() floats at t.ws (none for one column of an FC-shaped layer).
using ConvGemvFn = void(const ConvGemmArgs& g, const GemmTask& t);
using WinogradFn = void(const WinogradArgs& g, const WinogradTask& t);
using MaxPoolRowFn = void(const float* r0, const float* r1, float* y, int Q);

// A kernel and its symbol name.
template <class Fn>
struct Kernel {
  const char* name;
  Fn* fn;
};
// Kernel{"fn", &fn}: the name is the symbol's, so a plan names exactly what runs.
#define VGG_CPU_KERNEL(fn)           \
  ::vgg::cpu::Kernel<decltype(fn)> { \
#fn, &fn                         \
  }

struct IsaKernels {
  CpuIsa isa;
  int mr;      // rows per A panel
  int vl;      // column granularity (vector lanes)
  int nr;      // columns per B panel (a multiple of vl)
  int kc, nc;  // cache blocking: reduction depth, columns per packed B block
  // C·R·S × (N·P·Q) GEMM for one thread's task, e.g. gemm_f32_8x48__avx512.
  Kernel<ConvGemmFn> gemm;
  // GEMV for GEMV-shaped layers (P = Q = 1), reading the packed weights from memory once per call (per
  // kGemvPassColumns columns) and computing each output in the GEMM's order. `gemv` takes one column at a time (batch
  // 1; e.g. gemv_f32_8xk__avx512), `gemv_cols` groups of up to `gemv_group` columns whose accumulators share each
  // weight load (batch 2 and up; e.g. gemv_f32_8xk_n8__avx512). Both work on blocks of `gemv_panels` panels.
  int gemv_panels, gemv_group;
  Kernel<ConvGemvFn> gemv;
  Kernel<ConvGemvFn> gemv_cols;
  // Winograd F(2×2, 3×3), one WinogradTask (stage, row panels, tiles, channels: see there).
  Kernel<WinogradFn> winograd2x2;
  // Winograd F(4×4, 3×3), same contract with 36 points (tiles of 4×4 outputs).
  Kernel<WinogradFn> winograd4x4;
  // One output row of 2×2 stride-2 max pooling: y[q] = max of r0[2q], r0[2q+1], r1[2q], r1[2q+1] for
  // q < Q, scanned in that order with ref::maxpool2d's rule (the first NaN wins, ties keep the earlier
  // value, so ±0 and NaN payloads match the reference bit for bit).
  Kernel<MaxPoolRowFn> maxpool_2x2s2_row;
};

// The reference's scan step: m keeps a NaN; otherwise v replaces m when v is NaN or greater.
inline float MaxStep(float m, float v) { return (m != m) ? m : ((v != v || v > m) ? v : m); }

inline void MaxPool2x2s2RowScalar(const float* r0, const float* r1, float* y, int q0, int Q) {
  for (int q = q0; q < Q; ++q) {
    float m = r0[2 * q];
    m = MaxStep(m, r0[2 * q + 1]);
    m = MaxStep(m, r1[2 * q]);
    y[q] = MaxStep(m, r1[2 * q + 1]);
  }
}

// The kernels of each family (defined in that family's units).
// The kernels of each family (defined in that family's units; the x86 families exist only in x86-64
// builds, the NEON family only in aarch64 builds).
ConvGemmFn gemm_f32_4x8__scalar, gemm_f32_6x16__avx2, gemm_f32_8x48__avx512, gemm_f32_8x12__neon;
ConvGemvFn gemv_f32_4xk__scalar, gemv_f32_6xk__avx2, gemv_f32_8xk__avx512, gemv_f32_8xk__neon;
ConvGemvFn gemv_f32_4xk_n4__scalar, gemv_f32_6xk_n3__avx2, gemv_f32_8xk_n8__avx512, gemv_f32_8xk_n4__neon;
WinogradFn conv2d_nchw_f32_3x3s1_winograd2x2__scalar, conv2d_nchw_f32_3x3s1_winograd2x2__avx2,
    conv2d_nchw_f32_3x3s1_winograd2x2__avx512, conv2d_nchw_f32_3x3s1_winograd2x2__neon;
WinogradFn conv2d_nchw_f32_3x3s1_winograd4x4__scalar, conv2d_nchw_f32_3x3s1_winograd4x4__avx2,
    conv2d_nchw_f32_3x3s1_winograd4x4__avx512, conv2d_nchw_f32_3x3s1_winograd4x4__neon;
MaxPoolRowFn maxpool2d_nchw_f32_2x2s2__scalar, maxpool2d_nchw_f32_2x2s2__avx2, maxpool2d_nchw_f32_2x2s2__avx512,
    maxpool2d_nchw_f32_2x2s2__neon;

const IsaKernels& ScalarKernels();
const IsaKernels& Avx2Kernels();    // defined in avx2/ (only call when cpuid reports avx2+fma)
const IsaKernels& Avx512Kernels();  // defined in avx512/ (only call when cpuid reports avx512f+bw+vl+dq)
const IsaKernels& NeonKernels();    // defined in neon/ (aarch64; only call when hwcaps report asimd)

// A kernel family compiled into this binary: its option name ('scalar', 'avx2', 'avx512', 'neon') and
// whether this CPU runs it.
struct IsaFamily {
  CpuIsa isa;
  const char* name;
  bool supported;
  const IsaKernels& (*kernels)();
};
// The families of this build's architecture, scalar first (x86-64: scalar, avx2, avx512; aarch64:
// scalar, neon). One list drives dispatch, the tests' kernel list and the harness.
const std::vector<IsaFamily>& CompiledFamilies();

// bf16 compute (CpuPrecision::kBf16) for the GEMM-algorithm layers: the GEMM and the GEMVs with A in bf16.
// Same geometry as the family it extends (mr, nr, kc, nc, gemv_panels, gemv_group and so the planner's
// grids and workspace sizes are that family's), with A packed in K-pairs:
//   A (bf16, round to nearest even, subnormals flushed to ±0): KC-deep blocks as for f32, each block of kc
//     rows holding kcp = ceil(kc/2) pairs; panel (pc, ip) at element pc·Mpad + ip·MR·2·kcp, and within it
//     pair kp of row i at [kp·2·MR + 2i, +1] = (w[m][pc+2kp], w[m][pc+2kp+1]) (the second 0 past kc).
//     One pair is one 32-bit lane: a vdpbf16ps operand. Kdim rounds up to even (Kpad); rows ≥ K are 0.
//   B (activations): packed as for f32, then rounded to bf16 in the same K-pairs, in place in the workspace.
//   Each output: bias, then one fp32 chain of vdpbf16ps steps over the pairs in k order (each step adds the
//   two bf16·bf16 products, exact in fp32; the Intel SDM adds the odd one then the even one, each rounded
//   to nearest even, subnormals flushed; the tests' bound does not depend on that order), partial sums stored
//   in y between KC blocks, then ReLU. GEMV and GEMM paths share that chain per output, and each path's
//   chain does not depend on the batch or the threads (test/kernels-bf16.test.ts).
struct Bf16Kernels {
  Kernel<ConvGemmFn> gemm;       // e.g. gemm_bf16_8x48__avx512bf16
  Kernel<ConvGemvFn> gemv;       // batch 1: gemv_bf16_8xk__avx512bf16
  Kernel<ConvGemvFn> gemv_cols;  // batch ≥ 2: gemv_bf16_8xk_n8__avx512bf16
};
ConvGemmFn gemm_bf16_8x48__avx512bf16;
ConvGemvFn gemv_bf16_8xk__avx512bf16, gemv_bf16_8xk_n8__avx512bf16;
// The bf16 kernels over Avx512Kernels()'s geometry (avx512/gemm_bf16_avx512bf16.cpp; only call when cpuid
// reports avx512_bf16 besides the avx512 family).
const Bf16Kernels& Avx512Bf16Kernels();

// Round to nearest even of an f32 to bf16 (the upper 16 bits), as vcvtne2ps2bf16 does: subnormals flush
// to ±0, NaN stays NaN (quieted). The packing of A and the tests' reference use it.
inline uint16_t RoundToBf16(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) == 0) return uint16_t((u >> 16) & 0x8000u);           // ±0, subnormal → ±0
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x0040u);  // NaN, quieted
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// Floats of per-thread scratch that conv_gemm needs: a KC × NC B block plus the column-run table.
inline size_t GemmWorkspacePerThread(const IsaKernels& k, int kdim, int cols) {
  const int kc = kdim < k.kc ? kdim : k.kc;
  int nc = cols < k.nc ? cols : k.nc;
  nc = (nc + k.nr - 1) / k.nr * k.nr;
  const size_t runs = size_t(nc) * 8;  // column-run records (gemm_driver.h ColRun), stored in float-sized slots
  return (size_t(kc) * nc + runs + 15) / 16 * 16;
}

// Most columns of one GEMV pass over the weights: a task with more makes several passes, which keeps its
// packed block of B (KC × 256 floats) inside L2 (at that many columns the layer is compute-bound).
constexpr int kGemvPassColumns = 256;

// Floats of per-thread scratch of the GEMV path: a KC-deep block of a pass's columns, packed k-major.
inline size_t GemvWorkspacePerThread(const IsaKernels& k, int kdim, int cols) {
  const int kc = kdim < k.kc ? kdim : k.kc;
  const int pass = cols < kGemvPassColumns ? cols : kGemvPassColumns;
  return (size_t(kc) * pass + 15) / 16 * 16;
}

}  // namespace vgg::cpu
