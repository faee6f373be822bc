// Kernel templates shared by every ISA family. These are NOT normal headers: each ISA translation unit
// (gemm_scalar.cpp, avx2/gemm_avx2.cpp, avx512/gemm_avx512.cpp) includes <cstddef>, <cstdint>,
// <cstring> and cpu/cpu_kernels.h first, then includes templates/*.h inside its own anonymous
// namespace, so that every function here is compiled with that unit's ISA flags and stays private to it
// (no inline function compiled with -mavx512f can leak into the scalar path).
//
// This file: the blocked conv-as-GEMM (ConvGemm) and what the other templates share (Min, Max, tile flags).
//
// The unit supplies a traits class T with:
//   static constexpr int kMR, kVL, kNV, kKC, kNC;   // NR = kNV·kVL
//   template <int NV> static void Tile(int kc, const float* a, const float* b, float* c, size_t ldc,
//                                      int flags, const float* bias);
//     c[i·ldc + j] (i < MR, j < NV·VL)  = (flags & kTileFirst ? bias[i] : c[i·ldc + j]) + Σ_k a[k·MR+i]·b[k·NV·VL+j],
//     then max(0, ·) when flags & kTileRelu (NaN and −0 kept, like ref::conv2d).
//   static void GemvPanel(const float* A, int Mpad, int Kdim, int ip, const float* x, float* out);
//     out[i] = Σ_k A(ip·MR + i, k)·x[k] over the packed weights (i < MR), in a fixed order.
//   static void CopyRun(float* d, const float* src, int len, int i0, int i1);
//     d[i] = (i0 <= i < i1) ? src[i] : 0 for i < len <= NR; src[i] outside [i0, i1) is never read.
//
// Loop nest of one thread's task (BLIS order, A and B swapped because C is row-major (K, N·P·Q)):
//   jc (NC columns) → pc (KC deep): pack B block from x (im2col fused) → ip (MR-row A panel, stays in L1)
//   → jr (NR-column B panel, streamed from L2) → Tile. Bias is added in the first KC pass, ReLU in the
//   last. Between KC passes the partial sum lives in y itself, so every output is one sequential chain
//   of FMAs in k order: results are bit-identical for any thread count (and any KC/NC).

enum : int { kTileFirst = 1, kTileRelu = 2 };

inline int Min(int a, int b) { return a < b ? a : b; }
inline int Max(int a, int b) { return a > b ? a : b; }

// A run of consecutive GEMM columns inside one output row (n, p) and one B panel.
struct ColRun {
  int64_t xoff;   // n·C·H·W
  int32_t h0;     // p·stride − pad
  int32_t w0;     // q·stride − pad of the first column
  int32_t len;    // columns in the run
  int32_t panel;  // B panel index within the block
  int32_t lane;   // first column within the panel
  int32_t unused;
};
static_assert(sizeof(ColRun) == 8 * sizeof(float), "ColRun occupies eight float slots of the workspace");

inline int BuildRuns(const ConvShape& s, int PQ, int Q, int NR, int jc, int nc, ColRun* runs) {
  int nruns = 0;
  const int64_t img = int64_t(s.C) * s.H * s.W;
  for (int j = jc, end = jc + nc; j < end;) {
    const int n = j / PQ, rem = j - n * PQ, p = rem / Q, q = rem - p * Q;
    const int jj = j - jc, panel = jj / NR, lane = jj - panel * NR;
    const int len = Min(Min(Q - q, NR - lane), end - j);
    runs[nruns++] = {n * img, p * s.stride - s.pad, q * s.stride - s.pad, len, panel, lane, 0};
    j += len;
  }
  return nruns;
}

// Packs rows [pc, pc+kc) × the block's columns of im2col(x) into NR-wide panels (the last one
// tail_w wide, zero-filled past the block's columns). Padding positions are zeros.
template <class T>
__attribute__((noinline)) void PackB(const ConvShape& s, const float* x, int pc, int kc, int nc, const ColRun* runs,
                                     int nruns, float* bbuf) {
  constexpr int NR = T::kNV * T::kVL, VL = T::kVL;
  const int full = nc / NR, tail_cols = nc - full * NR;
  const int tail_w = (tail_cols + VL - 1) / VL * VL;
  const int RS = s.R * s.S;
  const size_t plane = size_t(s.H) * s.W;
  const int c_start = pc / RS, rs0 = pc - c_start * RS, r_start = rs0 / s.S, t_start = rs0 - r_start * s.S;
  // Run-major: each run fills its panel rows kk = 0..kc-1 in order, so the stores stream through one
  // panel at a time; the source rows it reads (C·R rows of <= NR+S floats) stay in L1/L2.
  for (int ri = 0; ri < nruns; ++ri) {
    const ColRun& run = runs[ri];
    const int w_panel = run.panel < full ? NR : tail_w;
    float* d = bbuf + size_t(run.panel) * kc * NR + run.lane;
    const int len = run.len;
    const float* xn = x + run.xoff;
    int c = c_start, r = r_start, t = t_start;
    for (int kk = 0; kk < kc;) {
      // Stride 1 and a whole group of S rows (same c, r; t = 0..S-1) inside the block: the S rows
      // read one source row at shifts 0..S-1.
      const int group = (s.stride == 1 && t == 0 && kk + s.S <= kc) ? s.S : 1;
      const int h = run.h0 + r;
      float* dk = d + size_t(kk) * w_panel;
      if (h < 0 || h >= s.H) {
        for (int g = 0; g < group; ++g) T::CopyRun(dk + g * w_panel, xn, len, 0, 0);
      } else {
        const float* srow = xn + size_t(c) * plane + size_t(h) * s.W;
        if (s.stride == 1) {
          for (int g = 0; g < group; ++g) {
            const int ws = run.w0 + t + g;  // valid columns i: 0 <= ws + i < W
            const int i0 = Min(len, Max(0, -ws)), i1 = Max(i0, Min(len, s.W - ws));
            T::CopyRun(dk + g * w_panel, srow + ws, len, i0, i1);
          }
        } else {
          const int ws = run.w0 + t;
          for (int i = 0; i < len; ++i) {
            const int w = ws + i * s.stride;
            dk[i] = (w >= 0 && w < s.W) ? srow[w] : 0.f;
          }
        }
      }
      kk += group;
      t += group;
      while (t >= s.S) {
        t -= s.S;
        if (++r == s.R) {
          r = 0;
          ++c;
        }
      }
    }
  }
  if (tail_cols < tail_w) {
    float* d = bbuf + size_t(full) * kc * NR;
    for (int kk = 0; kk < kc; ++kk)
      for (int i = tail_cols; i < tail_w; ++i) d[size_t(kk) * tail_w + i] = 0.f;
  }
}

// Portable CopyRun (see the traits contract above).
inline void CopyRunGeneric(float* d, const float* src, int len, int i0, int i1) {
  for (int i = 0; i < i0; ++i) d[i] = 0.f;
  for (int i = i0; i < i1; ++i) d[i] = src[i];
  for (int i = i1; i < len; ++i) d[i] = 0.f;
}

template <class T, int NV>
inline void TileNV(int kc, const float* a, const float* b, float* c, size_t ldc, int flags, const float* bias) {
  T::template Tile<NV>(kc, a, b, c, ldc, flags, bias);
}

template <class T>
inline void TileDispatch(int nv, int kc, const float* a, const float* b, float* c, size_t ldc, int flags,
                         const float* bias) {
  if constexpr (T::kNV >= 4) {
    if (nv == 4) return TileNV<T, 4>(kc, a, b, c, ldc, flags, bias);
  }
  if constexpr (T::kNV >= 3) {
    if (nv == 3) return TileNV<T, 3>(kc, a, b, c, ldc, flags, bias);
  }
  if constexpr (T::kNV >= 2) {
    if (nv == 2) return TileNV<T, 2>(kc, a, b, c, ldc, flags, bias);
  }
  TileNV<T, 1>(kc, a, b, c, ldc, flags, bias);
}

template <class T>
void ConvGemm(const ConvGemmArgs& g, const GemmTask& task) {
  constexpr int MR = T::kMR, VL = T::kVL, NR = T::kNV * T::kVL, KC = T::kKC, NC = T::kNC;
  const ConvShape& s = g.s;
  const int Kd = g.Kdim, PQ = g.PQ, Q = s.Q(), M = g.M;
  const size_t img = size_t(M) * PQ;  // floats of one image of y
  const int kc_max = Min(KC, Kd);
  const int nc_max = (Min(NC, g.cols) + NR - 1) / NR * NR;
  float* bbuf = task.ws;
  ColRun* runs = reinterpret_cast<ColRun*>(task.ws + size_t(kc_max) * nc_max);
  alignas(64) float tmp[MR * NR];

  for (int jc = task.c0; jc < task.c1; jc += NC) {
    const int nc = Min(NC, task.c1 - jc);
    const int nruns = BuildRuns(s, PQ, Q, NR, jc, nc, runs);
    for (int pc = 0; pc < Kd; pc += KC) {
      const int kc = Min(KC, Kd - pc);
      PackB<T>(s, g.x, pc, kc, nc, runs, nruns, bbuf);
      const int flags = (pc == 0 ? kTileFirst : 0) | (g.relu && pc + kc == Kd ? kTileRelu : 0);
      auto tile = [&](int ip, int jj, int panel) {
        const float* a = g.a + size_t(pc) * g.Mpad + size_t(ip) * MR * kc;
        const int m0 = ip * MR;
        const int rows = Min(MR, M - m0);
        const float* bias = g.bias + m0;
        const int nr = Min(NR, nc - jj), nv = (nr + VL - 1) / VL;
        const float* b = bbuf + size_t(panel) * kc * NR;
        const int j = jc + jj, n = j / PQ, pq = j - n * PQ;
        if (rows == MR && nr == nv * VL && pq + nr <= PQ) {
          TileDispatch<T>(nv, kc, a, b, g.y + n * img + size_t(m0) * PQ + pq, size_t(PQ), flags, bias);
          return;
        }
        // Edge tile (partial rows, partial vector, or columns crossing images): via tmp.
        const int ldt = nv * VL;
        if (!(flags & kTileFirst)) {
          for (int i = 0; i < MR * ldt; ++i) tmp[i] = 0.f;
          int nn = n, qq = pq;
          for (int jl = 0; jl < nr; ++jl) {
            const float* src = g.y + nn * img + size_t(m0) * PQ + qq;
            for (int i = 0; i < rows; ++i) tmp[i * ldt + jl] = src[size_t(i) * PQ];
            if (++qq == PQ) {
              qq = 0;
              ++nn;
            }
          }
        }
        TileDispatch<T>(nv, kc, a, b, tmp, size_t(ldt), flags, bias);
        int nn = n, qq = pq;
        for (int jl = 0; jl < nr; ++jl) {
          float* dst = g.y + nn * img + size_t(m0) * PQ + qq;
          for (int i = 0; i < rows; ++i) dst[size_t(i) * PQ] = tmp[i * ldt + jl];
          if (++qq == PQ) {
            qq = 0;
            ++nn;
          }
        }
      };
      // A micro-panel (MR × kc) stays in L1 while the B panels of the block stream from L2. (The other
      // order, B panel in L1 with KC = 192 and A streaming from L2, measured no faster here.)
      for (int ip = task.p0; ip < task.p1; ++ip)
        for (int jj = 0, panel = 0; jj < nc; jj += NR, ++panel) tile(ip, jj, panel);
    }
  }
}
