// The CUDA backend (issue 5): device memory, one stream per backend, pinned staging for host transfers,
// and the kernels of cuda_kernels.h behind the one Backend interface (core/backend.h).
//
// conv2d plan (PlanConv, a pure function of shape, precision and multiprocessor count, so that
// conv_workspace() and conv2d() always agree):
//   - N·P·Q ≤ 8 columns: im2col_columns_f32 into the workspace, then gemv_* (bandwidth bound);
//   - otherwise the implicit GEMM, SIMT fp32 (fp32) or wmma tensor cores (tf32, bf16, fp16), BM 64 for
//     K ≤ 64 output channels else 128, BN 128; when the tiles cannot fill two blocks per multiprocessor
//     the reduction is split (split-K ≤ 32, ≥ 4 main-loop steps each) into a [split][K][cols] workspace
//     and splitk_reduce_bias_relu_f32 sums the splits in a fixed order (deterministic, no atomics).
//
// Errors: every CUDA call is checked; a failure becomes kDevice naming the call, e.g.
// "cudaMalloc(1.2 GB) failed: cudaErrorMemoryAllocation: out of memory". Nothing aborts, non-sticky
// errors are cleared so the backend keeps working after an out-of-memory. VGGNET_CUDA_SYNC=1 makes every
// launch synchronous, so an error inside a kernel is reported with that kernel's name.
#include "cuda/cuda_backend.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda/cuda_kernels.h"

namespace vgg {
namespace {

using cuda::Math;
using Precision = CudaOptions::Precision;

std::string HumanBytes(size_t b) {
  char buf[64];
  if (b >= size_t(1e9)) std::snprintf(buf, sizeof buf, "%.1f GB", double(b) / 1e9);
  else if (b >= size_t(1e6)) std::snprintf(buf, sizeof buf, "%.1f MB", double(b) / 1e6);
  else if (b >= size_t(1e3)) std::snprintf(buf, sizeof buf, "%.1f KB", double(b) / 1e3);
  else std::snprintf(buf, sizeof buf, "%zu B", b);
  return buf;
}

Status CudaFailure(cudaError_t e, const std::string& call) {
  cudaGetLastError();  // clear a non-sticky error so that the next call starts clean
  return DeviceError(call + " failed: " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
}

#define VGG_CUDA_TRY(expr, what)                                   \
  do {                                                             \
    const cudaError_t vgg_e_ = (expr);                             \
    if (vgg_e_ != cudaSuccess) return CudaFailure(vgg_e_, (what)); \
  } while (0)

Math MathOf(Precision p) {
  switch (p) {
    case Precision::kFp32: return Math::kSimt;
    case Precision::kTf32: return Math::kTf32;
    case Precision::kBf16: return Math::kBf16;
    case Precision::kFp16: return Math::kFp16;
  }
  return Math::kTf32;
}

size_t WeightElemBytes(Precision p) { return p == Precision::kBf16 || p == Precision::kFp16 ? 2 : 4; }

const char* DtypeTag(Precision p) {
  switch (p) {
    case Precision::kFp32: return "f32";
    case Precision::kTf32: return "tf32";
    case Precision::kBf16: return "bf16";
    case Precision::kFp16: return "f16";
  }
  return "?";
}

long long CeilDiv(long long a, long long b) { return (a + b - 1) / b; }
int RoundUp(int v, int m) { return int(CeilDiv(v, m) * m); }

// ---- planning (no device needed) ----------------------------------------------------------------------
struct IgemmPlan {
  bool gemv = false;
  int bm = 0, bk = 0, split = 1, per = 0, ktiles = 0, mtiles = 0, ntiles = 0;
  size_t ws = 0;  // workspace floats
  std::string kernel;
};

IgemmPlan PlanConv(const ConvShape& s, Precision prec, int sms) {
  IgemmPlan pl;
  const long long cols = (long long)s.N * s.P() * s.Q();
  const long long kdim = (long long)s.C * s.R * s.S;
  const int Kpad = int(CeilDiv(kdim, cuda::kRedPad) * cuda::kRedPad);
  if (cols <= cuda::kGemvMaxCols) {
    pl.gemv = true;
    pl.ws = size_t(cols) * size_t(Kpad);
    const char* w = prec == Precision::kBf16 ? "bf16w" : prec == Precision::kFp16 ? "f16w" : "f32";
    pl.kernel = std::string("gemv_") + w + "_x" + std::to_string(cols);
    return pl;
  }
  pl.bm = s.K <= 64 ? 64 : 128;
  pl.bk = prec == Precision::kFp32 ? cuda::kBkSimt : cuda::kBkWmma;
  pl.mtiles = int(CeilDiv(s.K, pl.bm));
  pl.ntiles = int(CeilDiv(cols, cuda::kBN));
  pl.ktiles = Kpad / pl.bk;
  const long long tiles = (long long)pl.mtiles * pl.ntiles;
  const long long target = 2LL * std::max(sms, 1);  // two resident blocks per multiprocessor
  long long split = 1;
  if (tiles < target && pl.ktiles >= 8)
    split = std::max(1LL, std::min({CeilDiv(target, tiles), (long long)pl.ktiles / 4, 32LL}));
  pl.per = int(CeilDiv(pl.ktiles, split));
  pl.split = int(CeilDiv(pl.ktiles, pl.per));  // no empty split
  pl.ws = pl.split > 1 ? size_t(pl.split) * size_t(s.K) * size_t(cols) : 0;
  pl.kernel = std::string("conv2d_nchw_") + DtypeTag(prec) + "_igemm_" +
              (prec == Precision::kFp32 ? "simt_" : "wmma_") + std::to_string(pl.bm) + "x" +
              std::to_string(cuda::kBN) + "x" + std::to_string(pl.bk);
  if (pl.split > 1) pl.kernel += " split-K " + std::to_string(pl.split);
  return pl;
}

// ---- device state shared by the backend and its packed weights -------------------------------------
// The stream outlives the backend while packed weights that use it are alive (Network destroys its
// packed weights before its backend, but a caller may not).
struct DeviceState {
  int device = 0;
  cudaStream_t stream = nullptr;
  std::atomic<size_t> bytes_in_use{0};
  ~DeviceState() {
    if (!stream) return;
    cudaSetDevice(device);
    cudaStreamSynchronize(stream);
    cudaStreamDestroy(stream);
  }
};

// Restores the calling thread's current device on scope exit (callers may use several GPUs).
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    if (cudaGetDevice(&prev_) != cudaSuccess) { cudaGetLastError(); prev_ = -1; }
    if (prev_ != device) err_ = cudaSetDevice(device);
    if (err_ != cudaSuccess) cudaGetLastError();
    device_ = device;
  }
  ~DeviceScope() {
    if (prev_ >= 0 && prev_ != device_) cudaSetDevice(prev_);
  }
  cudaError_t error() const { return err_; }

 private:
  int prev_ = -1, device_ = 0;
  cudaError_t err_ = cudaSuccess;
};

#define VGG_CUDA_DEVICE(state)                                                                 \
  DeviceScope vgg_scope_((state).device);                                                     \
  if (vgg_scope_.error() != cudaSuccess)                                                      \
    return CudaFailure(vgg_scope_.error(), "cudaSetDevice(" + std::to_string((state).device) + ")")

// Conv weights on the device: A [Mpad][Kpad] in the precision's storage type, bias [Mpad], kdec [Kpad].
class CudaPackedConv final : public PackedConv {
 public:
  std::shared_ptr<DeviceState> st;
  Precision prec = Precision::kTf32;
  int C = 0, K = 0, R = 0, S = 0, stride = 1, pad = 0;
  int Kdim = 0, Kpad = 0, Mpad = 0;
  void* A = nullptr;
  float* bias = nullptr;
  int2* kdec = nullptr;
  size_t bytes_ = 0;

  size_t bytes() const override { return bytes_; }
  ConvAlgorithm algorithm() const override { return ConvAlgorithm::kGemm; }
  ~CudaPackedConv() override {
    if (!st) return;
    DeviceScope scope(st->device);
    cudaStreamSynchronize(st->stream);  // no kernel may still read these
    for (void* p : {A, static_cast<void*>(bias), static_cast<void*>(kdec)})
      if (p) cudaFree(p);
    cudaGetLastError();
    st->bytes_in_use -= bytes_;
  }
};

constexpr size_t kStageBytes = size_t(4) << 20;  // two pinned staging buffers of 4 MB

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
  Status synchronize() override;

  // One algorithm: the implicit GEMM (a GEMV for ≤ 8 output columns).
  ConvAlgorithm choose_conv_algorithm(const ConvShape&, ConvAlgorithm) const override { return ConvAlgorithm::kGemm; }
  Status pack_conv(const ConvShape& s, ConvAlgorithm algorithm, const float* w, const float* b,
                   std::unique_ptr<PackedConv>* out) override;
  Status plan_conv(const ConvShape& s, const PackedConv&, ConvPlan* out) const override {
    const IgemmPlan pl = PlanConv(s, prec_, sms_);
    *out = {ConvAlgorithm::kGemm, pl.kernel, pl.ws};
    return {};
  }
  Status conv2d(const ConvShape& s, const ConvPlan& plan, const PackedConv& w, bool relu, const float* x, float* y,
                float* workspace) override;

  Status maxpool2d(const PoolShape& s, const float* x, float* y) override;
  Status lrn(int N, int C, int H, int W, const LrnParams& p, const float* x, float* y) override;

  Precision precision() const { return prec_; }
  int sms() const { return sms_; }
  size_t bytes_in_use() const { return st_->bytes_in_use.load(); }

 private:
  CudaBackend() = default;
  Status Launched(cudaError_t e, const std::string& kernel);
  Status DeviceAlloc(size_t bytes, void** p, const char* what);
  Status EnsureStaging();
  Status CopyIn(void* dst, const void* src, size_t bytes);
  Status CopyOut(void* dst, const void* src, size_t bytes);

  std::shared_ptr<DeviceState> st_;
  Precision prec_ = Precision::kTf32;
  int sms_ = 0;
  bool sync_each_ = false;
  std::string family_;

  std::mutex alloc_mu_;
  std::unordered_map<float*, size_t> allocs_;

  std::mutex stage_mu_;
  void* pin_[2] = {nullptr, nullptr};
  cudaEvent_t ev_[2] = {nullptr, nullptr};
  unsigned next_ = 0;
  bool staging_tried_ = false;
};

Status CudaBackend::Create(const CudaOptions& o, std::unique_ptr<Backend>* out) {
  const std::string dev = "device 'cuda:" + std::to_string(o.device) + "'";
  const CudaInfo info = GetCudaInfo();
  if (info.devices.empty()) return Unsupported(dev + ": " + info.reason);
  if (o.device < 0 || o.device >= int(info.devices.size()))
    return InvalidArgument(dev + ": expected a device index in 0.." + std::to_string(info.devices.size() - 1) +
                           " (" + std::to_string(info.devices.size()) + " CUDA device" +
                           (info.devices.size() == 1 ? "" : "s") + "), got " + std::to_string(o.device));
  std::unique_ptr<CudaBackend> be(new CudaBackend());
  be->prec_ = o.precision;
  be->st_ = std::make_shared<DeviceState>();
  be->st_->device = o.device;
  VGG_CUDA_DEVICE(*be->st_);
  cudaDeviceProp prop{};
  VGG_CUDA_TRY(cudaGetDeviceProperties(&prop, o.device), "cudaGetDeviceProperties(" + std::to_string(o.device) + ")");
  const std::string desc = std::string(prop.name) + ", cc " + std::to_string(prop.major) + "." +
                           std::to_string(prop.minor) + ", " + std::to_string(prop.multiProcessorCount) + " SMs";
  if (o.precision != Precision::kFp32 && prop.major < 8)
    return Unsupported(dev + " (" + desc + "): precision '" + PrecisionName(o.precision) +
                       "' needs tensor cores of compute capability 8.0 or newer; use 'fp32'");
  const cudaError_t img = cuda::CheckKernelImage();
  if (img != cudaSuccess) {
    cudaGetLastError();
    return Unsupported(dev + " (" + desc + "): this build has no kernel image for it (compiled for sm_90; " +
                       "rebuild with CMAKE_CUDA_ARCHITECTURES including " + std::to_string(prop.major) +
                       std::to_string(prop.minor) + "): " + cudaGetErrorName(img));
  }
  be->sms_ = prop.multiProcessorCount;
  VGG_CUDA_TRY(cudaStreamCreateWithFlags(&be->st_->stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  const char* sync = std::getenv("VGGNET_CUDA_SYNC");
  be->sync_each_ = sync && *sync && std::strcmp(sync, "0") != 0;

  const Precision p = o.precision;
  const std::string t = DtypeTag(p);
  std::string conv;
  if (p == Precision::kFp32)
    conv = "conv2d_nchw_f32_igemm_simt_{64,128}x128x16 (fp32 FMA)";
  else
    conv = "conv2d_nchw_" + t + "_igemm_wmma_{64,128}x128x32 (tensor cores, wmma m16n16k" +
           (p == Precision::kTf32 ? "8" : "16") + ", fp32 accumulation)";
  const char* gemv = p == Precision::kBf16 ? "gemv_bf16w" : p == Precision::kFp16 ? "gemv_f16w" : "gemv_f32";
  be->family_ = std::string("cuda ") + PrecisionName(p) + " (" + desc + "): " + conv + ", " + gemv +
                "_x{1..8} (N·P·Q ≤ 8), splitk_reduce_bias_relu_f32, maxpool2d/lrn/softmax/spatial_mean/flip_w f32" +
                (be->sync_each_ ? "; VGGNET_CUDA_SYNC: synchronous launches" : "");
  *out = std::move(be);
  return {};
}

CudaBackend::~CudaBackend() {
  DeviceScope scope(st_->device);
  if (st_->stream) cudaStreamSynchronize(st_->stream);
  {
    std::lock_guard<std::mutex> lock(alloc_mu_);
    for (auto& kv : allocs_) {  // buffers the caller did not release: dispose() returns all device memory
      cudaFree(kv.first);
      st_->bytes_in_use -= kv.second;
    }
    allocs_.clear();
  }
  for (int i = 0; i < 2; ++i) {
    if (pin_[i]) cudaFreeHost(pin_[i]);
    if (ev_[i]) cudaEventDestroy(ev_[i]);
  }
  cudaGetLastError();
}

Status CudaBackend::Launched(cudaError_t e, const std::string& kernel) {
  if (e != cudaSuccess) return CudaFailure(e, "launch of " + kernel);
  if (sync_each_) VGG_CUDA_TRY(cudaStreamSynchronize(st_->stream), kernel + " (synchronised after launch)");
  return {};
}

Status CudaBackend::DeviceAlloc(size_t bytes, void** p, const char* what) {
  *p = nullptr;
  const cudaError_t e = cudaMalloc(p, bytes);
  if (e != cudaSuccess) {
    *p = nullptr;
    return CudaFailure(e, std::string("cudaMalloc(") + HumanBytes(bytes) + ")" + (what ? what : ""));
  }
  st_->bytes_in_use += bytes;
  return {};
}

Status CudaBackend::alloc(size_t floats, float** out) {
  *out = nullptr;
  if (floats > (SIZE_MAX / sizeof(float)) / 2) return DeviceError("cudaMalloc: " + std::to_string(floats) + " floats is too large");
  VGG_CUDA_DEVICE(*st_);
  const size_t bytes = std::max<size_t>(floats, 1) * sizeof(float);
  void* p = nullptr;
  VGG_RETURN_IF_ERROR(DeviceAlloc(bytes, &p, nullptr));
  std::lock_guard<std::mutex> lock(alloc_mu_);
  allocs_[static_cast<float*>(p)] = bytes;
  *out = static_cast<float*>(p);
  return {};
}

void CudaBackend::release(float* p) {
  if (!p) return;
  size_t bytes = 0;
  {
    std::lock_guard<std::mutex> lock(alloc_mu_);
    auto it = allocs_.find(p);
    if (it == allocs_.end()) return;  // not ours (or released twice): never free a foreign pointer
    bytes = it->second;
    allocs_.erase(it);
  }
  DeviceScope scope(st_->device);
  cudaStreamSynchronize(st_->stream);  // kernels queued on this buffer finish first
  cudaFree(p);
  cudaGetLastError();
  st_->bytes_in_use -= bytes;
}

Status CudaBackend::EnsureStaging() {
  if (staging_tried_) return {};
  staging_tried_ = true;
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

// Host → device. Returns once `src` may be reused; the copy itself may still be in flight on the stream
// (kernels queued after it on the stream see it).
Status CudaBackend::CopyIn(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return {};
  std::lock_guard<std::mutex> lock(stage_mu_);
  VGG_RETURN_IF_ERROR(EnsureStaging());
  cudaStream_t s = st_->stream;
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

// Device → host, after everything queued before it on the stream. Returns when `dst` holds the data.
Status CudaBackend::CopyOut(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return {};
  std::lock_guard<std::mutex> lock(stage_mu_);
  VGG_RETURN_IF_ERROR(EnsureStaging());
  cudaStream_t s = st_->stream;
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

Status CudaBackend::upload(float* dst, const float* host_src, size_t floats) {
  VGG_CUDA_DEVICE(*st_);
  return CopyIn(dst, host_src, floats * sizeof(float));
}

Status CudaBackend::download(float* host_dst, const float* src, size_t floats) {
  VGG_CUDA_DEVICE(*st_);
  return CopyOut(host_dst, src, floats * sizeof(float));
}

Status CudaBackend::synchronize() {
  VGG_CUDA_DEVICE(*st_);
  VGG_CUDA_TRY(cudaStreamSynchronize(st_->stream), "cudaStreamSynchronize");
  return {};
}

Status CudaBackend::pack_conv(const ConvShape& s, ConvAlgorithm algorithm, const float* w, const float* b,
                              std::unique_ptr<PackedConv>* out) {
  if (algorithm != ConvAlgorithm::kGemm)
    return Unsupported(std::string("pack_conv: the CUDA backend has only the implicit GEMM, not '") +
                       ConvAlgorithmName(algorithm) + "'");
  if (s.C < 1 || s.K < 1 || s.R < 1 || s.S < 1 || s.stride < 1 || s.pad < 0)
    return InvalidArgument("pack_conv: expected C, K, R, S, stride ≥ 1 and pad ≥ 0");
  if (!w) return InvalidArgument("pack_conv: weights missing");
  if (s.R > 0x7fff || s.S > 0xffff) return Unsupported("pack_conv: kernel larger than 32767×65535");
  const long long kdim = (long long)s.C * s.R * s.S;
  if (kdim > INT_MAX - cuda::kRedPad || s.K > INT_MAX - cuda::kRowPad)
    return Unsupported("pack_conv: C·R·S = " + std::to_string(kdim) + " and K = " + std::to_string(s.K) +
                       " must stay below 2^31");
  VGG_CUDA_DEVICE(*st_);
  auto pc = std::make_unique<CudaPackedConv>();
  pc->st = st_;
  pc->prec = prec_;
  pc->C = s.C; pc->K = s.K; pc->R = s.R; pc->S = s.S; pc->stride = s.stride; pc->pad = s.pad;
  pc->Kdim = int(kdim);
  pc->Kpad = RoundUp(pc->Kdim, cuda::kRedPad);
  pc->Mpad = RoundUp(s.K, cuda::kRowPad);
  const size_t a_bytes = size_t(pc->Mpad) * size_t(pc->Kpad) * WeightElemBytes(prec_);
  const size_t b_bytes = size_t(pc->Mpad) * sizeof(float);
  const size_t d_bytes = size_t(pc->Kpad) * sizeof(int2);
  void* p = nullptr;
  VGG_RETURN_IF_ERROR(DeviceAlloc(a_bytes, &p, " for packed weights"));
  pc->A = p; pc->bytes_ += a_bytes;
  VGG_RETURN_IF_ERROR(DeviceAlloc(b_bytes, &p, " for bias"));
  pc->bias = static_cast<float*>(p); pc->bytes_ += b_bytes;
  VGG_RETURN_IF_ERROR(DeviceAlloc(d_bytes, &p, " for the reduction index table"));
  pc->kdec = static_cast<int2*>(p); pc->bytes_ += d_bytes;

  cudaStream_t st = st_->stream;
  // bias: zeros, then the K values (a layer without bias adds zeros, like the reference's 0.0)
  VGG_CUDA_TRY(cudaMemsetAsync(pc->bias, 0, b_bytes, st), "cudaMemsetAsync(bias)");
  if (b) VGG_RETURN_IF_ERROR(CopyIn(pc->bias, b, size_t(s.K) * sizeof(float)));
  // kdec: reduction index j = (c·R + r)·S + t ↦ {c, r << 16 | t}; {-1, 0} in the padding
  std::vector<int2> kdec(size_t(pc->Kpad));
  for (int j = 0; j < pc->Kpad; ++j) {
    if (j < pc->Kdim) {
      const int c = j / (s.R * s.S), rs = j % (s.R * s.S);
      kdec[size_t(j)] = make_int2(c, ((rs / s.S) << 16) | (rs % s.S));
    } else {
      kdec[size_t(j)] = make_int2(-1, 0);
    }
  }
  VGG_RETURN_IF_ERROR(CopyIn(pc->kdec, kdec.data(), d_bytes));
  // weights: raw OIHW to a temporary buffer, then pack_weights pads and converts
  const size_t raw_bytes = size_t(s.K) * size_t(pc->Kdim) * sizeof(float);
  void* raw = nullptr;
  VGG_RETURN_IF_ERROR(DeviceAlloc(raw_bytes, &raw, " for staging the weights"));
  struct TempFree {
    DeviceState* st; void* p; size_t bytes;
    ~TempFree() { cudaStreamSynchronize(st->stream); cudaFree(p); cudaGetLastError(); st->bytes_in_use -= bytes; }
  } temp{st_.get(), raw, raw_bytes};
  VGG_RETURN_IF_ERROR(CopyIn(raw, w, raw_bytes));
  VGG_RETURN_IF_ERROR(Launched(cuda::LaunchPackWeights(MathOf(prec_), static_cast<const float*>(raw), s.K, pc->Kdim,
                                                       pc->Mpad, pc->Kpad, pc->A, st),
                               std::string("pack_weights_") + DtypeTag(prec_)));
  VGG_CUDA_TRY(cudaStreamSynchronize(st), "cudaStreamSynchronize after packing weights");
  *out = std::move(pc);
  return {};
}

Status CudaBackend::conv2d(const ConvShape& s, const ConvPlan&, const PackedConv& packed, bool relu, const float* x,
                           float* y, float* workspace) {
  const auto* pc = dynamic_cast<const CudaPackedConv*>(&packed);
  if (!pc || pc->st != st_) return InvalidArgument("conv2d: the weights were packed by another backend");
  if (pc->C != s.C || pc->K != s.K || pc->R != s.R || pc->S != s.S || pc->stride != s.stride || pc->pad != s.pad)
    return InvalidArgument("conv2d: shape (C " + std::to_string(s.C) + ", K " + std::to_string(s.K) + ", " +
                           std::to_string(s.R) + "x" + std::to_string(s.S) + ") differs from the packed weights (C " +
                           std::to_string(pc->C) + ", K " + std::to_string(pc->K) + ", " + std::to_string(pc->R) +
                           "x" + std::to_string(pc->S) + ")");
  if (s.N < 1 || s.H < 1 || s.W < 1 || s.P() < 1 || s.Q() < 1)
    return InvalidArgument("conv2d: empty input or kernel larger than the padded input");
  const long long chw = (long long)s.C * s.H * s.W;
  const long long cols = (long long)s.N * s.P() * s.Q();
  if (chw > INT_MAX || cols > INT_MAX)
    return Unsupported("conv2d: " + std::to_string(chw) + " input floats per image and " + std::to_string(cols) +
                       " output columns must stay below 2^31");
  if (pc->prec != prec_) return InvalidArgument("conv2d: weights packed for another precision");
  const IgemmPlan pl = PlanConv(s, prec_, sms_);
  if (pl.ws && !workspace)
    return InvalidArgument("conv2d: needs a workspace of " + std::to_string(pl.ws) + " floats (conv_workspace)");
  if (pl.ws && reinterpret_cast<uintptr_t>(workspace) % 16 != 0)
    return InvalidArgument("conv2d: workspace must be 16-byte aligned");
  VGG_CUDA_DEVICE(*st_);
  cudaStream_t st = st_->stream;

  cuda::ConvArgs a;
  a.x = x; a.A = pc->A; a.bias = pc->bias; a.kdec = pc->kdec; a.y = y;
  a.C = s.C; a.H = s.H; a.W = s.W; a.K = s.K; a.P = s.P(); a.Q = s.Q(); a.stride = s.stride; a.pad = s.pad;
  a.Kpad = pc->Kpad; a.cols = int(cols); a.PQ = a.P * a.Q; a.HW = s.H * s.W;
  a.CHW = chw; a.KPQ = (long long)s.K * a.PQ;
  a.relu = relu ? 1 : 0;
  const Math math = MathOf(prec_);

  if (pl.gemv) {
    VGG_RETURN_IF_ERROR(Launched(cuda::LaunchIm2colColumns(a, workspace, st), "im2col_columns_f32"));
    return Launched(cuda::LaunchGemv(math, pc->A, pc->Kpad, pc->bias, workspace, int(cols), s.K, a.PQ, a.relu, y, st),
                    pl.kernel);
  }
  a.ktiles = pl.ktiles;
  a.ktiles_per_split = pl.per;
  a.mtiles = pl.mtiles;
  a.ntiles = pl.ntiles;
  a.partial = pl.split > 1 ? workspace : nullptr;
  const cudaError_t e = math == Math::kSimt ? cuda::LaunchConvSimt(a, pl.bm, pl.split, st)
                                            : cuda::LaunchConvWmma(math, a, pl.bm, pl.split, st);
  VGG_RETURN_IF_ERROR(Launched(e, pl.kernel));
  if (pl.split > 1)
    VGG_RETURN_IF_ERROR(Launched(cuda::LaunchSplitkReduce(workspace, pl.split, s.K, int(cols), a.PQ, pc->bias, a.relu, y, st),
                                 "splitk_reduce_bias_relu_f32"));
  return {};
}

Status CudaBackend::maxpool2d(const PoolShape& s, const float* x, float* y) {
  if (s.window < 1 || s.stride < 1 || s.H < s.window || s.W < s.window)
    return InvalidArgument("maxpool2d: input smaller than the window, or window/stride < 1");
  if (s.N * (long long)s.C == 0) return {};
  VGG_CUDA_DEVICE(*st_);
  return Launched(cuda::LaunchMaxpool(x, y, (long long)s.N * s.C, s.H, s.W, s.P(), s.Q(), s.window, s.stride,
                                      st_->stream),
                  "maxpool2d_nchw_f32");
}

Status CudaBackend::lrn(int N, int C, int H, int W, const LrnParams& p, const float* x, float* y) {
  if (p.size < 1) return InvalidArgument("lrn: size must be ≥ 1");
  if ((long long)N * C * H * W == 0) return {};
  VGG_CUDA_DEVICE(*st_);
  return Launched(cuda::LaunchLrn(x, y, N, C, (long long)H * W, p.size, p.alpha, p.beta, p.k, st_->stream),
                  "lrn_nchw_f32");
}

}  // namespace

Status MakeCudaBackend(const CudaOptions& opt, std::unique_ptr<Backend>* out) { return CudaBackend::Create(opt, out); }

Status MakeCudaBackend(int device, std::unique_ptr<Backend>* out) {
  CudaOptions o;
  o.device = device;
  return CudaBackend::Create(o, out);
}

namespace cuda {

std::string ConvKernelName(const Backend& be, const ConvShape& s) {
  const auto* cb = dynamic_cast<const CudaBackend*>(&be);
  return cb ? PlanConv(s, cb->precision(), cb->sms()).kernel : std::string();
}

ConvPlanInfo PlanConvFor(const ConvShape& s, Precision p, int sms) {
  const IgemmPlan pl = PlanConv(s, p, sms);
  ConvPlanInfo r;
  r.kernel = pl.kernel;
  r.split = pl.split;
  r.workspace_floats = pl.ws;
  r.gemv = pl.gemv;
  r.bm = pl.bm;
  return r;
}

size_t DeviceBytesInUse(const Backend& be) {
  const auto* cb = dynamic_cast<const CudaBackend*>(&be);
  return cb ? cb->bytes_in_use() : 0;
}

int DeviceSms(const Backend& be) {
  const auto* cb = dynamic_cast<const CudaBackend*>(&be);
  return cb ? cb->sms() : 0;
}

Status MeasurePeakFlops(int device, Precision p, double* flops) {
  *flops = 0;
  DeviceState ds;  // own stream, destroyed on return
  ds.device = device;
  VGG_CUDA_DEVICE(ds);
  cudaDeviceProp prop{};
  VGG_CUDA_TRY(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  VGG_CUDA_TRY(cudaStreamCreateWithFlags(&ds.stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  float* sink = nullptr;
  VGG_CUDA_TRY(cudaMalloc(&sink, cuda::kThreads * sizeof(float)), "cudaMalloc(peak sink)");
  struct Free { float* p; ~Free() { cudaFree(p); cudaGetLastError(); } } free_sink{sink};
  cudaEvent_t e0 = nullptr, e1 = nullptr;
  VGG_CUDA_TRY(cudaEventCreate(&e0), "cudaEventCreate");
  VGG_CUDA_TRY(cudaEventCreate(&e1), "cudaEventCreate");
  struct FreeEv { cudaEvent_t a, b; ~FreeEv() { cudaEventDestroy(a); cudaEventDestroy(b); cudaGetLastError(); } } free_ev{e0, e1};
  const int blocks = prop.multiProcessorCount * 4;
  const Math math = MathOf(p);
  long long iters = 1 << 12;
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    double flop = 0;
    VGG_CUDA_TRY(cudaEventRecord(e0, ds.stream), "cudaEventRecord");
    VGG_CUDA_TRY(cuda::LaunchPeak(math, blocks, iters, sink, &flop, ds.stream), "launch of peak loop");
    VGG_CUDA_TRY(cudaEventRecord(e1, ds.stream), "cudaEventRecord");
    VGG_CUDA_TRY(cudaEventSynchronize(e1), "cudaEventSynchronize (peak loop)");
    float ms = 0;
    VGG_CUDA_TRY(cudaEventElapsedTime(&ms, e0, e1), "cudaEventElapsedTime");
    if (ms > 0) best = std::max(best, flop / (double(ms) * 1e-3));
    // Aim for ~40 ms per measurement after the first (calibration) run.
    if (rep == 0 && ms > 0) iters = std::max<long long>(iters, (long long)(double(iters) * 40.0 / double(ms)));
  }
  *flops = best;
  return {};
}

}  // namespace cuda
}  // namespace vgg
