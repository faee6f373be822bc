// Host ⇄ device copies through two pinned staging buffers of kStageBytes each, so that a copy of any size
// from or to pageable host memory overlaps the memcpy into (or out of) one buffer with the DMA of the
// other. Without pinned memory (cudaMallocHost failed) copies fall back to pageable cudaMemcpyAsync plus
// a stream synchronisation. The caller makes the device current (DeviceScope).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <mutex>

#include "core/status.h"

namespace vgg::cuda {

class PinnedStaging {
 public:
  static constexpr size_t kStageBytes = size_t(4) << 20;

  PinnedStaging() = default;
  ~PinnedStaging();  // the device that owns the buffers must be current
  PinnedStaging(const PinnedStaging&) = delete;
  PinnedStaging& operator=(const PinnedStaging&) = delete;

  // Host → device on `stream`. Returns once `src` may be reused; the copy itself may still be in flight
  // (work queued after it on the stream sees it).
  Status CopyIn(cudaStream_t stream, void* dst, const void* src, size_t bytes);
  // Device → host on `stream`, after everything queued before it. Returns when `dst` holds the data.
  Status CopyOut(cudaStream_t stream, void* dst, const void* src, size_t bytes);

 private:
  Status Ensure();  // creates the events and buffers on first use

  std::mutex mu_;
  void* pin_[2] = {nullptr, nullptr};
  cudaEvent_t ev_[2] = {nullptr, nullptr};
  unsigned next_ = 0;
  bool tried_ = false;
};

}  // namespace vgg::cuda
