// GEMV for GEMV-shaped layers (one output position per image, P = Q = 1: the FC layers at any batch, a
// padded conv on a 1×1 map): y(n, m) for the task's columns (images) n ∈ [c0, c1) and the rows of its
// panels [p0, p1). A kernel template included inside an ISA unit's anonymous namespace after
// templates/gemm.h (see there).
//
// Order of the arithmetic: exactly the blocked GEMM's (templates/gemm.h). Each output starts from
// bias[m], takes one multiply-add per k = 0 … Kdim−1 in k order (fused on avx2/avx512 like their Tile,
// multiply then add in the scalar family like its Tile), its partial sum stored in y between KC blocks
// (exact), and gets max(0, ·) at the end when relu. So an image gives the same bits alone, in a group of
// columns, or through the GEMM (large batches): the batch an image runs in never changes its result.
//
// Loop nest of one task: passes of <= kGemvPassColumns columns → pc (KC deep): pack the pass's columns of
// B (im2col, one column per image) into groups of <= NBMAX columns, k-major (xp[k·nb + j]; skipped for a
// single FC column, which is x itself) → blocks of kGemvPanels MR-row panels of A → column groups:
// T::GemvBlock<nb> keeps kGemvPanels × nb accumulator vectors in registers. A block of A is read from
// memory by the first group and from L1/L2 by the others, so the weights stream from memory once per pass
// (once per call up to 256 images).
//
// The unit's traits supply, besides the GEMM's:
//   static constexpr int kGemvPanels;   // panels per block (<= kMaxGemvPanels)
//   template <int NB> static void GemvBlock(const GemvTile& t);
//     for every panel j of the block and column c < NB: rows i < t.rows[j] of y column c,
//     t.y[j][c·t.ldy + i] = chain(t.flags & kTileFirst ? t.bias[j][i] : t.y[j][c·t.ldy + i],
//                                 Σ_k t.a[j][k·MR + i] · t.xp[k·NB + c]), then max(0, ·) if kTileRelu.
//     Rows past t.rows[j] of y are neither read nor written.

constexpr int kMaxGemvPanels = 8;

// One GemvBlock call: a block of panels × a group of columns over one KC block.
struct GemvTile {
  int kc = 0;
  int flags = 0;              // kTileFirst: start from the bias; kTileRelu: max(0, ·) at the end
  const float* xp = nullptr;  // kc × nb floats, k-major: xp[k·nb + c] is column c's value at k
  size_t ldy = 0;             // floats between two columns of y (= M)
  // Panel j of the block: its kc × MR floats of A, MR floats of bias, row m0 of the group's first column
  // of y, rows inside M. A block past the task's last panel repeats that panel: computed twice, the same
  // values written twice.
  const float* a[kMaxGemvPanels];
  const float* bias[kMaxGemvPanels];
  float* y[kMaxGemvPanels];
  int rows[kMaxGemvPanels];
};

// Packs rows [pc, pc + kc) of columns [c0, c0 + ncols) of im2col(x) (one column per image, P = Q = 1) into
// `groups` near-equal groups, group i (columns n0..n1) at xp + (n0 − c0)·kc, k-major. Padding reads as 0.
inline void PackGemvColumns(const ConvShape& s, const float* x, int pc, int kc, int c0, int ncols, int groups,
                            float* xp) {
  const bool fc = s.pad == 0 && s.R == s.H && s.S == s.W;  // column n is x + n·Kd
  const size_t img = size_t(s.C) * s.H * s.W;
  const int RS = s.R * s.S;
  for (int gi = 0; gi < groups; ++gi) {
    const int n0 = int(int64_t(ncols) * gi / groups), n1 = int(int64_t(ncols) * (gi + 1) / groups), nb = n1 - n0;
    float* d = xp + size_t(n0) * kc;
    for (int j = 0; j < nb; ++j) {
      const float* xn = x + size_t(c0 + n0 + j) * img;
      if (fc) {
        for (int k = 0; k < kc; ++k) d[size_t(k) * nb + j] = xn[pc + k];
        continue;
      }
      for (int k = 0; k < kc; ++k) {
        const int kk = pc + k, c = kk / RS, rs = kk - c * RS, r = rs / s.S, t = rs - r * s.S;
        const int h = r - s.pad, w = t - s.pad;  // output position p = q = 0
        d[size_t(k) * nb + j] = (h >= 0 && h < s.H && w >= 0 && w < s.W) ? xn[(size_t(c) * s.H + h) * s.W + w] : 0.f;
      }
    }
  }
}

template <class T, int NB>
inline void GemvDispatch(int nb, const GemvTile& t) {
  if constexpr (NB > 1) {
    if (nb < NB) return GemvDispatch<T, NB - 1>(nb, t);
  }
  T::template GemvBlock<NB>(t);
}

// One pass over the task's panels for columns [c0, c0 + ncols), in groups of at most NBMAX (near-equal
// sizes), each group sharing the loads of A.
template <class T, int NBMAX>
void ConvGemvPass(const ConvGemmArgs& g, const GemmTask& task, int c0, int ncols) {
  constexpr int MR = T::kMR, KC = T::kKC, PB = T::kGemvPanels;
  static_assert(PB <= kMaxGemvPanels, "kGemvPanels too large");
  const ConvShape& s = g.s;
  const int Kd = g.Kdim, M = g.M;
  // One column of an FC-shaped layer: the k-major packing of a single column is x itself.
  const bool direct = ncols == 1 && s.pad == 0 && s.R == s.H && s.S == s.W;
  const int groups = (ncols + NBMAX - 1) / NBMAX;
  GemvTile tile;
  tile.ldy = size_t(M);
  for (int pc = 0; pc < Kd; pc += KC) {
    const int kc = Min(KC, Kd - pc);
    if (!direct) PackGemvColumns(s, g.x, pc, kc, c0, ncols, groups, task.ws);
    tile.kc = kc;
    tile.flags = (pc == 0 ? kTileFirst : 0) | (g.relu && pc + kc == Kd ? kTileRelu : 0);
    for (int q0 = task.p0; q0 < task.p1; q0 += PB) {
      int m0[PB];
      for (int j = 0; j < PB; ++j) {
        const int ip = Min(q0 + j, task.p1 - 1);
        m0[j] = ip * MR;
        tile.a[j] = g.a + size_t(pc) * g.Mpad + size_t(ip) * MR * kc;
        tile.bias[j] = g.bias + m0[j];
        tile.rows[j] = Min(MR, M - m0[j]);
      }
      for (int gi = 0; gi < groups; ++gi) {
        const int n0 = int(int64_t(ncols) * gi / groups), n1 = int(int64_t(ncols) * (gi + 1) / groups);
        tile.xp = direct ? g.x + size_t(c0) * Kd + pc : task.ws + size_t(n0) * kc;
        for (int j = 0; j < PB; ++j) tile.y[j] = g.y + size_t(c0 + n0) * M + m0[j];
        GemvDispatch<T, NBMAX>(n1 - n0, tile);
      }
    }
  }
}

// The task: row panels [p0, p1) × columns [c0, c1), in passes of at most kGemvPassColumns columns.
template <class T, int NBMAX>
void ConvGemvCols(const ConvGemmArgs& g, const GemmTask& task) {
  constexpr int PASS = kGemvPassColumns / NBMAX * NBMAX;
  if (task.p0 >= task.p1) return;
  for (int c0 = task.c0; c0 < task.c1; c0 += PASS) ConvGemvPass<T, NBMAX>(g, task, c0, Min(PASS, task.c1 - c0));
}

// Portable GemvBlock (the scalar family's): MR-row panels, multiply then add like the scalar Tile.
template <int MR, int PB, int NB>
void GemvBlockGeneric(const GemvTile& t) {
  float acc[PB][NB][MR];
  for (int j = 0; j < PB; ++j)
    for (int c = 0; c < NB; ++c)
      for (int i = 0; i < MR; ++i)
        acc[j][c][i] = (t.flags & kTileFirst) ? t.bias[j][i] : i < t.rows[j] ? t.y[j][c * t.ldy + i] : 0.f;
  for (int k = 0; k < t.kc; ++k)
    for (int c = 0; c < NB; ++c) {
      const float xv = t.xp[k * NB + c];
      for (int j = 0; j < PB; ++j)
        for (int i = 0; i < MR; ++i) acc[j][c][i] += t.a[j][k * MR + i] * xv;
    }
  for (int j = 0; j < PB; ++j)
    for (int c = 0; c < NB; ++c)
      for (int i = 0; i < t.rows[j]; ++i) {
        float v = acc[j][c][i];
        if ((t.flags & kTileRelu) && v < 0.f) v = 0.f;  // NaN and -0 stay
        t.y[j][c * t.ldy + i] = v;
      }
}
