// The one backend interface: `reference`, `cpu` and `cuda` implement the same ops, and a network runs
// on whichever one it was given.
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

// How a conv layer is computed. kAuto asks the backend for its best choice for the layer's shape.
enum class ConvAlgorithm {
  kAuto,
  kDirect,       // plain loops over the definition (the reference backend)
  kGemm,         // im2col GEMM, fused into the packing of B; a GEMV when there is one output column
  kWinograd2x2,  // Winograd F(2×2, 3×3) (Lavin & Gray 2015): 3×3, stride 1, pad 1 only
  kWinograd4x4,  // Winograd F(4×4, 3×3): same shapes, 2.25·C instead of 9·C multiply-adds per output
};
// "auto" | "direct" | "gemm" | "winograd2x2" | "winograd4x4".
const char* ConvAlgorithmName(ConvAlgorithm a);
// Parses the names above; false for anything else.
bool ParseConvAlgorithm(const std::string& name, ConvAlgorithm* out);

// What conv2d runs for one full conv shape, decided once at plan time and kept in the network's plan.
struct ConvPlan {
  ConvAlgorithm algorithm = ConvAlgorithm::kAuto;  // never kAuto once planned
  std::string kernel;                              // the kernel's symbol name, e.g. gemm_f32_8x48__avx512
  size_t workspace_floats = 0;                     // scratch conv2d needs (0: none)
};

// Conv weights prepared once by a backend for one algorithm (packed into its GEMM panel layout,
// transformed, uploaded, ...).
class PackedConv {
 public:
  virtual ~PackedConv() = default;
  virtual size_t bytes() const = 0;  // memory held, for accounting
  virtual ConvAlgorithm algorithm() const = 0;
  // The arithmetic this layer's conv2d uses ("fp32", "bf16", ...); null: the backend's precision_name().
  virtual const char* precision() const { return nullptr; }
};

// A plan's layer program recorded by a backend that can queue it again as one unit (a CUDA graph): the same
// kernels with the same arguments and pointers, without the per-launch host cost. Opaque to the core.
class CapturedRun {
 public:
  virtual ~CapturedRun() = default;
  virtual size_t ops() const = 0;  // kernels (and copies) recorded
};

class Backend {
 public:
  virtual ~Backend() = default;

  // e.g. "reference", "cpu", "cuda:0".
  virtual std::string name() const = 0;
  // The kernel family in use and why, e.g. "avx512 (cpuid: avx512f+bw+vl+dq)".
  virtual std::string kernel_family() const = 0;
  // The arithmetic of conv2d: "fp32" (the reference: fp64 sums), or the precision the backend was made
  // with ("tf32", "bf16", "fp16" on CUDA; "bf16" on a CPU with AVX512_BF16). Layers may differ (PackedConv).
  virtual std::string precision_name() const { return "fp32"; }

  // Buffers in the backend's address space, counted in floats (never bytes).
  virtual Status alloc(size_t floats, float** out) = 0;
  virtual void release(float* p) = 0;
  virtual Status upload(float* dst, const float* host_src, size_t floats) = 0;
  virtual Status download(float* host_dst, const float* src, size_t floats) = 0;
  // dst ← src, both in the backend's memory (a device-to-device copy on CUDA, queued like an op).
  virtual Status copy(float* dst, const float* src, size_t floats) = 0;
  virtual Status synchronize() = 0;

  // The algorithm conv layers of shape s (s.N, s.H, s.W ignored) use when `requested`: kAuto is the
  // backend's best for the shape; a request the backend or the shape cannot serve falls back to the
  // backend's general algorithm (kGemm, or kDirect for the reference). Never returns kAuto.
  virtual ConvAlgorithm choose_conv_algorithm(const ConvShape& s, ConvAlgorithm requested) const = 0;
  // Pack w (K,C,R,S) OIHW and b (K, may be null) for `algorithm` (s.N, s.H, s.W ignored).
  // kUnsupported when `algorithm` cannot serve the shape (choose_conv_algorithm would not return it).
  virtual Status pack_conv(const ConvShape& s, ConvAlgorithm algorithm, const float* w, const float* b,
                           std::unique_ptr<PackedConv>* out) = 0;
  // Packing in parts, for a layer whose weights arrive a band of output channels at a time (FC6 read from a
  // file or generated piecewise, so that its whole OIHW source never sits in memory beside its packed form):
  // pack_conv_begin allocates the packed layer for `algorithm` (contents undefined until packed);
  // pack_conv_rows packs output channels [k0, k1) from w (k1 − k0, C, R, S) OIHW and b (k1 − k0 values; may be
  // null: zeros). The layer is usable once every channel of [0, K) was packed once (the caller's bookkeeping);
  // the result is the same as pack_conv's. kUnsupported from backends without it (the caller then gathers
  // the whole layer for pack_conv).
  virtual Status pack_conv_begin(const ConvShape& s, ConvAlgorithm algorithm, std::unique_ptr<PackedConv>* out) {
    (void)s, (void)algorithm, (void)out;
    return Unsupported(name() + ": packing a layer in parts");
  }
  virtual Status pack_conv_rows(const ConvShape& s, PackedConv* w, int k0, int k1, const float* w_rows,
                                const float* b_rows) {
    (void)s, (void)w, (void)k0, (void)k1, (void)w_rows, (void)b_rows;
    return Unsupported(name() + ": packing a layer in parts");
  }
  // The kernel and workspace of conv2d for the full shape s with weights w.
  virtual Status plan_conv(const ConvShape& s, const PackedConv& w, ConvPlan* out) const = 0;
  // y (N,K,P,Q) = [relu](conv(x (N,C,H,W)) + b). `plan` comes from plan_conv(s, w); `workspace` holds
  // plan.workspace_floats floats.
  virtual Status conv2d(const ConvShape& s, const ConvPlan& plan, const PackedConv& w, bool relu, const float* x,
                        float* y, float* workspace) = 0;

  // Whether conv2d_maxpool can run conv s (planned as `plan`) with the max pool `pool` over its output
  // fused (Network then skips the pool layer and the conv's full-size output).
  virtual bool fuses_maxpool(const ConvShape& s, const ConvPlan& plan, const PoolShape& pool) const {
    (void)s, (void)plan, (void)pool;
    return false;
  }
  // y (N,K,P',Q') = maxpool(pool, [relu](conv(x) + b)): conv2d then maxpool2d, bit for bit, without the
  // conv's output in memory; only where fuses_maxpool(s, plan, pool).
  virtual Status conv2d_maxpool(const ConvShape& s, const ConvPlan& plan, const PackedConv& w, bool relu,
                                const PoolShape& pool, const float* x, float* y, float* workspace) {
    (void)s, (void)plan, (void)w, (void)relu, (void)pool, (void)x, (void)y, (void)workspace;
    return Unsupported(name() + ": conv2d with a fused max pool");
  }
  virtual Status maxpool2d(const PoolShape& s, const float* x, float* y) = 0;
  virtual Status lrn(int N, int C, int H, int W, const LrnParams& p, const float* x, float* y) = 0;
  // x = max(x, 0) in place over n floats, NaN kept (a conv's ReLU applied after a pre-ReLU feature was copied).
  virtual Status relu(float* x, size_t n) = 0;
  // torchvision's AdaptiveAvgPool2d before FC6 (the 'torchvision' forward mode), see AdaptivePoolShape.
  virtual Status adaptive_avgpool2d(const AdaptivePoolShape& s, const float* x, float* y) = 0;

  // Capture and replay (CUDA graphs; Network uses them for a plan run again). Ops queued between
  // begin_capture() and end_capture() are recorded, not run; replay() queues the recording again, reading and
  // writing the same pointers. Between begin and end the caller queues ops only (no upload, download or
  // synchronize) and nothing else uses the backend. Backends that run ops as they are called (cpu, reference)
  // keep these defaults: no capture, and the network runs op by op.
  // Why this backend does not capture (e.g. "the cpu backend runs each op when it is called"); empty: it does.
  virtual std::string capture_unavailable() const {
    return "the " + name() + " backend runs each op when it is called";
  }
  virtual Status begin_capture() { return Unsupported("begin_capture: " + capture_unavailable()); }
  // After a successful begin_capture: stops recording (also when the ops queued failed) and returns the recording.
  virtual Status end_capture(std::unique_ptr<CapturedRun>* out) {
    out->reset();
    return Unsupported("end_capture: " + capture_unavailable());
  }
  virtual Status replay(const CapturedRun&) { return Unsupported("replay: " + capture_unavailable()); }
};

// The plain-loop backend (ref/): the specification, slow.
std::unique_ptr<Backend> MakeReferenceBackend();

// CPU kernel families, chosen once at run time from cpuid (x86-64) or the hwcaps (aarch64); kAuto picks the
// best supported. A build holds the families of its architecture only.
enum class CpuIsa { kAuto, kScalar, kAvx2, kAvx512, kNeon };
// Arithmetic of the CPU's GEMM/GEMV convs (FC layers included).
//  kFp32: fp32 FMA (the default).
//  kBf16: opt-in; weights stored in bf16 (round to nearest even), activations stay f32 in memory and are
//    rounded to bf16 when packed, products of the bf16 values accumulated in fp32 (vdpbf16ps: AVX512_BF16,
//    AMD Zen 4/5, Intel Cooper Lake, Sapphire Rapids and later). Needs the avx512 family on a CPU with
//    AVX512_BF16: anything else is kUnsupported naming what is missing. Winograd layers stay fp32
//    (cpu::ChooseConvAlgorithm says which layers run which).
enum class CpuPrecision { kFp32, kBf16 };
struct CpuOptions {
  int threads = 0;             // 0: all hardware threads
  CpuIsa isa = CpuIsa::kAuto;  // forcing an ISA the CPU lacks is kUnsupported
  CpuPrecision precision = CpuPrecision::kFp32;
};
Status MakeCpuBackend(const CpuOptions& opt, std::unique_ptr<Backend>* out);

// What this CPU supports, for the runtime report.
struct CpuInfo {
  bool avx2 = false, fma = false, avx512 = false;  // x86-64 (cpuid)
  bool avx512_bf16 = false;                        // x86-64: cpuid leaf 7 subleaf 1, EAX bit 5
  bool neon = false;                               // aarch64 (AT_HWCAP asimd)
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
// Free and total memory of CUDA device `device` now (cudaMemGetInfo), bytes. kUnsupported without CUDA or
// that device.
Status GetCudaMemory(int device, size_t* free_bytes, size_t* total_bytes);

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
// "fp32" | "tf32" | "bf16" | "fp16", and back (false for anything else).
const char* PrecisionName(CudaOptions::Precision p);
bool ParsePrecision(const std::string& name, CudaOptions::Precision* out);
// "auto" | "scalar" | "avx2" | "avx512" | "neon", and back.
bool ParseIsa(const std::string& name, CpuIsa* out);
// Same as MakeCudaBackend({device, kTf32}).
Status MakeCudaBackend(int device, std::unique_ptr<Backend>* out);

}  // namespace vgg
