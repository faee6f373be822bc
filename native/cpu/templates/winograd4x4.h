// Winograd F(4×4, 3×3) kernel template. Included inside an ISA unit's anonymous namespace after
// templates/winograd_common.h (see templates/gemm.h).

// Winograd F(4×4, 3×3): 6×6 patches, 36 points ξ = 6i + s (layouts as for F(2×2, 3×3) with 36 in place of
// 16), Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1],
// Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]. Multiply-adds per output: 36·C/16 = 2.25·C.

// Bᵀ along a row of tiles: vk[j] = (Bᵀ a)[k] for tile j's six columns a = (p0[j], p1[j], p2[j],
// p3[j], p0[j+1], p1[j+1]) (the row split into its four phases, so every access is unit-stride).
// (Six output pointers, not one and a stride: GCC 12 does not vectorise the loop otherwise.)
inline void Winograd4x4InputColumns(const float* __restrict p0, const float* __restrict p1, const float* __restrict p2,
                                    const float* __restrict p3, float* __restrict v0, float* __restrict v1,
                                    float* __restrict v2, float* __restrict v3, float* __restrict v4,
                                    float* __restrict v5, int len) {
  for (int j = 0; j < len; ++j) {
    const float a0 = p0[j], a1 = p1[j], a2 = p2[j], a3 = p3[j], a4 = p0[j + 1], a5 = p1[j + 1];
    v0[j] = 4.f * a0 - 5.f * a2 + a4;
    v1[j] = (a3 + a4) - 4.f * (a1 + a2);
    v2[j] = 4.f * (a1 - a2) + (a4 - a3);
    v3[j] = 2.f * (a3 - a1) + (a4 - a2);
    v4[j] = 2.f * (a1 - a3) + (a4 - a2);
    v5[j] = 4.f * a1 - 5.f * a3 + a5;
  }
}

template <class T>
void ConvWinograd4x4(const WinogradArgs& g, const WinogradTask& task) {
  constexpr int MR = T::kMR, NR = T::kNV * T::kVL, KC = T::kKC, NP = 36;
  const ConvShape& s = g.s;
  const int C = s.C, H = s.H, W = s.W, P = s.P(), Q = s.Q(), M = g.M;
  const size_t ntp = size_t(g.ntp), pstride = WinogradVPoint(C, g.ntp);
  const WinoTaskState ts = WinogradTaskState<T>(g, task, 4, NP);
  float* const V = ts.V;
  const float* const Mb = ts.Mb;
  const WinoRun* const runs = ts.runs;
  const int nruns = ts.nruns, full = ts.full, tail_w = ts.tail_w;
  int c_begin, c_end;
  WinogradInputChannels(task, C, &c_begin, &c_end);

  alignas(64) float rows[6][4 * NR + 2];
  alignas(64) float t[6][4 * NR + 2];
  alignas(64) float ph[4][NR + 16];
  const size_t plane = size_t(H) * W;
  for (int c = c_begin; c < c_end; ++c) {
    const int pc = c / KC * KC, kc = Min(KC, C - pc), kk = c - pc;
    float* vc = V + size_t(pc) * ntp;
    for (int ri = 0; ri < nruns; ++ri) {
      const WinoRun& r = runs[ri];
      const int w_panel = r.panel < full ? NR : tail_w;
      const int width = 4 * r.len + 2, w0 = 4 * r.tx0 - 1;
      const float* xc = g.x + (size_t(r.n) * C + c) * plane;
      LoadTileRows(xc, H, W, 4 * r.ty - 1, w0, width, 6, rows[0], sizeof(rows[0]) / sizeof(float));
      for (int i = 0; i < width; ++i) {
        const float d0 = rows[0][i], d1 = rows[1][i], d2 = rows[2][i], d3 = rows[3][i], d4 = rows[4][i],
                    d5 = rows[5][i];
        t[0][i] = 4.f * d0 - 5.f * d2 + d4;
        t[1][i] = (d3 + d4) - 4.f * (d1 + d2);
        t[2][i] = 4.f * (d1 - d2) + (d4 - d3);
        t[3][i] = 2.f * (d3 - d1) + (d4 - d2);
        t[4][i] = 2.f * (d1 - d3) + (d4 - d2);
        t[5][i] = 4.f * d1 - 5.f * d3 + d5;
      }
      const size_t off = size_t(r.panel) * kc * NR + size_t(kk) * w_panel + r.lane;
      const int len = r.len;
      for (int i = 0; i < 6; ++i) {
        // Tile j's six columns are t[i][4j … 4j+5]: split the row into its four phases first, so the
        // transform below reads unit-stride arrays and vectorises.
        const float* ti = t[i];
        for (int j = 0; j < len; ++j) {
          ph[0][j] = ti[4 * j];
          ph[1][j] = ti[4 * j + 1];
          ph[2][j] = ti[4 * j + 2];
          ph[3][j] = ti[4 * j + 3];
        }
        ph[0][len] = ti[4 * len];
        ph[1][len] = ti[4 * len + 1];
        float* v = vc + 6 * i * pstride + off;
        Winograd4x4InputColumns(ph[0], ph[1], ph[2], ph[3], v, v + pstride, v + 2 * pstride, v + 3 * pstride,
                                v + 4 * pstride, v + 5 * pstride, len);
      }
    }
    ZeroTailLanes(V, ts, C, ntp, c, NP, KC, NR);
  }

  if (task.stage == WinogradTask::kInput) return;
  WinogradPointGemms<T>(g, task, ts, NP);

  // Output transform, two passes per run as in F(2×2): 16 planar outputs per tile, then interleaved.
  alignas(64) float yv[16][NR];
  alignas(64) float out[4 * NR];
  alignas(64) float pooled[2][NR];  // with g.pool: the left and right pooled column of each tile
  const int m_end = Min(task.p1 * MR, M);
  const bool relu = g.relu;
  const size_t st = WinogradMPoint(g.rows_cap, g.ntp);
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
      if (g.pool) {  // 2×2 pooled outputs per tile: rows 2·r.ty + a, columns 2·(r.tx0 + j) + b of ⌊P/2⌋ × ⌊Q/2⌋
        const int P2 = P / 2, Q2 = Q / 2, q0 = 2 * r.tx0, cnt = Min(2 * len, Q2 - q0);
        for (int a = 0; a < 2 && 2 * r.ty + a < P2 && cnt > 0; ++a) {
          float* __restrict pl = pooled[0];
          float* __restrict pr = pooled[1];
          PoolWindows(yv[8 * a], yv[8 * a + 1], yv[8 * a + 4], yv[8 * a + 5], pl, len);
          PoolWindows(yv[8 * a + 2], yv[8 * a + 3], yv[8 * a + 6], yv[8 * a + 7], pr, len);
          float* __restrict dst = g.y + ((size_t(r.n) * M + m) * P2 + 2 * r.ty + a) * Q2 + q0;
          float* __restrict o = cnt == 2 * len ? dst : out;
          for (int j = 0; j < len; ++j) {
            o[2 * j] = pl[j];
            o[2 * j + 1] = pr[j];
          }
          if (o == out)
            for (int i = 0; i < cnt; ++i) dst[i] = out[i];
        }
        continue;
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
