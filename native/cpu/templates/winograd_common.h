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
