// The blocked conv-as-GEMM driver, shared by every ISA. NOT a normal header: each ISA translation unit
// includes <cstddef>, <cstdint>, <cstring> and cpu/cpu_kernels.h first, then includes this file inside
// its own anonymous namespace, so that every function here is compiled with that unit's ISA flags and
// stays private to it (no inline function compiled with -mavx512f can leak into the scalar path).
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
        if (++r == s.R) { r = 0; ++c; }
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
  if constexpr (T::kNV >= 4) { if (nv == 4) return TileNV<T, 4>(kc, a, b, c, ldc, flags, bias); }
  if constexpr (T::kNV >= 3) { if (nv == 3) return TileNV<T, 3>(kc, a, b, c, ldc, flags, bias); }
  if constexpr (T::kNV >= 2) { if (nv == 2) return TileNV<T, 2>(kc, a, b, c, ldc, flags, bias); }
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
            if (++qq == PQ) { qq = 0; ++nn; }
          }
        }
        TileDispatch<T>(nv, kc, a, b, tmp, size_t(ldt), flags, bias);
        int nn = n, qq = pq;
        for (int jl = 0; jl < nr; ++jl) {
          float* dst = g.y + nn * img + size_t(m0) * PQ + qq;
          for (int i = 0; i < rows; ++i) dst[size_t(i) * PQ] = tmp[i * ldt + jl];
          if (++qq == PQ) { qq = 0; ++nn; }
        }
      };
      // A micro-panel (MR × kc) stays in L1 while the B panels of the block stream from L2. (The other
      // order, B panel in L1 with KC = 192 and A streaming from L2, measured no faster here.)
      for (int ip = task.p0; ip < task.p1; ++ip)
        for (int jj = 0, panel = 0; jj < nc; jj += NR, ++panel) tile(ip, jj, panel);
    }
  }
}

template <class T>
void ConvGemv(const ConvGemmArgs& g, int p0, int p1, const float* bcol) {
  constexpr int MR = T::kMR;
  for (int ip = p0; ip < p1; ++ip) {
    float out[MR];
    T::GemvPanel(g.a, g.Mpad, g.Kdim, ip, bcol, out);
    const int m0 = ip * MR, rows = Min(MR, g.M - m0);
    for (int i = 0; i < rows; ++i) {
      float v = out[i] + g.bias[m0 + i];
      if (g.relu && v < 0.f) v = 0.f;  // NaN stays NaN
      g.y[m0 + i] = v;
    }
  }
}

// A run of consecutive tiles inside one tile row (n, ty) and one B panel of a Winograd block.
struct WinoRun {
  int32_t n, ty, tx0, len, panel, lane, unused0, unused1;
};
static_assert(sizeof(WinoRun) == 8 * sizeof(float), "WinoRun occupies eight float slots of the workspace");

// Rows h0 … h0+n−1, columns w0 … w0+width−1 of one input plane (H×W) into rows (n × stride floats),
// zeros outside the plane: the padded input window of a run of Winograd tiles.
inline void LoadTileRows(const float* xc, int H, int W, int h0, int w0, int width, int n, float* rows, size_t stride) {
  for (int k = 0; k < n; ++k) {
    const int h = h0 + k;
    float* d = rows + k * stride;
    if (h < 0 || h >= H) {
      for (int i = 0; i < width; ++i) d[i] = 0.f;
      continue;
    }
    const float* src = xc + size_t(h) * W;
    const int i0 = Min(width, Max(0, -w0)), i1 = Max(i0, Min(width, W - w0));
    for (int i = 0; i < i0; ++i) d[i] = 0.f;
    for (int i = i0; i < i1; ++i) d[i] = src[w0 + i];
    for (int i = i1; i < width; ++i) d[i] = 0.f;
  }
}

// Winograd F(2×2, 3×3), layouts in cpu_kernels.h. The transforms are plain loops over the tiles of a
// run (contiguous lanes of a panel) that the compiler vectorises with this unit's ISA flags.

template <class T>
void ConvWinograd2x2(const WinogradArgs& g, const GemmTask& task) {
  constexpr int MR = T::kMR, VL = T::kVL, NR = T::kNV * T::kVL, KC = T::kKC;
  const ConvShape& s = g.s;
  const int C = s.C, H = s.H, W = s.W, P = s.P(), Q = s.Q(), M = g.M;
  const int TQ = (Q + 1) / 2, TP = (P + 1) / 2, per_img = TP * TQ;
  const int t0 = task.c0, t1 = task.c1, nt = t1 - t0;
  const int full = nt / NR, tail = nt - full * NR, tail_w = (tail + VL - 1) / VL * VL;
  const size_t ntp = size_t(g.ntp), rows_cap = size_t(g.rows_cap);
  float* V = task.ws;
  float* Mb = V + 16 * size_t(C) * ntp;
  WinoRun* runs = reinterpret_cast<WinoRun*>(Mb + 16 * rows_cap * ntp);
  int nruns = 0;
  for (int j = t0; j < t1;) {
    const int n = j / per_img, rem = j - n * per_img, ty = rem / TQ, tx = rem - ty * TQ;
    const int jj = j - t0, panel = jj / NR, lane = jj - panel * NR;
    const int len = Min(Min(TQ - tx, NR - lane), t1 - j);
    runs[nruns++] = {n, ty, tx, len, panel, lane, 0, 0};
    j += len;
  }

  // Input transform: V_ξ[c][tile] = (Bᵀ d B)[i][s] with Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1].
  alignas(64) float rows[4][2 * NR + 2];
  alignas(64) float t[4][2 * NR + 2];
  const size_t plane = size_t(H) * W;
  for (int c = 0; c < C; ++c) {
    const int pc = c / KC * KC, kc = Min(KC, C - pc), kk = c - pc;
    float* vc = V + size_t(pc) * ntp;  // + ξ·C·ntp + panel·kc·NR + kk·w + lane
    for (int ri = 0; ri < nruns; ++ri) {
      const WinoRun& r = runs[ri];
      const int w_panel = r.panel < full ? NR : tail_w;
      const int width = 2 * r.len + 2, w0 = 2 * r.tx0 - 1;
      const float* xc = g.x + (size_t(r.n) * C + c) * plane;
      LoadTileRows(xc, H, W, 2 * r.ty - 1, w0, width, 4, rows[0], sizeof(rows[0]) / sizeof(float));
      for (int i = 0; i < width; ++i) {
        const float d0 = rows[0][i], d1 = rows[1][i], d2 = rows[2][i], d3 = rows[3][i];
        t[0][i] = d0 - d2;
        t[1][i] = d1 + d2;
        t[2][i] = d2 - d1;
        t[3][i] = d1 - d3;
      }
      const size_t off = size_t(r.panel) * kc * NR + size_t(kk) * w_panel + r.lane;
      const int len = r.len;
      for (int i = 0; i < 4; ++i) {
        const float* ti = t[i];
        float* __restrict v0 = vc + size_t(4 * i + 0) * C * ntp + off;
        float* __restrict v1 = vc + size_t(4 * i + 1) * C * ntp + off;
        float* __restrict v2 = vc + size_t(4 * i + 2) * C * ntp + off;
        float* __restrict v3 = vc + size_t(4 * i + 3) * C * ntp + off;
        for (int j = 0; j < len; ++j) {
          const float a0 = ti[2 * j], a1 = ti[2 * j + 1], a2 = ti[2 * j + 2], a3 = ti[2 * j + 3];
          v0[j] = a0 - a2;
          v1[j] = a1 + a2;
          v2[j] = a2 - a1;
          v3[j] = a1 - a3;
        }
      }
    }
    if (tail < tail_w) {  // lanes past the block's tiles: zeros (their results are never read)
      for (int xi = 0; xi < 16; ++xi) {
        float* d = vc + size_t(xi) * C * ntp + size_t(full) * kc * NR + size_t(kk) * tail_w;
        for (int i = tail; i < tail_w; ++i) d[i] = 0.f;
      }
    }
  }

  // 16 GEMMs: M_ξ[rows p0..p1][tiles] = U_ξ × V_ξ (every output one sequential FMA chain over c).
  alignas(64) static const float kZeros[64] = {};
  static_assert(MR <= 64, "bias of zeros covers MR rows");
  for (int xi = 0; xi < 16; ++xi) {
    const float* Ax = g.a + size_t(xi) * C * g.Mpad;
    const float* Vx = V + size_t(xi) * C * ntp;
    float* Mx = Mb + size_t(xi) * rows_cap * ntp;
    for (int pc = 0; pc < C; pc += KC) {
      const int kc = Min(KC, C - pc);
      const int flags = pc == 0 ? kTileFirst : 0;
      for (int ip = task.p0; ip < task.p1; ++ip) {
        const float* a = Ax + size_t(pc) * g.Mpad + size_t(ip) * MR * kc;
        float* mrow = Mx + size_t(ip - task.p0) * MR * ntp;
        for (int panel = 0; panel * NR < nt; ++panel) {
          const int nv = panel < full ? T::kNV : tail_w / VL;
          TileDispatch<T>(nv, kc, a, Vx + size_t(pc) * ntp + size_t(panel) * kc * NR, mrow + size_t(panel) * NR, ntp,
                          flags, kZeros);
        }
      }
    }
  }

  // Output transform: Y = Aᵀ M A with Aᵀ = [1 1 1 0; 0 1 −1 −1], + bias, ReLU (NaN and −0 kept). Two
  // vectorisable passes per run: the four outputs of each tile into planar rows, then interleaved into y.
  alignas(64) float yv[4][NR];  // y00, y01, y10, y11 of each tile
  alignas(64) float out[2 * NR];
  const int m_end = Min(task.p1 * MR, M);
  const bool relu = g.relu;
  for (int m = task.p0 * MR; m < m_end; ++m) {
    const float bias = g.bias[m];
    const float* mm = Mb + size_t(m - task.p0 * MR) * ntp;
    for (int ri = 0; ri < nruns; ++ri) {
      const WinoRun& r = runs[ri];
      const float* mr = mm + size_t(r.panel) * NR + r.lane;
      const int len = r.len;
      const size_t st = rows_cap * ntp;
      const float* __restrict m0 = mr;
      float* __restrict y00 = yv[0];
      float* __restrict y01 = yv[1];
      float* __restrict y10 = yv[2];
      float* __restrict y11 = yv[3];
      for (int j = 0; j < len; ++j) {
        // z_a[s] = (Aᵀ M)[a][s]
        const float z00 = m0[j] + m0[4 * st + j] + m0[8 * st + j];
        const float z01 = m0[st + j] + m0[5 * st + j] + m0[9 * st + j];
        const float z02 = m0[2 * st + j] + m0[6 * st + j] + m0[10 * st + j];
        const float z03 = m0[3 * st + j] + m0[7 * st + j] + m0[11 * st + j];
        const float z10 = m0[4 * st + j] - m0[8 * st + j] - m0[12 * st + j];
        const float z11 = m0[5 * st + j] - m0[9 * st + j] - m0[13 * st + j];
        const float z12 = m0[6 * st + j] - m0[10 * st + j] - m0[14 * st + j];
        const float z13 = m0[7 * st + j] - m0[11 * st + j] - m0[15 * st + j];
        y00[j] = z00 + z01 + z02 + bias;
        y01[j] = z01 - z02 - z03 + bias;
        y10[j] = z10 + z11 + z12 + bias;
        y11[j] = z11 - z12 - z13 + bias;
      }
      if (relu) {
        for (int a = 0; a < 4; ++a) {
          float* __restrict v = yv[a];
          for (int j = 0; j < len; ++j) v[j] = v[j] < 0.f ? 0.f : v[j];
        }
      }
      const int q0 = 2 * r.tx0, cnt = Min(2 * len, Q - q0);
      for (int a = 0; a < 2; ++a) {
        const int p = 2 * r.ty + a;
        if (p >= P) break;
        float* __restrict dst = g.y + ((size_t(r.n) * M + m) * P + p) * Q + q0;
        const float* __restrict ev = yv[2 * a];
        const float* __restrict od = yv[2 * a + 1];
        if (cnt == 2 * len) {
          for (int j = 0; j < len; ++j) {
            dst[2 * j] = ev[j];
            dst[2 * j + 1] = od[j];
          }
        } else {  // odd Q: the last tile's second column falls outside
          for (int j = 0; j < len; ++j) {
            out[2 * j] = ev[j];
            out[2 * j + 1] = od[j];
          }
          for (int i = 0; i < cnt; ++i) dst[i] = out[i];
        }
      }
    }
  }
}

// Winograd F(4×4, 3×3): 6×6 patches, 36 points ξ = 6i + s (layouts as for F(2×2, 3×3) with 36 in place of
// 16), Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1],
// Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]. Multiply-adds per output: 36·C/16 = 2.25·C.
template <class T>
void ConvWinograd4x4(const WinogradArgs& g, const GemmTask& task) {
  constexpr int MR = T::kMR, VL = T::kVL, NR = T::kNV * T::kVL, KC = T::kKC, NP = 36;
  const ConvShape& s = g.s;
  const int C = s.C, H = s.H, W = s.W, P = s.P(), Q = s.Q(), M = g.M;
  const int TQ = (Q + 3) / 4, TP = (P + 3) / 4, per_img = TP * TQ;
  const int t0 = task.c0, t1 = task.c1, nt = t1 - t0;
  const int full = nt / NR, tail = nt - full * NR, tail_w = (tail + VL - 1) / VL * VL;
  const size_t ntp = size_t(g.ntp), rows_cap = size_t(g.rows_cap);
  float* V = task.ws;
  float* Mb = V + NP * size_t(C) * ntp;
  WinoRun* runs = reinterpret_cast<WinoRun*>(Mb + NP * rows_cap * ntp);
  int nruns = 0;
  for (int j = t0; j < t1;) {
    const int n = j / per_img, rem = j - n * per_img, ty = rem / TQ, tx = rem - ty * TQ;
    const int jj = j - t0, panel = jj / NR, lane = jj - panel * NR;
    const int len = Min(Min(TQ - tx, NR - lane), t1 - j);
    runs[nruns++] = {n, ty, tx, len, panel, lane, 0, 0};
    j += len;
  }

  alignas(64) float rows[6][4 * NR + 2];
  alignas(64) float t[6][4 * NR + 2];
  const size_t plane = size_t(H) * W;
  for (int c = 0; c < C; ++c) {
    const int pc = c / KC * KC, kc = Min(KC, C - pc), kk = c - pc;
    float* vc = V + size_t(pc) * ntp;
    for (int ri = 0; ri < nruns; ++ri) {
      const WinoRun& r = runs[ri];
      const int w_panel = r.panel < full ? NR : tail_w;
      const int width = 4 * r.len + 2, w0 = 4 * r.tx0 - 1;
      const float* xc = g.x + (size_t(r.n) * C + c) * plane;
      LoadTileRows(xc, H, W, 4 * r.ty - 1, w0, width, 6, rows[0], sizeof(rows[0]) / sizeof(float));
      for (int i = 0; i < width; ++i) {
        const float d0 = rows[0][i], d1 = rows[1][i], d2 = rows[2][i], d3 = rows[3][i], d4 = rows[4][i], d5 = rows[5][i];
        t[0][i] = 4.f * d0 - 5.f * d2 + d4;
        t[1][i] = (d3 + d4) - 4.f * (d1 + d2);
        t[2][i] = 4.f * (d1 - d2) + (d4 - d3);
        t[3][i] = 2.f * (d3 - d1) + (d4 - d2);
        t[4][i] = 2.f * (d1 - d3) + (d4 - d2);
        t[5][i] = 4.f * d1 - 5.f * d3 + d5;
      }
      const size_t off = size_t(r.panel) * kc * NR + size_t(kk) * w_panel + r.lane;
      const int len = r.len;
      const size_t pstride = size_t(C) * ntp;
      for (int i = 0; i < 6; ++i) {
        const float* ti = t[i];
        float* __restrict v = vc + size_t(6 * i) * pstride + off;
        for (int j = 0; j < len; ++j) {
          const float a0 = ti[4 * j], a1 = ti[4 * j + 1], a2 = ti[4 * j + 2], a3 = ti[4 * j + 3], a4 = ti[4 * j + 4],
                      a5 = ti[4 * j + 5];
          v[j] = 4.f * a0 - 5.f * a2 + a4;
          v[pstride + j] = (a3 + a4) - 4.f * (a1 + a2);
          v[2 * pstride + j] = 4.f * (a1 - a2) + (a4 - a3);
          v[3 * pstride + j] = 2.f * (a3 - a1) + (a4 - a2);
          v[4 * pstride + j] = 2.f * (a1 - a3) + (a4 - a2);
          v[5 * pstride + j] = 4.f * a1 - 5.f * a3 + a5;
        }
      }
    }
    if (tail < tail_w) {
      for (int xi = 0; xi < NP; ++xi) {
        float* d = vc + size_t(xi) * C * ntp + size_t(full) * kc * NR + size_t(kk) * tail_w;
        for (int i = tail; i < tail_w; ++i) d[i] = 0.f;
      }
    }
  }

  alignas(64) static const float kZeros[64] = {};
  static_assert(MR <= 64, "bias of zeros covers MR rows");
  for (int xi = 0; xi < NP; ++xi) {
    const float* Ax = g.a + size_t(xi) * C * g.Mpad;
    const float* Vx = V + size_t(xi) * C * ntp;
    float* Mx = Mb + size_t(xi) * rows_cap * ntp;
    for (int pc = 0; pc < C; pc += KC) {
      const int kc = Min(KC, C - pc);
      const int flags = pc == 0 ? kTileFirst : 0;
      for (int ip = task.p0; ip < task.p1; ++ip) {
        const float* a = Ax + size_t(pc) * g.Mpad + size_t(ip) * MR * kc;
        float* mrow = Mx + size_t(ip - task.p0) * MR * ntp;
        for (int panel = 0; panel * NR < nt; ++panel) {
          const int nv = panel < full ? T::kNV : tail_w / VL;
          TileDispatch<T>(nv, kc, a, Vx + size_t(pc) * ntp + size_t(panel) * kc * NR, mrow + size_t(panel) * NR, ntp,
                          flags, kZeros);
        }
      }
    }
  }

  // Output transform, two passes per run as in F(2×2): 16 planar outputs per tile, then interleaved.
  alignas(64) float yv[16][NR];
  alignas(64) float out[4 * NR];
  const int m_end = Min(task.p1 * MR, M);
  const bool relu = g.relu;
  const size_t st = rows_cap * ntp;
  for (int m = task.p0 * MR; m < m_end; ++m) {
    const float bias = g.bias[m];
    const float* mm = Mb + size_t(m - task.p0 * MR) * ntp;
    for (int ri = 0; ri < nruns; ++ri) {
      const WinoRun& r = runs[ri];
      const float* __restrict m0 = mm + size_t(r.panel) * NR + r.lane;
      const int len = r.len;
      for (int j = 0; j < len; ++j) {
        float z[4][6];  // z[a][s] = (Aᵀ M)[a][s]
        for (int s6 = 0; s6 < 6; ++s6) {
          const float M0 = m0[s6 * st + j], M1 = m0[(6 + s6) * st + j], M2 = m0[(12 + s6) * st + j],
                      M3 = m0[(18 + s6) * st + j], M4 = m0[(24 + s6) * st + j], M5 = m0[(30 + s6) * st + j];
          const float p1 = M1 + M2, m1 = M1 - M2, p3 = M3 + M4, m3 = M3 - M4;
          z[0][s6] = M0 + p1 + p3;
          z[1][s6] = m1 + 2.f * m3;
          z[2][s6] = p1 + 4.f * p3;
          z[3][s6] = m1 + 8.f * m3 + M5;
        }
        for (int a = 0; a < 4; ++a) {
          const float p1 = z[a][1] + z[a][2], m1 = z[a][1] - z[a][2], p3 = z[a][3] + z[a][4], m3 = z[a][3] - z[a][4];
          yv[4 * a + 0][j] = z[a][0] + p1 + p3 + bias;
          yv[4 * a + 1][j] = m1 + 2.f * m3 + bias;
          yv[4 * a + 2][j] = p1 + 4.f * p3 + bias;
          yv[4 * a + 3][j] = m1 + 8.f * m3 + z[a][5] + bias;
        }
      }
      if (relu) {
        for (int a = 0; a < 16; ++a) {
          float* __restrict v = yv[a];
          for (int j = 0; j < len; ++j) v[j] = v[j] < 0.f ? 0.f : v[j];
        }
      }
      const int q0 = 4 * r.tx0, cnt = Min(4 * len, Q - q0);
      for (int a = 0; a < 4; ++a) {
        const int p = 4 * r.ty + a;
        if (p >= P) break;
        float* __restrict dst = g.y + ((size_t(r.n) * M + m) * P + p) * Q + q0;
        const float* __restrict y0 = yv[4 * a];
        const float* __restrict y1 = yv[4 * a + 1];
        const float* __restrict y2 = yv[4 * a + 2];
        const float* __restrict y3 = yv[4 * a + 3];
        float* __restrict o = cnt == 4 * len ? dst : out;
        for (int j = 0; j < len; ++j) {
          o[4 * j] = y0[j];
          o[4 * j + 1] = y1[j];
          o[4 * j + 2] = y2[j];
          o[4 * j + 3] = y3[j];
        }
        if (o == out)
          for (int i = 0; i < cnt; ++i) dst[i] = out[i];
      }
    }
  }
}

// Portable GEMV over one packed panel (used by the scalar family, and for KC-block tails elsewhere).
template <int MR, int KC>
void GemvPanelGeneric(const float* A, int Mpad, int Kdim, int ip, const float* x, float* out) {
  float acc[MR];
  for (int i = 0; i < MR; ++i) acc[i] = 0.f;
  for (int pc = 0; pc < Kdim; pc += KC) {
    const int kc = Min(KC, Kdim - pc);
    const float* a = A + size_t(pc) * Mpad + size_t(ip) * MR * kc;
    for (int kk = 0; kk < kc; ++kk) {
      const float xv = x[pc + kk];
      for (int i = 0; i < MR; ++i) acc[i] += a[kk * MR + i] * xv;
    }
  }
  for (int i = 0; i < MR; ++i) out[i] = acc[i];
}
