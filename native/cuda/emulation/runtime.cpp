// The CUDA runtime API of the host emulation: one emulated device whose memory is host memory, streams
// and events that complete at once (every launch and copy runs to completion before it returns), stream
// capture into CUDA graphs (the work queued on a capturing stream is recorded and runs at each graph launch),
// and the error state of the CUDA runtime (a last error per host thread; a kernel fault pending until the
// next synchronising call).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/planted_fault.cuh"
#include "cuda_runtime.h"
#include "emulator_state.h"

namespace {

// The emulated device: as an H100/H200 (cc 9.0, 132 multiprocessors), so that plans match that GPU's,
// with 16 GB of memory (VGGNET_CUDA_EMU_MEMORY_MB to change) and the dynamic shared memory opt-in limit
// of sm_86/sm_89 (99 KB), the smallest of the GPUs the tensor-core kernels run on.
constexpr size_t kDefaultSmem = 48 * 1024;
constexpr size_t kOptinSmem = 99 * 1024;

size_t TotalMemory() {
  static const size_t total = [] {
    const char* v = std::getenv("VGGNET_CUDA_EMU_MEMORY_MB");
    const long long mb = v ? std::atoll(v) : 0;
    return size_t(mb > 0 ? mb : 16384) << 20;
  }();
  return total;
}

struct State {
  std::mutex mu;
  std::map<const void*, size_t> allocs;  // device allocations: base → bytes asked for
  size_t used = 0;
  std::map<const void*, int> smem_optin;  // kernel → cudaFuncAttributeMaxDynamicSharedMemorySize
  cudaError_t pending = cudaSuccess;      // a kernel fault, for the next synchronising call
  std::string fault;                      // its message (cudaGetErrorString of cudaErrorLaunchFailure)
};
State& S() {
  static State* s = new State();
  return *s;
}

// Device memory is counted in 256-byte units, as cudaMalloc hands it out.
size_t Rounded(size_t bytes) { return (std::max<size_t>(bytes, 1) + 255) / 256 * 256; }

thread_local cudaError_t t_last = cudaSuccess;
std::atomic<bool> g_echo{true};
thread_local int t_device = 0;

cudaError_t Fail(cudaError_t e) {
  t_last = e;
  return e;
}

// The pending kernel fault, returned once by a synchronising call.
cudaError_t TakePending() {
  std::lock_guard<std::mutex> lock(S().mu);
  const cudaError_t e = S().pending;
  S().pending = cudaSuccess;
  return e == cudaSuccess ? e : Fail(e);
}

// A captured graph, and its instantiation: the recorded ops in the order they were queued.
struct Graph {
  std::vector<std::function<int()>> ops;
};
// Streams hold nothing while not capturing (work runs to completion when queued); events hold a time.
struct Stream {
  Graph* capture = nullptr;  // between cudaStreamBeginCapture and cudaStreamEndCapture
  bool invalidated = false;  // a call the capture cannot hold was made meanwhile (EndCapture fails)
};
// The stream this host thread is capturing in thread-local or global mode: a synchronising or allocating
// call on this thread meanwhile is refused and invalidates the capture, as on a GPU.
thread_local Stream* t_capturing = nullptr;
cudaError_t RefusedInCapture() {
  t_capturing->invalidated = true;
  return Fail(cudaErrorStreamCaptureUnsupported);
}
struct Event {
  std::chrono::steady_clock::time_point t;
};
template <typename T, typename H>
cudaError_t NewHandle(H* h) {
  *h = reinterpret_cast<H>(new T());
  return cudaSuccess;
}
template <typename T, typename H>
cudaError_t DeleteHandle(H h) {
  delete reinterpret_cast<T*>(h);
  return cudaSuccess;
}

}  // namespace

namespace vgg::emu {

void ReportLaunchError(const char* kernel, const char* what) {
  std::fprintf(stderr, "vggnet CUDA emulator: launch of %s refused: %s\n", kernel, what);
}

void SetFaultEcho(bool on) { g_echo = on; }

void ReportKernelFault(const std::string& what) {
  if (g_echo) std::fprintf(stderr, "vggnet CUDA emulator: FAULT in %s\n", what.c_str());
  std::lock_guard<std::mutex> lock(S().mu);
  S().pending = cudaErrorLaunchFailure;
  S().fault = "emulated kernel fault in " + what;
}

size_t DynamicSmemLimit(const void* fn) {
  std::lock_guard<std::mutex> lock(S().mu);
  const auto it = S().smem_optin.find(fn);
  return it == S().smem_optin.end() ? kDefaultSmem : size_t(it->second);
}

void ShflComplete(void* const* lanes) {
  for (int l = 0; l < 32; ++l) {
    const Shfl& s = *static_cast<const Shfl*>(lanes[l]);
    if (s.mask != 0xffffffffu) Fault("__shfl_*_sync(0x%08x): the emulator supports only the full warp mask", s.mask);
    if (s.src < 0 || s.src > 31) Fault("__shfl_*_sync: lane %d reads lane %d", l, s.src);
  }
  uint64_t v[32];
  for (int l = 0; l < 32; ++l) v[l] = static_cast<const Shfl*>(lanes[l])->value;
  for (int l = 0; l < 32; ++l) static_cast<Shfl*>(lanes[l])->result = v[static_cast<const Shfl*>(lanes[l])->src];
}

}  // namespace vgg::emu

cudaError_t cudaGetLastError() {
  const cudaError_t e = t_last;
  t_last = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return t_last; }

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
#define VGG_EMU_NAME(x) \
  case x: return #x;
    VGG_EMU_NAME(cudaSuccess)
    VGG_EMU_NAME(cudaErrorInvalidValue)
    VGG_EMU_NAME(cudaErrorMemoryAllocation)
    VGG_EMU_NAME(cudaErrorInitializationError)
    VGG_EMU_NAME(cudaErrorInvalidConfiguration)
    VGG_EMU_NAME(cudaErrorInvalidDeviceFunction)
    VGG_EMU_NAME(cudaErrorInsufficientDriver)
    VGG_EMU_NAME(cudaErrorMissingConfiguration)
    VGG_EMU_NAME(cudaErrorNoDevice)
    VGG_EMU_NAME(cudaErrorInvalidDevice)
    VGG_EMU_NAME(cudaErrorNoKernelImageForDevice)
    VGG_EMU_NAME(cudaErrorInvalidResourceHandle)
    VGG_EMU_NAME(cudaErrorNotReady)
    VGG_EMU_NAME(cudaErrorIllegalAddress)
    VGG_EMU_NAME(cudaErrorLaunchOutOfResources)
    VGG_EMU_NAME(cudaErrorLaunchFailure)
    VGG_EMU_NAME(cudaErrorNotSupported)
    VGG_EMU_NAME(cudaErrorIllegalState)
    VGG_EMU_NAME(cudaErrorStreamCaptureUnsupported)
    VGG_EMU_NAME(cudaErrorStreamCaptureInvalidated)
    VGG_EMU_NAME(cudaErrorUnknown)
#undef VGG_EMU_NAME
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorLaunchFailure: {
      static thread_local std::string msg;  // valid until this thread's next call
      std::lock_guard<std::mutex> lock(S().mu);
      msg = S().fault.empty() ? "unspecified launch failure" : S().fault;
      return msg.c_str();
    }
    default: return cudaGetErrorName(e);
  }
}

cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* d) {
  *d = t_device;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) {
  if (d != 0) return Fail(cudaErrorInvalidDevice);
  t_device = d;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d) {
  if (d != 0) return Fail(cudaErrorInvalidDevice);
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof p->name, "vggnet CUDA emulator (host CPU, as sm_90 with 132 SMs)");
  p->totalGlobalMem = TotalMemory();
  p->sharedMemPerBlock = kDefaultSmem;
  p->sharedMemPerBlockOptin = kOptinSmem;
  p->sharedMemPerMultiprocessor = 228 * 1024;
  p->regsPerBlock = 65536;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 132;
  p->l2CacheSize = 50 << 20;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
  if (t_capturing) return RefusedInCapture();
  return TakePending();
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  std::lock_guard<std::mutex> lock(S().mu);
  *total_bytes = TotalMemory();
  *free_bytes = TotalMemory() - S().used;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = nullptr;
  if (t_capturing) return RefusedInCapture();
  const size_t rounded = Rounded(bytes);
  {
    std::lock_guard<std::mutex> lock(S().mu);
    if (bytes > TotalMemory() || rounded > TotalMemory() - S().used) return Fail(cudaErrorMemoryAllocation);
    S().used += rounded;
  }
  // 256-byte aligned like cudaMalloc, but exactly `bytes` long: under AddressSanitizer
  // (-DVGGNET_SANITIZE=ON) a kernel that reads or writes past the end of a buffer is caught.
  void* m = nullptr;
  if (posix_memalign(&m, 256, std::max<size_t>(bytes, 1)) != 0) m = nullptr;
  std::lock_guard<std::mutex> lock(S().mu);
  if (!m) {
    S().used -= rounded;
    return Fail(cudaErrorMemoryAllocation);
  }
  std::memset(m, 0xFF, std::max<size_t>(bytes, 1));  // NaN in fp32, fp16 and bf16: reads of unwritten memory show
  S().allocs[m] = std::max<size_t>(bytes, 1);
  *p = m;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  if (t_capturing) return RefusedInCapture();
  std::lock_guard<std::mutex> lock(S().mu);
  const auto it = S().allocs.find(p);
  if (it == S().allocs.end()) return Fail(cudaErrorInvalidValue);
  S().used -= Rounded(it->second);
  S().allocs.erase(it);
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** p, size_t bytes) {
  *p = std::aligned_alloc(256, (std::max<size_t>(bytes, 1) + 255) / 256 * 256);
  return *p ? cudaSuccess : Fail(cudaErrorMemoryAllocation);
}
cudaError_t cudaFreeHost(void* p) {
  std::free(p);
  return cudaSuccess;
}

namespace {
// True when [p, p + bytes) lies inside one device allocation.
bool IsDevice(const void* p, size_t bytes) {
  std::lock_guard<std::mutex> lock(S().mu);
  auto it = S().allocs.upper_bound(p);
  if (it == S().allocs.begin()) return false;
  --it;
  const auto* base = static_cast<const char*>(it->first);
  const auto* c = static_cast<const char*>(p);
  return c >= base && c + bytes <= base + it->second;
}
}  // namespace

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  if (t_capturing) return RefusedInCapture();
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if ((dst_dev && !IsDevice(dst, bytes)) || (src_dev && !IsDevice(src, bytes))) return Fail(cudaErrorInvalidValue);
  const cudaError_t e = TakePending();
  if (e != cudaSuccess) return e;
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
  if (s && reinterpret_cast<Stream*>(s)->capture) {
    reinterpret_cast<Stream*>(s)->capture->ops.push_back([=] {
      Stream* saved = t_capturing;  // the copy runs now, at the graph's launch
      t_capturing = nullptr;
      const int e = cudaMemcpy(dst, src, bytes, kind);
      t_capturing = saved;
      return e;
    });
    return cudaSuccess;
  }
  return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaMemset(void* p, int value, size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  if (!IsDevice(p, bytes)) return Fail(cudaErrorInvalidValue);
  std::memset(p, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t s) {
  if (s && reinterpret_cast<Stream*>(s)->capture) {
    reinterpret_cast<Stream*>(s)->capture->ops.push_back([=] { return int(cudaMemset(p, value, bytes)); });
    return cudaSuccess;
  }
  return cudaMemset(p, value, bytes);
}

cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) { return NewHandle<Stream>(s); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  if (s && reinterpret_cast<Stream*>(s)->capture) return Fail(cudaErrorStreamCaptureUnsupported);
  return DeleteHandle<Stream>(s);
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  if (t_capturing || (s && reinterpret_cast<Stream*>(s)->capture)) {
    if (s && reinterpret_cast<Stream*>(s)->capture) reinterpret_cast<Stream*>(s)->invalidated = true;
    if (t_capturing) t_capturing->invalidated = true;
    return Fail(cudaErrorStreamCaptureUnsupported);
  }
  return TakePending();
}

cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) { return NewHandle<Event>(e); }
cudaError_t cudaEventDestroy(cudaEvent_t e) { return DeleteHandle<Event>(e); }
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  if (!e) return Fail(cudaErrorInvalidResourceHandle);
  reinterpret_cast<Event*>(e)->t = std::chrono::steady_clock::now();
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) {
  if (t_capturing) return RefusedInCapture();
  return TakePending();
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  if (!a || !b) return Fail(cudaErrorInvalidResourceHandle);
  *ms =
      std::chrono::duration<float, std::milli>(reinterpret_cast<Event*>(b)->t - reinterpret_cast<Event*>(a)->t).count();
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
  if (!s) return Fail(cudaErrorStreamCaptureUnsupported);  // the legacy default stream cannot be captured
  Stream* st = reinterpret_cast<Stream*>(s);
  if (st->capture || t_capturing) return Fail(cudaErrorIllegalState);
  st->capture = new Graph();
  st->invalidated = false;
  if (mode != cudaStreamCaptureModeRelaxed) t_capturing = st;
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g) {
  *g = nullptr;
  Stream* st = reinterpret_cast<Stream*>(s);
  if (!st || !st->capture) return Fail(cudaErrorIllegalState);
  if (t_capturing == st) t_capturing = nullptr;
  Graph* graph = st->capture;
  st->capture = nullptr;
  if (st->invalidated) {
    delete graph;
    return Fail(cudaErrorStreamCaptureInvalidated);
  }
  *g = reinterpret_cast<cudaGraph_t>(graph);
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long) {
  *e = nullptr;
  if (!g) return Fail(cudaErrorInvalidValue);
  *e = reinterpret_cast<cudaGraphExec_t>(new Graph(*reinterpret_cast<Graph*>(g)));  // independent of g
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
  if (!e) return Fail(cudaErrorInvalidValue);
  if (s && reinterpret_cast<Stream*>(s)->capture) return Fail(cudaErrorNotSupported);  // no nested graphs here
  const auto& ops = reinterpret_cast<Graph*>(e)->ops;
  // cuda-fault-check plants a graph that loses its last op: the graph check must see it.
  const bool drop = vgg::emu::PlantedFault() == int(vgg::cuda::PlantedFault::kGraphDropsLaunch);
  for (size_t i = 0; i + (drop ? 1 : 0) < ops.size(); ++i) {
    const int r = ops[i]();
    if (r != 0) return Fail(cudaError_t(r));  // a launch's configuration refused (printed by the scheduler)
  }
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
  delete reinterpret_cast<Graph*>(e);
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  delete reinterpret_cast<Graph*>(g);
  return cudaSuccess;
}

namespace vgg::emu {
bool IsCapturing(const void* stream) { return stream && static_cast<const Stream*>(stream)->capture; }
void RecordOp(const void* stream, std::function<int()> op) {
  static_cast<const Stream*>(stream)->capture->ops.push_back(std::move(op));
}
}  // namespace vgg::emu

cudaError_t vggEmuFuncGetAttributes(cudaFuncAttributes* a, const void*) {
  *a = cudaFuncAttributes{};
  a->maxThreadsPerBlock = 1024;
  a->maxDynamicSharedSizeBytes = int(kDefaultSmem);
  return cudaSuccess;
}

cudaError_t vggEmuFuncSetAttribute(const void* fn, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaSuccess;
  if (value < 0 || size_t(value) > kOptinSmem) return Fail(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(S().mu);
  S().smem_optin[fn] = value;
  return cudaSuccess;
}
