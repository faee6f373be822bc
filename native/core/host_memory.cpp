#include "core/host_memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

namespace vgg {

namespace {
constexpr size_t kMapThreshold = size_t(1) << 20;
constexpr size_t kHugePage = size_t(2) << 20;
// A header in the 64-byte pad in front of every buffer records how it was obtained.
struct BufHeader {
  size_t mapped_bytes;  // 0: from aligned_alloc
};
static_assert(sizeof(BufHeader) <= kAlign, "header must fit the alignment pad");

// At least `*bytes` mapped from the kernel (*bytes set to the length mapped), or null. Advised to be
// transparent huge pages where the host allows them on request (THP 'madvise', the common default): 512×
// fewer page faults on first touch of a fresh arena or packed weights, and fewer TLB misses when streaming
// them. The mapping starts on a 2 MiB boundary (mapped 2 MiB longer, the excess unmapped), and one under
// 2 MiB is rounded up to 2 MiB: only whole aligned 2 MiB ranges become huge pages, and an unaligned start
// left up to 2 MiB in 4 KB pages at each end of every buffer. A page fault costs ~15 µs on this project's
// VMs; aligning took a new input shape's first forward (arena growth, the input's copies) from ~1.35× to
// ~1.1× of the next forwards (bench/plan-shapes.js, bench/RESULTS.md). Advice only: ignored where THP is off.
char* MapBytes(size_t* bytes) {
  const size_t len = std::max(*bytes, kHugePage);
  if (len > SIZE_MAX - kHugePage) return nullptr;
  void* m = mmap(nullptr, len + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  const uintptr_t lo = reinterpret_cast<uintptr_t>(m);
  const uintptr_t start = (lo + kHugePage - 1) / kHugePage * kHugePage;
  if (start > lo) munmap(m, start - lo);
  munmap(reinterpret_cast<void*>(start + len), kHugePage - (start - lo));  // the rest past the end (≥ 1 page)
  madvise(reinterpret_cast<void*>(start), len, MADV_HUGEPAGE);
  *bytes = len;
  return reinterpret_cast<char*>(start);
}
}  // namespace

float* AlignedFloats(size_t floats) {
  if (floats > (SIZE_MAX - 2 * kAlign) / sizeof(float)) return nullptr;
  const size_t bytes = (std::max<size_t>(floats, 1) * sizeof(float) + kAlign - 1) / kAlign * kAlign + kAlign;
  char* base = nullptr;
  size_t mapped = 0;
  if (bytes >= kMapThreshold) {
    mapped = bytes;
    base = MapBytes(&mapped);
    if (!base) return nullptr;
  } else {
    base = static_cast<char*>(std::aligned_alloc(kAlign, bytes));
    if (!base) return nullptr;
  }
  reinterpret_cast<BufHeader*>(base)->mapped_bytes = mapped;
  return reinterpret_cast<float*>(base + kAlign);
}

void FreeFloats(float* p) {
  if (!p) return;
  char* base = reinterpret_cast<char*>(p) - kAlign;
  const size_t mapped = reinterpret_cast<BufHeader*>(base)->mapped_bytes;
  if (mapped) munmap(base, mapped);
  else std::free(base);
}

}  // namespace vgg
