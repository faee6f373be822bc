// Timing one conv layer on a cpu backend: what `conv` and `scaling` share.
#pragma once
#include <string>

#include "core/backend.h"
#include "cpu_commands.h"
#include "networks.h"

namespace vggh {

struct Timing {
  double median_s = 0;      // wall clock
  double median_cpu_s = 0;  // CPU seconds of the whole process (all pool threads) for the same runs
  double peak = 0;          // median wall-clock FMA peak of short bursts interleaved with the runs
  vgg::ConvPlan plan;       // what conv2d ran
  size_t packed_bytes = 0;  // the packed weights conv2d read
};

// Packs the layer for the algorithm the backend chooses for a.algorithm, plans it, and times conv2d over
// a.runs runs after a.warmup (seeded uniform data). With peak_isa other than scalar, an FMA burst on
// `threads` threads precedes each run (Timing::peak). False, with the reason on stderr, on any failure.
bool TimeConv(vgg::Backend& be, const LayerGroup& g, const CpuArgs& a, vgg::CpuIsa peak_isa, int threads, Timing* out);

// "N1 C64 224x224 -> K64 3x3 s1 p1"
std::string BenchShapeStr(const vgg::ConvShape& s);
// The kernel plan_conv named, marked "(effective)" for Winograd, whose rates count the direct FLOPs.
std::string KernelColumn(const vgg::ConvPlan& p);

}  // namespace vggh
