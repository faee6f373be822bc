// The CUDA backend: device memory, one stream per backend, pinned staging for host transfers, and the
// kernels of cuda_kernels.h behind the one Backend interface (core/backend.h). Conv plans come from
// cuda_planner.h. Declared here (rather than hidden in cuda_backend.cpp) so that tools built beside the
// library, such as the C++ harness, can read its precision, multiprocessor count and memory held.
//
// VGGNET_CUDA_SYNC=1 in the environment makes every launch synchronous, so that an error inside a kernel
// is reported with that kernel's name alone; otherwise an asynchronous failure names the kernels launched
// since the stream last synchronised.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/backend.h"
#include "cuda/device_state.h"
#include "cuda/pinned_staging.h"

namespace vgg::cuda {

using Precision = CudaOptions::Precision;

class CudaBackend final : public Backend {
 public:
  static Status Create(const CudaOptions& o, std::unique_ptr<Backend>* out);
  ~CudaBackend() override;

  std::string name() const override { return "cuda:" + std::to_string(st_->device); }
  std::string kernel_family() const override { return family_; }

  Status alloc(size_t floats, float** out) override;
  void release(float* p) override;
  Status upload(float* dst, const float* host_src, size_t floats) override;
  Status download(float* host_dst, const float* src, size_t floats) override;
  Status copy(float* dst, const float* src, size_t floats) override;
  Status synchronize() override;

  // One algorithm: the implicit GEMM (a GEMV for ≤ kGemvMaxCols output columns).
  ConvAlgorithm choose_conv_algorithm(const ConvShape&, ConvAlgorithm) const override { return ConvAlgorithm::kGemm; }
  Status pack_conv(const ConvShape& s, ConvAlgorithm algorithm, const float* w, const float* b,
                   std::unique_ptr<PackedConv>* out) override;
  Status plan_conv(const ConvShape& s, const PackedConv& w, ConvPlan* out) const override;
  Status conv2d(const ConvShape& s, const ConvPlan& plan, const PackedConv& w, bool relu, const float* x, float* y,
                float* workspace) override;

  Status maxpool2d(const PoolShape& s, const float* x, float* y) override;
  Status lrn(int N, int C, int H, int W, const LrnParams& p, const float* x, float* y) override;
  Status adaptive_avgpool2d(const AdaptivePoolShape& s, const float* x, float* y) override;
  Status relu(float* x, size_t n) override;

  // CUDA graphs: stream capture (thread-local mode) → cudaGraphInstantiate → cudaGraphLaunch on the stream.
  // Not under VGGNET_CUDA_SYNC (a synchronisation inside a capture would invalidate it).
  std::string capture_unavailable() const override;
  Status begin_capture() override;
  Status end_capture(std::unique_ptr<CapturedRun>* out) override;
  Status replay(const CapturedRun& run) override;

  Precision precision() const { return prec_; }
  std::string precision_name() const override { return PrecisionName(prec_); }
  int sms() const { return sms_; }
  cudaStream_t stream() const { return st_->stream; }  // where every op is queued
  // Device bytes held: live alloc() buffers plus packed weights still alive.
  size_t bytes_in_use() const { return st_->bytes_in_use.load(); }

 private:
  CudaBackend() = default;
  // Runs `launch` (a cuda::Launch* call returning its cudaGetLastError()) and names `kernel` in any error.
  template <class Launch>
  Status Run(const std::string& kernel, Launch&& launch);
  // kDevice for an asynchronous failure found by `call`, naming the kernels launched since the last
  // synchronisation; forgets them.
  Status AsyncFailure(cudaError_t e, const std::string& call);
  std::string InFlightNote() const;  // " (… the kernels launched since the last synchronisation …)" or ""
  void Synchronised();               // the stream has finished everything: no kernel in flight

  std::shared_ptr<DeviceState> st_;
  std::unique_ptr<PinnedStaging> staging_;
  Precision prec_ = Precision::kTf32;
  int sms_ = 0;
  bool sync_each_ = false;
  static constexpr size_t kMaxInFlight = 16;
  std::vector<std::string> in_flight_;  // the last kMaxInFlight kernels launched since the last synchronisation
  size_t launches_since_sync_ = 0;
  bool capturing_ = false;   // between begin_capture and end_capture: launches are recorded, not run
  size_t captured_ops_ = 0;  // launches recorded by the capture under way
  std::string family_;

  std::mutex alloc_mu_;
  std::unordered_map<float*, size_t> allocs_;  // buffer → bytes, of alloc() buffers not yet released
};

}  // namespace vgg::cuda
