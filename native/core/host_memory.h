// Host buffers: 64-byte aligned (every packed panel and CPU alloc() buffer), and those of 1 MiB or more
// mapped straight from the kernel (on 2 MiB boundaries, transparent huge pages advised) and unmapped on
// release, so dispose() returns weights and activations to the system (glibc keeps freed heap blocks below
// its adaptive mmap threshold, up to 32 MB, and RSS crept up by tens of MB per load/dispose cycle).
#pragma once
#include <cstddef>
#include <memory>

namespace vgg {

constexpr size_t kAlign = 64;  // bytes

// `floats` floats, 64-byte aligned, or null when out of memory. Release with FreeFloats.
float* AlignedFloats(size_t floats);
void FreeFloats(float* p);

struct FreeDeleter {
  void operator()(float* p) const { FreeFloats(p); }
};
using AlignedBuf = std::unique_ptr<float, FreeDeleter>;

}  // namespace vgg
