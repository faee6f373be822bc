// The warp-level tensor-core and asynchronous-copy instructions of the implicit-GEMM conv kernels, as
// inline PTX (PTX ISA "Warp Level Matrix Multiply-Accumulate Instructions": mma, ldmatrix; "Data
// Movement and Conversion Instructions": cp.async). In the host emulation (VGGNET_CUDA_EMULATION) each
// one calls its emulation (native/cuda/emulation/ptx_ops.cpp), which follows the ISA's documented
// fragment layouts and checks its operand rules. All need sm_80 or newer: on older targets they trap
// (the backend never launches the tensor-core kernels there).
//
// Fragment layouts (groupID g = lane >> 2, threadID_in_group t = lane % 4), as the ISA documents them:
//   mma.m16n8k16 .bf16/.f16: a[0] = A(g, 2t..2t+1), a[1] = A(g+8, 2t..), a[2] = A(g, 2t+8..), a[3] = A(g+8,
//     2t+8..) (two 16-bit elements per register, the lower column in the low half); b[0] = B(2t..2t+1, g),
//     b[1] = B(2t+8..2t+9, g); c/d[0..3] = C(g, 2t), C(g, 2t+1), C(g+8, 2t), C(g+8, 2t+1).
//   mma.m16n8k8 .tf32: a[0] = A(g, t), a[1] = A(g+8, t), a[2] = A(g, t+4), a[3] = A(g+8, t+4); b[0] = B(t, g),
//     b[1] = B(t+4, g); c/d as above.
//   ldmatrix.m8n8.x4.b16: lanes 8i..8i+7 give the row addresses (16 bytes each) of matrix i; register i of
//     lane l receives the 4 bytes at byte 4·(l % 4) of row l / 4 of matrix i. For 32-bit data this is
//     element (l / 4, l % 4) of an 8×4 matrix: the tf32 A and B fragments above.
#pragma once
#include <cuda_runtime.h>

#include "cuda/cuda_kernels.h"

namespace vgg::cuda {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#define VGG_PTX_SM80(...) __trap()
#else
#define VGG_PTX_SM80(...) __VA_ARGS__
#endif

#if !VGGNET_CUDA_EMULATION
__device__ __forceinline__ unsigned SharedAddress(const void* p) { return unsigned(__cvta_generic_to_shared(p)); }
#endif

// ldmatrix.sync.aligned.m8n8.x4.shared.b16: four 8×8 matrices of 16-bit elements (rows in shared memory).
__device__ __forceinline__ void LdMatrixX4(unsigned (&r)[4], const void* row) {
#if VGGNET_CUDA_EMULATION
  emu::LdMatrixX4(r, row);
#else
  VGG_PTX_SM80(asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                            : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                            : "r"(SharedAddress(row))));
#endif
}

// d += A·B on tensor cores with fp32 accumulation: mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16} for
// kBf16/kFp16, mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 for kTf32.
template <Math M>
__device__ __forceinline__ void MmaSync(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
  static_assert(M == Math::kTf32 || M == Math::kBf16 || M == Math::kFp16, "tensor-core math");
#if VGGNET_CUDA_EMULATION
  emu::MmaSync(M == Math::kTf32   ? emu::MmaKind::kTf32
               : M == Math::kBf16 ? emu::MmaKind::kBf16
                                  : emu::MmaKind::kFp16,
               d, a, b);
#else
  if constexpr (M == Math::kBf16)
    VGG_PTX_SM80(asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1])));
  else if constexpr (M == Math::kFp16)
    VGG_PTX_SM80(
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                     "{%0, %1, %2, %3};\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1])));
  else
    VGG_PTX_SM80(
        asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                     "{%0, %1, %2, %3};\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1])));
#endif
}

// cp.async.cg.shared.global: 16 bytes from global to shared memory, bypassing L1; when !valid nothing is
// read and the 16 bytes are zero-filled (src-size 0). Both addresses 16-byte aligned.
__device__ __forceinline__ void CpAsync16(void* smem, const void* gmem, bool valid) {
#if VGGNET_CUDA_EMULATION
  emu::CpAsync(smem, gmem, 16, valid ? 16 : 0);
#else
  VGG_PTX_SM80(asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(SharedAddress(smem)), "l"(gmem),
                            "r"(valid ? 16 : 0)
                            : "memory"));
#endif
}

// cp.async.commit_group: the copies issued since the last commit form one group.
__device__ __forceinline__ void CpAsyncCommit() {
#if VGGNET_CUDA_EMULATION
  emu::CpAsyncCommit();
#else
  VGG_PTX_SM80(asm volatile("cp.async.commit_group;\n" ::: "memory"));
#endif
}

// cp.async.wait_group N: waits until at most N of this thread's newest groups are still in flight.
template <int N>
__device__ __forceinline__ void CpAsyncWait() {
#if VGGNET_CUDA_EMULATION
  emu::CpAsyncWait(N);
#else
  VGG_PTX_SM80(asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory"));
#endif
}

// cvt.rna.tf32.f32: v rounded to tf32 (10-bit mantissa, ties away from zero), in an fp32 with the low 13
// bits zero, as the tensor cores read it.
__device__ __forceinline__ float RoundTf32(float v) {
#if VGGNET_CUDA_EMULATION
  unsigned u = __float_as_uint(v);
  if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;  // finite values; NaN/Inf kept
  return __uint_as_float(u);
#else
  unsigned u = 0;
  VGG_PTX_SM80(asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(u) : "f"(v)));
  return __uint_as_float(u);
#endif
}

#undef VGG_PTX_SM80

}  // namespace vgg::cuda
