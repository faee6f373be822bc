// The CPU's FP32 FMA peak, measured with register-only loops (12 independent accumulator chains per
// thread) in the same run as the benchmark it is compared with: the host may be shared.
#pragma once
#include <ctime>

#include "core/backend.h"

namespace vggh {

// CPU seconds consumed by this process (CLOCK_PROCESS_CPUTIME_ID) or thread (CLOCK_THREAD_CPUTIME_ID):
// unlike wall time they do not grow when a neighbour takes the cores away.
double CpuSeconds(clockid_t which);

struct Peak {
  double wall = 0;      // FLOP/s of all threads together, wall clock (what this run could get now)
  double per_core = 0;  // FLOP per CPU-second of one thread (the core's own peak, immune to sharing)
};

// FMA peak of `threads` threads running the avx2 or avx512 loop at once: best of `reps` runs of about
// `seconds` each. Zero for kScalar, for an ISA this CPU lacks, and off x86-64.
Peak MeasurePeak(vgg::CpuIsa isa, int threads, int reps = 3, double seconds = 0.15);

}  // namespace vggh
