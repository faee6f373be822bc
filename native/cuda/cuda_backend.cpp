#include "cuda/cuda_backend.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cuda/cuda_kernels.h"
#include "cuda/cuda_planner.h"

#ifndef VGGNET_CUDA_ARCHS
#define VGGNET_CUDA_ARCHS "(not recorded)"
#endif

namespace vgg {
namespace cuda {
namespace {

int RoundUp(int v, int m) { return (v + m - 1) / m * m; }

// Conv weights on the device: A [Mpad][Kpad] in the precision's storage type and order (WeightLayout),
// bias [Mpad], kdec [Kpad].
class CudaPackedConv final : public PackedConv {
 public:
  std::shared_ptr<DeviceState> st;
  Precision prec = Precision::kTf32;
  int C = 0, K = 0, R = 0, S = 0, stride = 1, pad = 0;
  WeightLayout layout;
  int Mpad = 0;
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

}  // namespace

Status CudaBackend::Create(const CudaOptions& o, std::unique_ptr<Backend>* out) {
  const std::string dev = "device 'cuda:" + std::to_string(o.device) + "'";
  const CudaInfo info = GetCudaInfo();
  if (info.devices.empty()) return Unsupported(dev + ": " + info.reason);
  if (o.device < 0 || o.device >= int(info.devices.size()))
    return InvalidArgument(dev + ": expected a device index in 0.." + std::to_string(info.devices.size() - 1) + " (" +
                           std::to_string(info.devices.size()) + " CUDA device" +
                           (info.devices.size() == 1 ? "" : "s") + "), got " + std::to_string(o.device));
  std::unique_ptr<CudaBackend> be(new CudaBackend());
  be->prec_ = o.precision;
  be->st_ = std::make_shared<DeviceState>();
  be->st_->device = o.device;
  be->staging_ = std::make_unique<PinnedStaging>();
  VGG_CUDA_DEVICE(*be->st_);
  cudaDeviceProp prop{};
  VGG_CUDA_TRY(cudaGetDeviceProperties(&prop, o.device), "cudaGetDeviceProperties(" + std::to_string(o.device) + ")");
  const std::string desc = std::string(prop.name) + ", cc " + std::to_string(prop.major) + "." +
                           std::to_string(prop.minor) + ", " + std::to_string(prop.multiProcessorCount) + " SMs";
  if (o.precision != Precision::kFp32 && prop.major < 8)
    return Unsupported(dev + " (" + desc + "): precision '" + PrecisionName(o.precision) +
                       "' needs tensor cores of compute capability 8.0 or newer; use 'fp32'");
  const cudaError_t img = CheckKernelImage();
  if (img != cudaSuccess) {
    cudaGetLastError();
    return Unsupported(dev + " (" + desc + "): this build has no kernel image for it (CUDA architectures " +
                       VGGNET_CUDA_ARCHS + "; rebuild with CMAKE_CUDA_ARCHITECTURES including " +
                       std::to_string(prop.major) + std::to_string(prop.minor) + "): " + cudaGetErrorName(img));
  }
  be->sms_ = prop.multiProcessorCount;
  VGG_CUDA_TRY(cudaStreamCreateWithFlags(&be->st_->stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  const char* sync = std::getenv("VGGNET_CUDA_SYNC");
  be->sync_each_ = sync && *sync && std::strcmp(sync, "0") != 0;

  const Precision p = o.precision;
  const std::string t = DtypeTag(p);
  std::string conv;
  if (p == Precision::kFp32) conv = "conv2d_nchw_f32_igemm_simt_{64,128}x128x16 (fp32 FMA)";
  else
    conv = "nchw_to_nhwc_" + t + " + conv2d_nhwc_" + t + "_igemm_mma_{128x128,64x128,64x64}x" +
           (p == Precision::kTf32 ? "16" : "32") + " (tensor cores, cp.async + ldmatrix + mma.sync m16n8k" +
           (p == Precision::kTf32 ? "8" : "16") + ", fp32 accumulation)";
  const char* gemv = p == Precision::kBf16 ? "gemv_bf16w" : p == Precision::kFp16 ? "gemv_f16w" : "gemv_f32";
  be->family_ = std::string("cuda ") + PrecisionName(p) + " (" + desc + "): " + conv + ", " + gemv +
                "_x{1..8} (N·P·Q ≤ 8), splitk_reduce_bias_relu_f32, maxpool2d/lrn f32" +
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
  staging_.reset();
  cudaGetLastError();
}

namespace {
// Errors a launch itself causes (its configuration or image); any other error a launch returns is an
// earlier kernel's asynchronous failure, surfacing there.
bool IsLaunchError(cudaError_t e) {
  return e == cudaErrorInvalidConfiguration || e == cudaErrorInvalidValue || e == cudaErrorLaunchOutOfResources ||
         e == cudaErrorInvalidDeviceFunction || e == cudaErrorNoKernelImageForDevice ||
         e == cudaErrorMissingConfiguration || e == cudaErrorNotSupported;
}
}  // namespace

// Errors are blamed on what caused them: an error left pending before the launch (by other CUDA code on
// this thread) is reported as such; a launch-configuration error names this kernel; an asynchronous
// failure of an earlier kernel that surfaces at this launch, or at a later synchronisation, names the
// kernels launched since the stream last synchronised, one of which failed (VGGNET_CUDA_SYNC=1
// synchronises after every launch, so the failing one is named alone).
template <class Launch>
Status CudaBackend::Run(const std::string& kernel, Launch&& launch) {
  const cudaError_t pending = cudaPeekAtLastError();
  if (pending != cudaSuccess) return CudaFailure(pending, "a CUDA call before the launch of " + kernel);
  const cudaError_t e = launch();
  if (e != cudaSuccess) {
    if (IsLaunchError(e)) return CudaFailure(e, "launch of " + kernel);
    return AsyncFailure(e, "launch of " + kernel);
  }
  if (capturing_) {  // recorded, not run: nothing is in flight
    ++captured_ops_;
    return {};
  }
  if (in_flight_.size() == kMaxInFlight) in_flight_.erase(in_flight_.begin());
  in_flight_.push_back(kernel);
  ++launches_since_sync_;
  if (sync_each_) {
    const cudaError_t se = cudaStreamSynchronize(st_->stream);
    if (se != cudaSuccess) return CudaFailure(se, kernel + " (synchronised after launch)");
    Synchronised();
  }
  return {};
}

Status CudaBackend::AsyncFailure(cudaError_t e, const std::string& call) {
  Status st = CudaFailure(e, call);
  st.message += InFlightNote();
  Synchronised();
  return st;
}

std::string CudaBackend::InFlightNote() const {
  if (in_flight_.empty()) return std::string();
  std::string ks = launches_since_sync_ > in_flight_.size() ? "…, " : "";
  for (size_t i = 0; i < in_flight_.size(); ++i) ks += (i ? ", " : "") + in_flight_[i];
  return " (if a kernel failed asynchronously, it is one of those launched since the last synchronisation: " + ks +
         "; VGGNET_CUDA_SYNC=1 names it)";
}

void CudaBackend::Synchronised() {
  in_flight_.clear();
  launches_since_sync_ = 0;
}

Status CudaBackend::alloc(size_t floats, float** out) {
  *out = nullptr;
  if (floats > (SIZE_MAX / sizeof(float)) / 2)
    return DeviceError("cudaMalloc: " + std::to_string(floats) + " floats is too large");
  VGG_CUDA_DEVICE(*st_);
  const size_t bytes = std::max<size_t>(floats, 1) * sizeof(float);
  void* p = nullptr;
  VGG_RETURN_IF_ERROR(st_->Alloc(bytes, &p, nullptr));
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
  st_->Free(p, bytes);  // after the kernels queued on this buffer
}

Status CudaBackend::upload(float* dst, const float* host_src, size_t floats) {
  VGG_CUDA_DEVICE(*st_);
  return staging_->CopyIn(st_->stream, dst, host_src, floats * sizeof(float));
}

Status CudaBackend::download(float* host_dst, const float* src, size_t floats) {
  VGG_CUDA_DEVICE(*st_);
  Status st = staging_->CopyOut(st_->stream, host_dst, src, floats * sizeof(float));
  if (!st.ok()) st.message += InFlightNote();
  Synchronised();  // CopyOut waited for everything queued before it (or failed)
  return st;
}

Status CudaBackend::copy(float* dst, const float* src, size_t floats) {
  if (floats == 0) return {};
  VGG_CUDA_DEVICE(*st_);
  return Run("cudaMemcpyAsync(device to device, " + HumanBytes(floats * sizeof(float)) + ")",
             [&] { return cudaMemcpyAsync(dst, src, floats * sizeof(float), cudaMemcpyDeviceToDevice, st_->stream); });
}

Status CudaBackend::synchronize() {
  VGG_CUDA_DEVICE(*st_);
  const cudaError_t e = cudaStreamSynchronize(st_->stream);
  if (e != cudaSuccess) return AsyncFailure(e, "cudaStreamSynchronize");
  Synchronised();
  return {};
}

namespace {
// A plan's layer program as an instantiated CUDA graph.
class CudaGraphRun final : public CapturedRun {
 public:
  std::shared_ptr<DeviceState> st;
  cudaGraphExec_t exec = nullptr;
  size_t n = 0;
  size_t ops() const override { return n; }
  ~CudaGraphRun() override {
    if (!exec) return;
    DeviceScope scope(st->device);
    cudaGraphExecDestroy(exec);  // a launch still in flight completes first (the driver frees it after)
    cudaGetLastError();
  }
};
}  // namespace

std::string CudaBackend::capture_unavailable() const {
  return sync_each_ ? "VGGNET_CUDA_SYNC: every launch is synchronised, which a CUDA graph capture cannot hold" : "";
}

Status CudaBackend::begin_capture() {
  if (!capture_unavailable().empty()) return Unsupported("begin_capture: " + capture_unavailable());
  if (capturing_) return InvalidArgument("begin_capture: a capture is already under way");
  VGG_CUDA_DEVICE(*st_);
  const cudaError_t pending = cudaPeekAtLastError();
  if (pending != cudaSuccess) return CudaFailure(pending, "a CUDA call before cudaStreamBeginCapture");
  // Thread-local mode: other threads (other models) may allocate meanwhile; this thread only queues kernels.
  const cudaError_t e = cudaStreamBeginCapture(st_->stream, cudaStreamCaptureModeThreadLocal);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return Unsupported(std::string("cudaStreamBeginCapture: ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) +
                       ")");
  }
  capturing_ = true;
  captured_ops_ = 0;
  return {};
}

Status CudaBackend::end_capture(std::unique_ptr<CapturedRun>* out) {
  out->reset();
  if (!capturing_) return InvalidArgument("end_capture: no capture under way");
  VGG_CUDA_DEVICE(*st_);
  capturing_ = false;
  cudaGraph_t graph = nullptr;
  const cudaError_t e = cudaStreamEndCapture(st_->stream, &graph);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (graph) cudaGraphDestroy(graph);
    return Unsupported(std::string("cudaStreamEndCapture: ") + cudaGetErrorName(e));
  }
  auto run = std::make_unique<CudaGraphRun>();
  run->st = st_;
  run->n = captured_ops_;
  const cudaError_t ie = cudaGraphInstantiate(&run->exec, graph, 0);
  cudaGraphDestroy(graph);
  if (ie != cudaSuccess) {
    cudaGetLastError();
    run->exec = nullptr;
    return Unsupported(std::string("cudaGraphInstantiate: ") + cudaGetErrorName(ie));
  }
  *out = std::move(run);
  return {};
}

Status CudaBackend::replay(const CapturedRun& run) {
  const auto* g = dynamic_cast<const CudaGraphRun*>(&run);
  if (!g || g->st != st_) return InvalidArgument("replay: the recording was made by another backend");
  const std::string what = "CUDA graph (" + std::to_string(g->n) + " kernels of a plan)";
  return Run(what, [&] { return cudaGraphLaunch(g->exec, st_->stream); });
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
  const long long kdim = (long long)s.R * s.S * (s.C + 7);  // the reduction, channels padded (WeightLayout)
  if (kdim > INT_MAX - kRedPad || s.K > INT_MAX - kRowPad)
    return Unsupported("pack_conv: C·R·S = " + std::to_string(kdim) + " and K = " + std::to_string(s.K) +
                       " must stay below 2^31");
  VGG_CUDA_DEVICE(*st_);
  auto pc = std::make_unique<CudaPackedConv>();
  pc->st = st_;
  pc->prec = prec_;
  pc->C = s.C;
  pc->K = s.K;
  pc->R = s.R;
  pc->S = s.S;
  pc->stride = s.stride;
  pc->pad = s.pad;
  pc->layout = WeightLayoutOf(s, prec_);
  const WeightLayout& wl = pc->layout;
  pc->Mpad = RoundUp(s.K, kRowPad);
  const size_t a_bytes = size_t(pc->Mpad) * size_t(wl.Kpad) * size_t(wl.elem_bytes);
  const size_t b_bytes = size_t(pc->Mpad) * sizeof(float);
  const size_t d_bytes = size_t(wl.Kpad) * sizeof(int2);
  void* p = nullptr;
  VGG_RETURN_IF_ERROR(st_->Alloc(a_bytes, &p, " for packed weights"));
  pc->A = p;
  pc->bytes_ += a_bytes;
  VGG_RETURN_IF_ERROR(st_->Alloc(b_bytes, &p, " for bias"));
  pc->bias = static_cast<float*>(p);
  pc->bytes_ += b_bytes;
  VGG_RETURN_IF_ERROR(st_->Alloc(d_bytes, &p, " for the reduction index table"));
  pc->kdec = static_cast<int2*>(p);
  pc->bytes_ += d_bytes;

  cudaStream_t st = st_->stream;
  // bias: zeros, then the K values (a layer without bias adds zeros, like the reference's 0.0)
  VGG_CUDA_TRY(cudaMemsetAsync(pc->bias, 0, b_bytes, st), "cudaMemsetAsync(bias)");
  if (b) VGG_RETURN_IF_ERROR(staging_->CopyIn(st, pc->bias, b, size_t(s.K) * sizeof(float)));
  // kdec: reduction index j ↦ {c, r << 16 | s} in the layout's order; {-1, 0} in the padding
  const int RS = s.R * s.S;
  std::vector<int2> kdec(size_t(wl.Kpad), make_int2(-1, 0));
  for (int j = 0; j < wl.Kpad; ++j) {
    const int c = wl.krsc ? j % wl.Cp : j / RS, rs = wl.krsc ? j / wl.Cp : j % RS;
    if (c < s.C && rs < RS) kdec[size_t(j)] = make_int2(c, ((rs / s.S) << 16) | (rs % s.S));
  }
  VGG_RETURN_IF_ERROR(staging_->CopyIn(st, pc->kdec, kdec.data(), d_bytes));
  // weights: raw OIHW to a temporary buffer, then pack_weights orders, pads and converts
  const size_t raw_bytes = size_t(s.K) * size_t(s.C) * size_t(RS) * sizeof(float);
  void* raw = nullptr;
  VGG_RETURN_IF_ERROR(st_->Alloc(raw_bytes, &raw, " for staging the weights"));
  struct TempFree {
    DeviceState* st;
    void* p;
    size_t bytes;
    ~TempFree() { st->Free(p, bytes); }
  } temp{st_.get(), raw, raw_bytes};
  VGG_RETURN_IF_ERROR(staging_->CopyIn(st, raw, w, raw_bytes));
  const Math math = MathOf(prec_);
  VGG_RETURN_IF_ERROR(Run(std::string("pack_weights_") + DtypeTag(prec_), [&] {
    return LaunchPackWeights(math, static_cast<const float*>(raw), s.K, s.C, RS, wl.krsc ? wl.Cp : 0, pc->Mpad, wl.Kpad,
                             pc->A, st);
  }));
  const cudaError_t se = cudaStreamSynchronize(st);
  if (se != cudaSuccess) return AsyncFailure(se, "cudaStreamSynchronize after packing weights");
  Synchronised();
  *out = std::move(pc);
  return {};
}

Status CudaBackend::plan_conv(const ConvShape& s, const PackedConv&, ConvPlan* out) const {
  const IgemmPlan pl = PlanConv(s, prec_, sms_);
  *out = {ConvAlgorithm::kGemm, pl.kernel, pl.ws};
  return {};
}

Status CudaBackend::conv2d(const ConvShape& s, const ConvPlan&, const PackedConv& packed, bool relu, const float* x,
                           float* y, float* workspace) {
  const auto* pc = dynamic_cast<const CudaPackedConv*>(&packed);
  if (!pc || pc->st != st_) return InvalidArgument("conv2d: the weights were packed by another backend");
  if (pc->C != s.C || pc->K != s.K || pc->R != s.R || pc->S != s.S || pc->stride != s.stride || pc->pad != s.pad)
    return InvalidArgument("conv2d: shape (C " + std::to_string(s.C) + ", K " + std::to_string(s.K) + ", " +
                           std::to_string(s.R) + "x" + std::to_string(s.S) + ") differs from the packed weights (C " +
                           std::to_string(pc->C) + ", K " + std::to_string(pc->K) + ", " + std::to_string(pc->R) + "x" +
                           std::to_string(pc->S) + ")");
  if (s.N < 1 || s.H < 1 || s.W < 1 || s.P() < 1 || s.Q() < 1)
    return InvalidArgument("conv2d: empty input or kernel larger than the padded input");
  const long long chw = (long long)s.C * s.H * s.W;
  const long long cols = (long long)s.N * s.P() * s.Q();
  if (chw > INT_MAX || cols > INT_MAX)
    return Unsupported("conv2d: " + std::to_string(chw) + " input floats per image and " + std::to_string(cols) +
                       " output columns must stay below 2^31");
  if (pc->prec != prec_) return InvalidArgument("conv2d: weights packed for another precision");
  const WeightLayout& wl = pc->layout;
  if ((long long)s.N * s.H * s.W * wl.Cp > INT_MAX)
    return Unsupported("conv2d: " + std::to_string((long long)s.N * s.H * s.W * wl.Cp) +
                       " input elements (NHWC, channels padded) must stay below 2^31");
  const IgemmPlan pl = PlanConv(s, prec_, sms_);
  if (pl.ws && !workspace)
    return InvalidArgument("conv2d: needs a workspace of " + std::to_string(pl.ws) + " floats (plan_conv)");
  if (pl.ws && reinterpret_cast<uintptr_t>(workspace) % 16 != 0)
    return InvalidArgument("conv2d: workspace must be 16-byte aligned");
  VGG_CUDA_DEVICE(*st_);
  cudaStream_t st = st_->stream;

  ConvArgs a;
  a.x = x;
  a.A = pc->A;
  a.bias = pc->bias;
  a.kdec = pc->kdec;
  a.y = y;
  a.C = s.C;
  a.H = s.H;
  a.W = s.W;
  a.K = s.K;
  a.P = s.P();
  a.Q = s.Q();
  a.R = s.R;
  a.S = s.S;
  a.stride = s.stride;
  a.pad = s.pad;
  a.Cp = wl.Cp;
  a.Kpad = wl.Kpad;
  a.cols = int(cols);
  a.PQ = a.P * a.Q;
  a.HW = s.H * s.W;
  a.CHW = chw;
  a.KPQ = (long long)s.K * a.PQ;
  a.relu = relu ? 1 : 0;
  const Math math = MathOf(prec_);

  if (pl.gemv) {
    VGG_RETURN_IF_ERROR(Run("im2col_columns_f32", [&] { return LaunchIm2colColumns(a, workspace, st); }));
    return Run(pl.kernel, [&] {
      return LaunchGemv(math, pc->A, wl.Kpad, pc->bias, workspace, int(cols), s.K, a.PQ, a.relu, pl.gemv_threads, y,
                        st);
    });
  }
  a.ktiles = pl.ktiles;
  a.ktiles_per_split = pl.per;
  a.mtiles = pl.mtiles;
  a.ntiles = pl.ntiles;
  a.partial = pl.split > 1 ? workspace + pl.ws_nhwc : nullptr;
  if (pl.mma) {
    a.xh = workspace;
    VGG_RETURN_IF_ERROR(Run(std::string("nchw_to_nhwc_") + DtypeTag(prec_),
                            [&] { return LaunchNchwToNhwc(math, x, s.N, s.C, s.H * s.W, wl.Cp, workspace, st); }));
  }
  VGG_RETURN_IF_ERROR(Run(pl.kernel, [&] {
    return pl.mma ? LaunchConvMma(math, a, pl.tile, pl.split, st) : LaunchConvSimt(a, pl.bm, pl.split, st);
  }));
  if (pl.split > 1)
    VGG_RETURN_IF_ERROR(Run("splitk_reduce_bias_relu_f32", [&] {
      return LaunchSplitkReduce(a.partial, pl.split, s.K, int(cols), a.PQ, pc->bias, a.relu, y, st);
    }));
  return {};
}

Status CudaBackend::maxpool2d(const PoolShape& s, const float* x, float* y) {
  if (s.window < 1 || s.stride < 1 || s.H < s.window || s.W < s.window)
    return InvalidArgument("maxpool2d: input smaller than the window, or window/stride < 1");
  if (s.N * (long long)s.C == 0) return {};
  VGG_CUDA_DEVICE(*st_);
  return Run("maxpool2d_nchw_f32", [&] {
    return LaunchMaxpool(x, y, (long long)s.N * s.C, s.H, s.W, s.P(), s.Q(), s.window, s.stride, st_->stream);
  });
}

Status CudaBackend::lrn(int N, int C, int H, int W, const LrnParams& p, const float* x, float* y) {
  if (p.size < 1) return InvalidArgument("lrn: size must be ≥ 1");
  if ((long long)N * C * H * W == 0) return {};
  VGG_CUDA_DEVICE(*st_);
  return Run("lrn_nchw_f32",
             [&] { return LaunchLrn(x, y, N, C, (long long)H * W, p.size, p.alpha, p.beta, p.k, st_->stream); });
}

Status CudaBackend::relu(float* x, size_t n) {
  if (n == 0) return {};
  VGG_CUDA_DEVICE(*st_);
  return Run("relu_f32", [&] { return LaunchRelu(x, (long long)n, st_->stream); });
}

Status CudaBackend::adaptive_avgpool2d(const AdaptivePoolShape& s, const float* x, float* y) {
  if (s.P < 1 || s.Q < 1 || s.H < 1 || s.W < 1) return InvalidArgument("adaptive_avgpool2d: empty input or output");
  if (s.N * (long long)s.C == 0) return {};
  VGG_CUDA_DEVICE(*st_);
  return Run("adaptive_avgpool2d_nchw_f32",
             [&] { return LaunchAdaptiveAvgpool(x, y, (long long)s.N * s.C, s.H, s.W, s.P, s.Q, st_->stream); });
}

}  // namespace cuda

Status MakeCudaBackend(const CudaOptions& opt, std::unique_ptr<Backend>* out) {
  return cuda::CudaBackend::Create(opt, out);
}

Status MakeCudaBackend(int device, std::unique_ptr<Backend>* out) {
  CudaOptions o;
  o.device = device;
  return cuda::CudaBackend::Create(o, out);
}

}  // namespace vgg
