// What both Winograd kernel templates share. Included inside an ISA unit's anonymous namespace after
// templates/gemm.h (see there); the layouts are described in cpu/cpu_kernels.h (WinogradArgs).

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

// The 2×2/2 max pool of a run's tiles for one window per tile: o[j] = the window (a0[j], a1[j]; b0[j], b1[j])
// scanned as maxpool2d scans it (its first NaN, else its largest value, the first of equals).
inline void PoolWindows(const float* __restrict a0, const float* __restrict a1, const float* __restrict b0,
                        const float* __restrict b1, float* __restrict o, int n) {
  for (int j = 0; j < n; ++j) o[j] = MaxStep(MaxStep(MaxStep(a0[j], a1[j]), b0[j]), b1[j]);
}

// A task's buffers and its runs of tiles. V is the task's own scratch (kAll) or the block's shared V;
// M (rows_cap × ntp per point) and the run table follow in the task's scratch.
struct WinoTaskState {
  float* V;
  float* Mb;
  WinoRun* runs;
  int nruns;
  int nt, full, tail, tail_w;  // tiles of the task; full NR panels, tail tiles, tail padded to VL
};

// tile_m: outputs per tile side (2 or 4); points: (tile_m + 2)².
template <class T>
WinoTaskState WinogradTaskState(const WinogradArgs& g, const WinogradTask& task, int tile_m, int points) {
  constexpr int VL = T::kVL, NR = T::kNV * T::kVL;
  const ConvShape& s = g.s;
  const int TQ = (s.Q() + tile_m - 1) / tile_m, TP = (s.P() + tile_m - 1) / tile_m, per_img = TP * TQ;
  const int t0 = task.c0, t1 = task.c1;
  WinoTaskState st;
  st.nt = t1 - t0;
  st.full = st.nt / NR;
  st.tail = st.nt - st.full * NR;
  st.tail_w = (st.tail + VL - 1) / VL * VL;
  const bool own_v = task.stage == WinogradTask::kAll;
  st.V = own_v ? task.ws : task.v;
  st.Mb = own_v ? task.ws + WinogradInputFloats(s.C, g.ntp, points) : task.ws;
  st.runs = reinterpret_cast<WinoRun*>(st.Mb + size_t(points) * WinogradMPoint(g.rows_cap, g.ntp));
  st.nruns = 0;
  for (int j = t0; j < t1;) {
    const int n = j / per_img, rem = j - n * per_img, ty = rem / TQ, tx = rem - ty * TQ;
    const int jj = j - t0, panel = jj / NR, lane = jj - panel * NR;
    const int len = Min(Min(TQ - tx, NR - lane), t1 - j);
    st.runs[st.nruns++] = {n, ty, tx, len, panel, lane, 0, 0};
    j += len;
  }
  return st;
}

// The channels a task transforms: [ch0, ch1) for kInput, all of them for kAll, none for kOutput.
inline void WinogradInputChannels(const WinogradTask& task, int C, int* c0, int* c1) {
  *c0 = task.stage == WinogradTask::kInput ? task.ch0 : 0;
  *c1 = task.stage == WinogradTask::kInput ? task.ch1 : task.stage == WinogradTask::kAll ? C : 0;
}

// Lanes past the block's tiles in channel c's tail panel: zeros (their results are never read).
inline void ZeroTailLanes(float* V, const WinoTaskState& st, int C, size_t ntp, int c, int points, int KC, int NR) {
  if (st.tail == st.tail_w) return;
  const int pc = c / KC * KC, kc = Min(KC, C - pc), kk = c - pc;
  for (int xi = 0; xi < points; ++xi) {
    float* d =
        V + xi * WinogradVPoint(C, int(ntp)) + size_t(pc) * ntp + size_t(st.full) * kc * NR + size_t(kk) * st.tail_w;
    for (int i = st.tail; i < st.tail_w; ++i) d[i] = 0.f;
  }
}

// The point GEMMs: M_ξ[rows p0..p1][tiles] = U_ξ × V_ξ (every output one sequential FMA chain over c, so
// results do not depend on how tiles and rows are split).
template <class T>
void WinogradPointGemms(const WinogradArgs& g, const WinogradTask& task, const WinoTaskState& st, int points) {
  constexpr int MR = T::kMR, VL = T::kVL, NR = T::kNV * T::kVL, KC = T::kKC;
  const int C = g.s.C;
  const size_t ntp = size_t(g.ntp), vpoint = WinogradVPoint(C, g.ntp), mpoint = WinogradMPoint(g.rows_cap, g.ntp);
  alignas(64) static const float kZeros[64] = {};
  static_assert(MR <= 64, "bias of zeros covers MR rows");
  for (int xi = 0; xi < points; ++xi) {
    const float* Ax = g.a + size_t(xi) * C * g.Mpad;
    const float* Vx = st.V + xi * vpoint;
    float* Mx = st.Mb + xi * mpoint;
    for (int pc = 0; pc < C; pc += KC) {
      const int kc = Min(KC, C - pc);
      const int flags = pc == 0 ? kTileFirst : 0;
      // A few tiles past the last full panel go through TileColumns, all row panels at once (see there).
      bool narrow = false;
      if constexpr (T::kNarrowColumns > 0) narrow = st.tail > 0 && st.tail <= T::kNarrowColumns;
      const int padded = narrow ? st.full : (st.nt + NR - 1) / NR;
      for (int ip = task.p0; ip < task.p1; ++ip) {
        const float* a = Ax + size_t(pc) * g.Mpad + size_t(ip) * MR * kc;
        float* mrow = Mx + size_t(ip - task.p0) * MR * ntp;
        for (int panel = 0; panel < padded; ++panel) {
          const int nv = panel < st.full ? T::kNV : st.tail_w / VL;
          TileDispatch<T>(nv, kc, a, Vx + size_t(pc) * ntp + size_t(panel) * kc * NR, mrow + size_t(panel) * NR, ntp,
                          flags, kZeros);
        }
      }
      if constexpr (T::kNarrowColumns > 0) {
        if (narrow)
          T::TileColumns(st.tail, kc, Ax + size_t(pc) * g.Mpad + size_t(task.p0) * MR * kc, size_t(MR) * kc,
                         task.p1 - task.p0, Vx + size_t(pc) * ntp + size_t(st.full) * kc * NR, st.tail_w,
                         Mx + size_t(st.full) * NR, ntp, flags);
      }
    }
  }
}
