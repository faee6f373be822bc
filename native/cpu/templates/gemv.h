// Single-column GEMM (GEMV) over the packed weights: batch-1 FC layers, memory-bound. A kernel template
// included inside an ISA unit's anonymous namespace after templates/gemm.h (see there).

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
