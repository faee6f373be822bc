// How the harness prints results: one PASS/FAIL line per check, tallied; shapes in one format.
#pragma once
#include <string>
#include <vector>

#include "core/network.h"
#include "core/shapes.h"

namespace vggh {

struct Tally {
  int pass = 0, fail = 0;
  bool quiet = false;  // count without printing
  std::vector<std::string> failures;
  // Prints "PASS <line>" or "FAIL <line>" (unless quiet) and counts it.
  void Record(bool ok, const std::string& line);
  // "<what>: N passed, M failed", then each failure again; returns the exit status (0: none failed).
  int Summary(const char* what, double seconds) const;
};

// printf-style formatting of one number.
std::string Fmt(const char* format, double v);

// "N1 C64 14x14 -> K64 3x3 s1 p1 (cols 196, C·R·S 576)".
std::string ShapeStr(const vgg::ConvShape& s);
// "[1,3,224,224]".
std::string Shape4Str(const vgg::Shape4& s);

}  // namespace vggh
