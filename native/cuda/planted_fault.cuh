// Faults planted in the kernels on purpose, only in the host emulation, to show that the emulated
// cuda-check fails when a kernel is wrong (vggnet_harness cuda-fault-check; chosen at run time with
// VGGNET_CUDA_EMU_FAULT=<number>). Under nvcc Planted() is the constant false: nothing is compiled in.
#pragma once
#include <cuda_runtime.h>

namespace vgg::cuda {

enum class PlantedFault {
  kNone = 0,
  kSkipBarrier = 1,         // the conv kernels' main loop loses the barrier after a tile lands in shared memory
  kTileOffByOne = 2,        // the conv kernels' tiles start one output column late
  kSkipAsyncWait = 3,       // the tensor-core conv kernels read a stage before its cp.async copies landed
  kMisalignedLdmatrix = 4,  // their ldmatrix row addresses of A are off by 4 bytes (the emulator faults)
  kGraphDropsLaunch = 5,    // not in a kernel: the emulator's cudaGraphLaunch skips a graph's last recorded op
};
constexpr int kPlantedFaults = 6;
// "none", "skip-barrier", "tile-off-by-one", "skip-async-wait", "misaligned-ldmatrix", "graph-drops-launch".
inline const char* PlantedFaultName(PlantedFault f) {
  switch (f) {
    case PlantedFault::kNone: return "none";
    case PlantedFault::kSkipBarrier: return "skip-barrier";
    case PlantedFault::kTileOffByOne: return "tile-off-by-one";
    case PlantedFault::kSkipAsyncWait: return "skip-async-wait";
    case PlantedFault::kMisalignedLdmatrix: return "misaligned-ldmatrix";
    case PlantedFault::kGraphDropsLaunch: return "graph-drops-launch";
  }
  return "?";
}

__device__ __forceinline__ bool Planted(PlantedFault f) {
#if VGGNET_CUDA_EMULATION
  return emu::PlantedFault() == int(f);
#else
  (void)f;
  return false;
#endif
}

}  // namespace vgg::cuda
