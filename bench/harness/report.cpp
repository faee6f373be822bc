#include "report.h"

#include <cstdio>

namespace vggh {

void Tally::Record(bool ok, const std::string& line) {
  if (!quiet) {
    std::printf("%s %s\n", ok ? "PASS" : "FAIL", line.c_str());
    std::fflush(stdout);
  }
  if (ok) {
    ++pass;
  } else {
    ++fail;
    failures.push_back(line);
  }
}

int Tally::Summary(const char* what, double seconds) const {
  std::printf("\n%s: %d passed, %d failed (%.1f s)\n", what, pass, fail, seconds);
  for (const std::string& f : failures) std::printf("  FAILED: %s\n", f.c_str());
  return fail ? 1 : 0;
}

std::string Fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string ShapeStr(const vgg::ConvShape& s) {
  char b[160];
  std::snprintf(b, sizeof b, "N%d C%d %dx%d -> K%d %dx%d s%d p%d (cols %lld, C·R·S %d)", s.N, s.C, s.H, s.W, s.K, s.R,
                s.S, s.stride, s.pad, (long long)s.N * s.P() * s.Q(), s.C * s.R * s.S);
  return b;
}

std::string Shape4Str(const vgg::Shape4& s) {
  char b[96];
  std::snprintf(b, sizeof b, "[%d,%d,%d,%d]", s.n, s.c, s.h, s.w);
  return b;
}

}  // namespace vggh
