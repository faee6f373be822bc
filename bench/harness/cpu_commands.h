// The CPU commands of vggnet_harness: conv (per-layer timings of the cpu backend), check (the cpu backend
// against the reference kernels over the shared case list) and peak (the FMA peak loops).
#pragma once
#include <string>
#include <vector>

#include "cases.h"
#include "core/backend.h"

namespace vggh {

struct CpuArgs {
  std::string cmd;  // "conv" | "scaling" | "check" | "peak"
  vgg::CpuOptions cpu;
  // conv: the algorithm requested for every layer (each layer gets choose_conv_algorithm(shape, this)).
  vgg::ConvAlgorithm algorithm = vgg::ConvAlgorithm::kAuto;
  int runs = 7, warmup = 2;
  std::string only;  // conv, check: only the rows whose name contains this
  Tags tags = {"vgg16", "tile_edges", "geometry", "fc", "winograd"};  // check: the conv cases compared
  std::vector<int> batches = {1, 4, 8};                               // conv: the batches FC6–FC8 run at
  int conv_batch = 1;                                                 // conv: the batch of the conv layers
};

// vgg16 at 224×224 (batch 1): each distinct conv layer shape, then FC6–FC8 at each of a.batches: median ms,
// GFLOP/s (FLOPs = 2 × MACs), % of the FMA peak measured in the same run, and the kernel plan_conv names.
int CmdConv(const CpuArgs& a, const CaseList& cases);
// Every distinct vgg16 layer (convs, then FC6–FC8) at each of a.batches, timed on 1 and on a.cpu.threads
// threads (default: all, at least 2) in alternating rounds: ms at each, scaling, CPU time, GFLOP/s and the
// least bytes the layer moves per second. Where a second thread is lost.
int CmdScaling(const CpuArgs& a, const CaseList& cases);
// Every conv case carrying one of a.tags, for each algorithm that can serve it, plus the pool and lrn
// cases, against the reference kernels. Exit status 1 on any failure.
int CmdCheck(const CpuArgs& a, const CaseList& cases);
// Only the FMA peak loops (AVX2 and AVX-512), on 1 and on all threads.
int CmdPeak(const CpuArgs& a);

}  // namespace vggh
