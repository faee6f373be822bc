// Winograd F(2×2, 3×3) kernel template. Included inside an ISA unit's anonymous namespace after
// templates/winograd_common.h (see templates/gemm.h).

// Winograd F(2×2, 3×3), layouts in cpu_kernels.h. The transforms are plain loops over the tiles of a
// run (contiguous lanes of a panel) that the compiler vectorises with this unit's ISA flags.

// Bᵀ along a row of tiles: vk[j] = (Bᵀ a)[k] for tile j's four columns a = (e[j], o[j], e[j+1], o[j+1])
// (the row's even and odd phases, so every access is unit-stride; four pointers, not one and a stride:
// GCC 12 does not vectorise the loop otherwise).
inline void Winograd2x2InputColumns(const float* __restrict e, const float* __restrict o, float* __restrict v0,
                                    float* __restrict v1, float* __restrict v2, float* __restrict v3, int len) {
  for (int j = 0; j < len; ++j) {
    const float a0 = e[j], a1 = o[j], a2 = e[j + 1], a3 = o[j + 1];
    v0[j] = a0 - a2;
    v1[j] = a1 + a2;
    v2[j] = a2 - a1;
    v3[j] = a1 - a3;
  }
}

template <class T>
void ConvWinograd2x2(const WinogradArgs& g, const WinogradTask& task) {
  constexpr int MR = T::kMR, NR = T::kNV * T::kVL, KC = T::kKC;
  const ConvShape& s = g.s;
  const int C = s.C, H = s.H, W = s.W, P = s.P(), Q = s.Q(), M = g.M;
  const size_t ntp = size_t(g.ntp), vpoint = WinogradVPoint(C, g.ntp);
  const WinoTaskState st = WinogradTaskState<T>(g, task, 2, 16);
  float* const V = st.V;
  const float* const Mb = st.Mb;
  const WinoRun* const runs = st.runs;
  const int nruns = st.nruns, full = st.full, tail_w = st.tail_w;
  int c_begin, c_end;
  WinogradInputChannels(task, C, &c_begin, &c_end);

  // Input transform: V_ξ[c][tile] = (Bᵀ d B)[i][s] with Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1].
  alignas(64) float rows[4][2 * NR + 2];
  alignas(64) float t[4][2 * NR + 2];
  alignas(64) float ph[2][NR + 16];
  const size_t plane = size_t(H) * W;
  for (int c = c_begin; c < c_end; ++c) {
    const int pc = c / KC * KC, kc = Min(KC, C - pc), kk = c - pc;
    float* vc = V + size_t(pc) * ntp;  // + ξ·vpoint + panel·kc·NR + kk·w + lane
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
        // Tile j's four columns are t[i][2j … 2j+3]: split the row into even and odd phases first, so the
        // transform reads unit-stride arrays and vectorises.
        const float* ti = t[i];
        for (int j = 0; j <= len; ++j) {
          ph[0][j] = ti[2 * j];
          ph[1][j] = ti[2 * j + 1];
        }
        float* v = vc + 4 * i * vpoint + off;
        Winograd2x2InputColumns(ph[0], ph[1], v, v + vpoint, v + 2 * vpoint, v + 3 * vpoint, len);
      }
    }
    ZeroTailLanes(V, st, C, ntp, c, 16, KC, NR);
  }

  if (task.stage == WinogradTask::kInput) return;
  WinogradPointGemms<T>(g, task, st, 16);

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
      const size_t st = WinogradMPoint(g.rows_cap, g.ntp);
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
      if (g.pool) {  // one pooled output per tile: (r.ty, r.tx0 + j) of the ⌊P/2⌋ × ⌊Q/2⌋ output
        const int P2 = P / 2, Q2 = Q / 2, cnt = Min(len, Q2 - r.tx0);
        if (r.ty < P2 && cnt > 0) {
          PoolWindows(y00, y01, y10, y11, out, cnt);
          float* __restrict dst = g.y + ((size_t(r.n) * M + m) * P2 + r.ty) * Q2 + r.tx0;
          for (int j = 0; j < cnt; ++j) dst[j] = out[j];
        }
        continue;
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
