// The CUDA half of the Node-free harness (issue 5): `vggnet_harness cuda-check` and `cuda-bench`.
// Shared pieces: seeded data, VGG layer lists with He weights, a device-resident executor, comparisons.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/network.h"
#include "cuda/cuda_backend.h"

namespace vggh {

using vgg::cuda::Precision;

struct CudaArgs {
  std::string cmd;  // "cuda-check" | "cuda-bench"
  std::vector<Precision> precisions = {Precision::kFp32, Precision::kTf32, Precision::kBf16, Precision::kFp16};
  int device = 0;
  bool quick = false;       // check: small conv cases only, no networks, no error paths (for compute-sanitizer)
  bool dry = false;         // check: print the plan of every case for an H100/H200 (132 SMs), no device
  bool no_network = false;  // check: skip the whole-network comparisons
  bool layers = true;       // bench: per-layer table for vgg16 at the smallest and largest batch
  int runs = 10, warmup = 3;
  std::vector<int> batches = {1, 8, 64};
  std::vector<std::string> models = {"vgg16", "vgg19"};
  int threads = 0;  // host threads for the reference and the cpu backend (0: all)
  bool self_test = false;  // check: run the suites on the cpu backend (fp32) to test the harness itself
};

// The backend under test: CUDA with precision p, or the cpu backend when a.self_test.
vgg::Status MakeBackendUnderTest(const CudaArgs& a, Precision p, std::unique_ptr<vgg::Backend>* out);

int CudaCheck(const CudaArgs& a);
int CudaBench(const CudaArgs& a);

// ---- data -------------------------------------------------------------------------------------------
// Uniform floats in [lo, hi) from splitmix64(seed): the same on every host and compiler.
void FillUniform(float* v, size_t n, uint64_t seed, float lo, float hi);

// ---- networks ---------------------------------------------------------------------------------------
// "vgg11", "vgg11_lrn", "vgg16", "vgg19" (paper Table 1: A, A-LRN, D, E) with the FC head as convs
// (FC6 7×7 valid, FC7/FC8 1×1; no ReLU after FC8), 1000 classes.
std::vector<vgg::LayerSpec> VggLayers(const std::string& name);
struct NetWeights {
  std::vector<std::vector<float>> w, b;
  std::vector<const float*> wp() const;
  std::vector<const float*> bp() const;
};
// He-uniform weights U(±sqrt(6/fan_in)) (variance 2/fan_in, He et al. 2015) and biases U(±0.01).
NetWeights HeWeights(const std::vector<vgg::LayerSpec>& layers, uint64_t seed);
// Multiply-adds of the conv/FC layers for input `in` (FLOPs = 2 × MACs).
int64_t NetMacs(const std::vector<vgg::LayerSpec>& layers, const vgg::Shape4& in);

// The layer loop of vgg::Network::Forward with the input and output left on the device (what a caller
// chaining device work sees, and what PyTorch's timings measure): packs once, plans per input shape.
class DeviceModel {
 public:
  static vgg::Status Create(vgg::Backend* be, std::vector<vgg::LayerSpec> layers, const NetWeights& w,
                            std::unique_ptr<DeviceModel>* out);
  ~DeviceModel();
  vgg::Status Plan(const vgg::Shape4& in);  // (re)allocates buffers for this input shape
  float* input() { return x_; }             // device buffer of in.size() floats
  const float* output() const { return out_; }
  const vgg::Shape4& out_shape() const { return shapes_.back(); }
  vgg::Status Run();  // queues every layer on the backend's stream (no synchronisation)
  // Runs layer i alone (input/output as in Run), for per-layer timings. Run() must have been planned.
  vgg::Status RunLayer(size_t i);
  size_t num_layers() const { return layers_.size(); }
  const vgg::LayerSpec& layer(size_t i) const { return layers_[i]; }
  const vgg::Shape4& layer_in(size_t i) const { return shapes_[i]; }

 private:
  vgg::Backend* be_ = nullptr;
  std::vector<vgg::LayerSpec> layers_;
  std::vector<std::unique_ptr<vgg::PackedConv>> packed_;
  std::vector<size_t> conv_index_;  // layer → packed_ index
  vgg::Shape4 in_{};
  std::vector<vgg::Shape4> shapes_;
  float* x_ = nullptr;
  float* act_[2] = {nullptr, nullptr};
  float* ws_ = nullptr;
  const float* out_ = nullptr;
  void Free();
};

// ---- comparisons ------------------------------------------------------------------------------------
struct Diff {
  double rel_l2 = 0;           // ‖got − want‖₂ / ‖want‖₂ over elements where the reference is finite
  double max_abs = 0;          // max |got − want| over the same elements
  size_t nonfinite_bad = 0;    // non-finite where the reference is finite, or NaN/±Inf that differ
  size_t first_bad = SIZE_MAX; // first element counted in nonfinite_bad
};
Diff Compare(const float* got, const float* want, size_t n);
// Bit-identical, except that any NaN equals any NaN. Returns the first differing index or SIZE_MAX.
size_t FirstNotIdentical(const float* got, const float* want, size_t n);

// ref::conv2d split over images and output-channel blocks on `threads` threads (0: all).
void RefConvParallel(const vgg::ConvShape& s, const float* x, const float* w, const float* b, bool relu, float* y,
                     int threads);

std::string ShapeStr(const vgg::ConvShape& s);
std::string Shape4Str(const vgg::Shape4& s);

}  // namespace vggh
