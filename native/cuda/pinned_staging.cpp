#include "cuda/pinned_staging.h"

#include <algorithm>
#include <cstring>

#include "cuda/device_state.h"

namespace vgg::cuda {

PinnedStaging::~PinnedStaging() {
  for (int i = 0; i < 2; ++i) {
    if (pin_[i]) cudaFreeHost(pin_[i]);
    if (ev_[i]) cudaEventDestroy(ev_[i]);
  }
  cudaGetLastError();
}

Status PinnedStaging::Ensure() {
  if (tried_) return {};
  tried_ = true;
  for (int i = 0; i < 2; ++i)
    VGG_CUDA_TRY(cudaEventCreateWithFlags(&ev_[i], cudaEventDisableTiming), "cudaEventCreateWithFlags");
  for (int i = 0; i < 2; ++i) {
    if (cudaMallocHost(&pin_[i], kStageBytes) != cudaSuccess) {
      cudaGetLastError();  // no pinned memory: fall back to pageable copies
      for (void*& q : pin_) {
        if (q) cudaFreeHost(q);
        q = nullptr;
      }
      break;
    }
  }
  return {};
}

Status PinnedStaging::CopyIn(cudaStream_t s, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return {};
  std::lock_guard<std::mutex> lock(mu_);
  VGG_RETURN_IF_ERROR(Ensure());
  if (!pin_[0]) {
    VGG_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s),
                 "cudaMemcpyAsync(host to device, " + HumanBytes(bytes) + ")");
    VGG_CUDA_TRY(cudaStreamSynchronize(s), "cudaStreamSynchronize after a host-to-device copy");
    return {};
  }
  for (size_t off = 0; off < bytes; off += kStageBytes) {
    const size_t len = std::min(kStageBytes, bytes - off);
    const unsigned i = next_++ & 1u;
    VGG_CUDA_TRY(cudaEventSynchronize(ev_[i]), "cudaEventSynchronize (staging buffer)");
    std::memcpy(pin_[i], static_cast<const char*>(src) + off, len);
    VGG_CUDA_TRY(cudaMemcpyAsync(static_cast<char*>(dst) + off, pin_[i], len, cudaMemcpyHostToDevice, s),
                 "cudaMemcpyAsync(host to device, " + HumanBytes(len) + ")");
    VGG_CUDA_TRY(cudaEventRecord(ev_[i], s), "cudaEventRecord (staging buffer)");
  }
  return {};
}

Status PinnedStaging::CopyOut(cudaStream_t s, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return {};
  std::lock_guard<std::mutex> lock(mu_);
  VGG_RETURN_IF_ERROR(Ensure());
  if (!pin_[0]) {
    VGG_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s),
                 "cudaMemcpyAsync(device to host, " + HumanBytes(bytes) + ")");
    VGG_CUDA_TRY(cudaStreamSynchronize(s), "cudaStreamSynchronize after a device-to-host copy");
    return {};
  }
  int prev = -1;
  size_t prev_off = 0, prev_len = 0;
  for (size_t off = 0; off < bytes; off += kStageBytes) {
    const size_t len = std::min(kStageBytes, bytes - off);
    const unsigned i = next_++ & 1u;
    VGG_CUDA_TRY(cudaEventSynchronize(ev_[i]), "cudaEventSynchronize (staging buffer)");
    VGG_CUDA_TRY(cudaMemcpyAsync(pin_[i], static_cast<const char*>(src) + off, len, cudaMemcpyDeviceToHost, s),
                 "cudaMemcpyAsync(device to host, " + HumanBytes(len) + ")");
    VGG_CUDA_TRY(cudaEventRecord(ev_[i], s), "cudaEventRecord (staging buffer)");
    if (prev >= 0) {  // drain the previous chunk while this one copies
      VGG_CUDA_TRY(cudaEventSynchronize(ev_[prev]), "cudaEventSynchronize (device-to-host copy)");
      std::memcpy(static_cast<char*>(dst) + prev_off, pin_[prev], prev_len);
    }
    prev = int(i);
    prev_off = off;
    prev_len = len;
  }
  VGG_CUDA_TRY(cudaEventSynchronize(ev_[prev]), "cudaEventSynchronize (device-to-host copy)");
  std::memcpy(static_cast<char*>(dst) + prev_off, pin_[prev], prev_len);
  return {};
}

}  // namespace vgg::cuda
