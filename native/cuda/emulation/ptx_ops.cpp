// Emulation of the PTX instructions of native/cuda/ptx.cuh with the ISA's fragment layouts (given there):
// ldmatrix .x4 and mma.sync m16n8k16 (bf16, f16) / m16n8k8 (tf32), each warp-collective. mma multiplies
// what the tensor cores read (tf32 operands: the upper 19 bits of each 32-bit value; 16-bit operands
// exactly), products exact in fp32, summed in k order with fp32 fused multiply-adds onto the accumulator.
#include <cstdint>
#include <cstring>

#include "cuda_bf16.h"
#include "cuda_fp16.h"
#include "vgg_emulation.h"

namespace vgg::emu {
namespace {

struct LdLane {
  const void* row;
  unsigned* r;
};

void LdMatrixComplete(void* const* lanes) {
  for (int l = 0; l < 32; ++l) {
    const void* row = static_cast<const LdLane*>(lanes[l])->row;
    if (reinterpret_cast<uintptr_t>(row) % 16)
      Fault("ldmatrix: lane %d gives row address %p, not 16-byte aligned", l, row);
    if (!InSharedMemory(row, 16))
      Fault("ldmatrix: lane %d gives row address %p, outside the block's shared memory", l, row);
  }
  for (int l = 0; l < 32; ++l)
    for (int i = 0; i < 4; ++i) {
      const auto* row = static_cast<const unsigned char*>(static_cast<const LdLane*>(lanes[8 * i + l / 4])->row);
      std::memcpy(&static_cast<const LdLane*>(lanes[l])->r[i], row + 4 * (l % 4), 4);
    }
}

struct MmaLane {
  MmaKind kind;
  float* d;
  const unsigned* a;
  const unsigned* b;
};

float Half(unsigned reg, int hi, MmaKind kind) {
  const uint16_t bits = uint16_t(hi ? reg >> 16 : reg & 0xffffu);
  return kind == MmaKind::kBf16 ? __bfloat162float(__nv_bfloat16{bits}) : __half2float(__half{bits});
}
float Tf32(unsigned reg) {
  const unsigned u = reg & 0xffffe000u;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void MmaComplete(void* const* lanes) {
  const MmaKind kind = static_cast<const MmaLane*>(lanes[0])->kind;
  for (int l = 1; l < 32; ++l)
    if (static_cast<const MmaLane*>(lanes[l])->kind != kind) Fault("mma.sync: lanes use different shapes or types");
  const int K = kind == MmaKind::kTf32 ? 8 : 16;
  float A[16][16], B[16][8], D[16][8];
  for (int l = 0; l < 32; ++l) {
    const MmaLane& m = *static_cast<const MmaLane*>(lanes[l]);
    const int g = l >> 2, t = l & 3;
    if (kind == MmaKind::kTf32) {
      A[g][t] = Tf32(m.a[0]);
      A[g + 8][t] = Tf32(m.a[1]);
      A[g][t + 4] = Tf32(m.a[2]);
      A[g + 8][t + 4] = Tf32(m.a[3]);
      B[t][g] = Tf32(m.b[0]);
      B[t + 4][g] = Tf32(m.b[1]);
    } else {
      for (int h = 0; h < 2; ++h) {
        A[g][2 * t + h] = Half(m.a[0], h, kind);
        A[g + 8][2 * t + h] = Half(m.a[1], h, kind);
        A[g][2 * t + 8 + h] = Half(m.a[2], h, kind);
        A[g + 8][2 * t + 8 + h] = Half(m.a[3], h, kind);
        B[2 * t + h][g] = Half(m.b[0], h, kind);
        B[2 * t + 8 + h][g] = Half(m.b[1], h, kind);
      }
    }
    D[g][2 * t] = m.d[0];
    D[g][2 * t + 1] = m.d[1];
    D[g + 8][2 * t] = m.d[2];
    D[g + 8][2 * t + 1] = m.d[3];
  }
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 8; ++j)
      for (int k = 0; k < K; ++k) D[i][j] = fmaf(A[i][k], B[k][j], D[i][j]);
  for (int l = 0; l < 32; ++l) {
    float* d = static_cast<const MmaLane*>(lanes[l])->d;
    const int g = l >> 2, t = l & 3;
    d[0] = D[g][2 * t];
    d[1] = D[g][2 * t + 1];
    d[2] = D[g + 8][2 * t];
    d[3] = D[g + 8][2 * t + 1];
  }
}

}  // namespace

void LdMatrixX4(unsigned (&r)[4], const void* row) {
  LdLane l{row, r};
  WarpCollective("ldmatrix.sync.aligned.m8n8.x4.shared.b16", &l, LdMatrixComplete);
}

void MmaSync(MmaKind kind, float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
  MmaLane l{kind, d, a, b};
  WarpCollective("mma.sync.aligned", &l, MmaComplete);
}

}  // namespace vgg::emu
