// The one backend interface (DESIGN.md habit 1). `reference`, `cpu` and `cuda` implement the same ops.
// Pointers passed to ops live in the backend's memory (host for reference/cpu, device for cuda).
// Ops validate nothing the plan has already validated; they return a Status only for runtime failures
// (CUDA errors, out of memory) and for shapes the backend does not support.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/shapes.h"
#include "core/status.h"

namespace vgg {

// Conv weights prepared once by a backend (packed into its GEMM panel layout, uploaded, ...).
class PackedConv {
 public:
  virtual ~PackedConv() = default;
  virtual size_t bytes() const = 0;  // memory held, for accounting
};

class Backend {
 public:
  virtual ~Backend() = default;

  // e.g. "reference", "cpu", "cuda:0".
  virtual std::string name() const = 0;
  // The kernel family in use and why, e.g. "avx512 (cpuid: avx512f+bw+vl+dq)".
  virtual std::string kernel_family() const = 0;

  // Buffers in the backend's address space, counted in floats (never bytes).
  virtual Status alloc(size_t floats, float** out) = 0;
  virtual void release(float* p) = 0;
  virtual Status upload(float* dst, const float* host_src, size_t floats) = 0;
  virtual Status download(float* host_dst, const float* src, size_t floats) = 0;
  virtual Status synchronize() = 0;

  // Pack w (K,C,R,S) OIHW and b (K) for convs of shape s (s.N, s.H, s.W are ignored).
  virtual Status pack_conv(const ConvShape& s, const float* w, const float* b,
                           std::unique_ptr<PackedConv>* out) = 0;
  // Scratch floats conv2d needs for this full shape (0 when none).
  virtual size_t conv_workspace(const ConvShape& s) const = 0;
  // y (N,K,P,Q) = [relu](conv(x (N,C,H,W)) + b). `workspace` holds conv_workspace(s) floats.
  virtual Status conv2d(const ConvShape& s, const PackedConv& w, bool relu, const float* x, float* y,
                        float* workspace) = 0;

  virtual Status maxpool2d(const PoolShape& s, const float* x, float* y) = 0;
  virtual Status lrn(int N, int C, int H, int W, const LrnParams& p, const float* x, float* y) = 0;
  virtual Status softmax(int rows, int cols, const float* x, float* y) = 0;
  virtual Status spatial_mean(int N, int C, int H, int W, const float* x, float* y) = 0;
  virtual Status flip_w(int N, int C, int H, int W, const float* x, float* y) = 0;
};

// The plain-loop backend (ref/): the specification, slow.
std::unique_ptr<Backend> MakeReferenceBackend();

// CPU kernel families, chosen once at run time from cpuid (habit 2); kAuto picks the best supported.
enum class CpuIsa { kAuto, kScalar, kAvx2, kAvx512 };
struct CpuOptions {
  int threads = 0;            // 0: all hardware threads
  CpuIsa isa = CpuIsa::kAuto; // forcing an ISA the CPU lacks is kUnsupported
};
Status MakeCpuBackend(const CpuOptions& opt, std::unique_ptr<Backend>* out);

// What this CPU supports, for the runtime report.
struct CpuInfo {
  bool avx2 = false, fma = false, avx512 = false;
  int hardware_threads = 1;
  CpuIsa best = CpuIsa::kScalar;
  std::string reason;  // why `best` was chosen
};
const CpuInfo& GetCpuInfo();
const char* IsaName(CpuIsa isa);

// CUDA availability (native/cuda or native/cuda/none when compiled without nvcc).
struct CudaDevice {
  int index = 0;
  std::string name;
  size_t total_memory_bytes = 0;
  int cc_major = 0, cc_minor = 0;
};
struct CudaInfo {
  bool compiled = false;
  int runtime_version = 0;  // e.g. 13000
  std::string reason;       // why there are no devices ("CUDA driver not found", ...), empty if some
  std::vector<CudaDevice> devices;
};
CudaInfo GetCudaInfo();

// Options of the CUDA backend (native/cuda). Precision of conv2d/FC (all other ops are fp32):
//   kFp32: plain fp32 FMA (SIMT cores);  kTf32: tensor cores, inputs rounded to TF32 (10-bit mantissa),
//   fp32 accumulation (the default, as PyTorch uses for cuDNN convolutions);  kBf16 / kFp16: tensor cores,
//   inputs rounded to bf16 / fp16, fp32 accumulation (fp16 overflows beyond ±65504).
struct CudaOptions {
  int device = 0;
  enum class Precision { kFp32, kTf32, kBf16, kFp16 };
  Precision precision = Precision::kTf32;
};
Status MakeCudaBackend(const CudaOptions& opt, std::unique_ptr<Backend>* out);
// Same as MakeCudaBackend({device, kTf32}).
Status MakeCudaBackend(int device, std::unique_ptr<Backend>* out);

}  // namespace vgg
