#include "cpu/conv_pack.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "cpu/conv_planner.h"

namespace vgg::cpu {

namespace {

// Rows [m0, m1) of the bias (b: row m0 on; rows ≥ K are zeros).
void PackBias(const float* b, int K, int m0, int m1, float* dst) {
  for (int m = m0; m < m1; ++m) dst[m] = (b && m < K) ? b[m - m0] : 0.f;
}

// A: KC-deep blocks of MR-row panels (layout in cpu_kernels.h), rows [m0, m1) of Mpad (w: row m0 on; rows
// ≥ K are zeros). Panels of one KC block are independent: packed in parallel (FC6 is 103M floats).
void PackGemmPanels(const IsaKernels& k, ThreadPool& pool, const ConvShape& s, const float* w, int Kd, int Mpad,
                    float* dst, int m0, int m1) {
  const int MR = k.mr, KC = k.kc, pa = m0 / MR, panels = (m1 + MR - 1) / MR - pa;
  for (int p0 = 0; p0 < Kd; p0 += KC) {
    const int kc = std::min(KC, Kd - p0);
    float* block = dst + size_t(p0) * Mpad;
    pool.Run(pool.threads(), [&](int t) {
      const int ia = pa + int(int64_t(panels) * t / pool.threads());
      const int ib = pa + int(int64_t(panels) * (t + 1) / pool.threads());
      for (int ip = ia; ip < ib; ++ip) {
        float* panel = block + size_t(ip) * MR * kc;
        for (int i = std::max(0, m0 - ip * MR); i < std::min(MR, m1 - ip * MR); ++i) {
          const int m = ip * MR + i;
          const float* wr = m < s.K ? w + size_t(m - m0) * Kd + p0 : nullptr;
          for (int kk = 0; kk < kc; ++kk) panel[size_t(kk) * MR + i] = wr ? wr[kk] : 0.f;
        }
      }
    });
  }
}

// A in bf16 K-pairs (cpu_kernels.h Bf16Kernels): the f32 layout with each KC block's rows paired, kc rounded
// up to even with a zero; every value rounded to nearest even (RoundToBf16).
void PackGemmPanelsBf16(const IsaKernels& k, ThreadPool& pool, const ConvShape& s, const float* w, int Kd, int Mpad,
                        uint16_t* dst, int m0, int m1) {
  const int MR = k.mr, KC = k.kc, pa = m0 / MR, panels = (m1 + MR - 1) / MR - pa;
  for (int p0 = 0; p0 < Kd; p0 += KC) {
    const int kc = std::min(KC, Kd - p0), kcp = (kc + 1) / 2;
    uint16_t* block = dst + size_t(p0) * Mpad;
    pool.Run(pool.threads(), [&](int t) {
      const int ia = pa + int(int64_t(panels) * t / pool.threads());
      const int ib = pa + int(int64_t(panels) * (t + 1) / pool.threads());
      for (int ip = ia; ip < ib; ++ip) {
        uint16_t* panel = block + size_t(ip) * MR * 2 * kcp;
        for (int i = std::max(0, m0 - ip * MR); i < std::min(MR, m1 - ip * MR); ++i) {
          const int m = ip * MR + i;
          const float* wr = m < s.K ? w + size_t(m - m0) * Kd + p0 : nullptr;
          for (int kk = 0; kk < 2 * kcp; ++kk)
            panel[size_t(kk / 2) * 2 * MR + 2 * i + (kk & 1)] = (wr && kk < kc) ? RoundToBf16(wr[kk]) : uint16_t(0);
        }
      }
    });
  }
}

// U_ξ = (G g Gᵀ)[i][s], ξ = (m+2)·i + s, computed in double and rounded once to float, packed like the
// GEMM's A with Kdim = C: panel (pc, ip) of point ξ at ξ·C·Mpad + pc·Mpad + ip·MR·kc.
// F(2×2): G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1];
// F(4×4): G = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1/24 1/12 ⅙; 1/24 −1/12 ⅙; 0 0 1] (Lavin & Gray 2015).
// Rows [m0, m1) of Mpad, as PackGemmPanels.
void PackWinogradPanels(const IsaKernels& k, ThreadPool& pool, const ConvShape& s, const float* w, int m, int Mpad,
                        float* dst, int m0, int m1) {
  static const double kG2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  static const double kG4[6][3] = {{1.0 / 4, 0, 0},
                                   {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                   {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                   {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                   {0, 0, 1}};
  const int A = m + 2, NP = A * A;
  const double* G = m == 4 ? &kG4[0][0] : &kG2[0][0];
  const int MR = k.mr, KC = k.kc, C = s.C, K = s.K;
  const int pa = m0 / MR;
  pool.Run((m1 + MR - 1) / MR - pa, [&](int j) {
    const int ip = pa + j;
    for (int i = std::max(0, m0 - ip * MR); i < std::min(MR, m1 - ip * MR); ++i) {
      const int kk = ip * MR + i;
      for (int c = 0; c < C; ++c) {
        double u[36] = {};
        if (kk < K) {
          const float* g = w + (size_t(kk - m0) * C + c) * 9;
          double gg[6][3];  // G g
          for (int r = 0; r < A; ++r)
            for (int t = 0; t < 3; ++t)
              gg[r][t] = G[r * 3 + 0] * g[t] + G[r * 3 + 1] * g[3 + t] + G[r * 3 + 2] * g[6 + t];
          for (int r = 0; r < A; ++r)
            for (int q = 0; q < A; ++q)
              u[r * A + q] = gg[r][0] * G[q * 3 + 0] + gg[r][1] * G[q * 3 + 1] + gg[r][2] * G[q * 3 + 2];
        }
        const int pcb = c / KC * KC, kc = std::min(KC, C - pcb);
        for (int xi = 0; xi < NP; ++xi)
          dst[size_t(xi) * C * Mpad + size_t(pcb) * Mpad + size_t(ip) * MR * kc + size_t(c - pcb) * MR + i] =
              float(u[xi]);
      }
    }
  });
}

}  // namespace

Status PackConvBegin(const IsaKernels& k, const ConvShape& s, ConvAlgorithm algorithm, bool bf16,
                     std::unique_ptr<CpuPackedConv>* out) {
  if (s.K < 1 || s.C < 1 || s.R < 1 || s.S < 1) return InvalidArgument("cpu.pack_conv: K, C, R, S must be >= 1");
  const int64_t kdim = int64_t(s.C) * s.R * s.S;
  if (kdim > (int64_t(1) << 30) || s.K > (1 << 24)) return Unsupported("cpu.pack_conv: layer too large");
  const int m = WinogradTile(algorithm);
  if (algorithm != ConvAlgorithm::kGemm && !(m && WinogradEligible(s)))
    return Unsupported(std::string("cpu.pack_conv: algorithm '") + ConvAlgorithmName(algorithm) +
                       "' cannot serve this layer (Winograd needs 3x3, stride 1, pad 1, C and K >= 64)");
  auto pc = std::make_unique<CpuPackedConv>();
  pc->K = s.K;
  pc->C = s.C;
  pc->R = s.R;
  pc->S = s.S;
  pc->kernels = &k;
  pc->algo = algorithm;
  pc->winograd = m;
  pc->Mpad = (s.K + k.mr - 1) / k.mr * k.mr;
  pc->Kdim = int(kdim);
  if (bf16 && m) return InvalidArgument("cpu.pack_conv: bf16 weights serve the GEMM algorithm only");
  pc->bf16 = bf16;
  // bf16: Kpad × Mpad halves, Kpad = Kdim rounded up to even, in floats.
  const size_t n = m      ? size_t(m + 2) * (m + 2) * s.C * pc->Mpad
                   : bf16 ? size_t(kdim + 1) / 2 * pc->Mpad
                          : size_t(kdim) * pc->Mpad;
  // 16 floats past the end, zeros: a kernel's full-vector loads of the last panel (avx2 GEMV: 8 floats
  // of a 6-row panel) stay inside the buffer.
  pc->a.reset(AlignedFloats(n + 16));
  pc->bias.reset(AlignedFloats(size_t(pc->Mpad)));
  if (!pc->a || !pc->bias) return DeviceError("cpu.pack_conv: out of host memory for " + std::to_string(n) + " floats");
  std::fill(pc->a.get() + n, pc->a.get() + n + 16, 0.f);
  *out = std::move(pc);
  return {};
}

Status PackConvRows(const IsaKernels& k, ThreadPool& pool, CpuPackedConv* pc, int k0, int k1, const float* w,
                    const float* b) {
  if (pc->kernels != &k) return InvalidArgument("cpu.pack_conv_rows: weights allocated by another backend");
  if (!(0 <= k0 && k0 < k1 && k1 <= pc->K))
    return InvalidArgument("cpu.pack_conv_rows: expected 0 <= k0 < k1 <= " + std::to_string(pc->K) + ", got [" +
                           std::to_string(k0) + ", " + std::to_string(k1) + ")");
  if (!w) return InvalidArgument("cpu.pack_conv_rows: weights missing");
  const ConvShape s{1, pc->C, 1, 1, pc->K, pc->R, pc->S, 1, 0};
  const int m1 = k1 == pc->K ? pc->Mpad : k1;  // the last band also writes the zero rows up to Mpad
  if (pc->winograd) PackWinogradPanels(k, pool, s, w, pc->winograd, pc->Mpad, pc->a.get(), k0, m1);
  else if (pc->bf16)
    PackGemmPanelsBf16(k, pool, s, w, pc->Kdim, pc->Mpad, reinterpret_cast<uint16_t*>(pc->a.get()), k0, m1);
  else PackGemmPanels(k, pool, s, w, pc->Kdim, pc->Mpad, pc->a.get(), k0, m1);
  PackBias(b, pc->K, k0, m1, pc->bias.get());
  return {};
}

Status PackConv(const IsaKernels& k, ThreadPool& pool, const ConvShape& s, ConvAlgorithm algorithm, const float* w,
                const float* b, bool bf16, std::unique_ptr<CpuPackedConv>* out) {
  std::unique_ptr<CpuPackedConv> pc;
  VGG_RETURN_IF_ERROR(PackConvBegin(k, s, algorithm, bf16, &pc));
  VGG_RETURN_IF_ERROR(PackConvRows(k, pool, pc.get(), 0, s.K, w, b));
  *out = std::move(pc);
  return {};
}

}  // namespace vgg::cpu
