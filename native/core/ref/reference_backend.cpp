// Backend adapter over the reference kernels: host memory, weights kept unpacked in OIHW, every conv
// computed by the direct loops of ref::conv2d.
#include <cstring>
#include <new>
#include <vector>

#include "core/backend.h"
#include "core/ref/reference.h"

namespace vgg {
namespace {

class RefConv final : public PackedConv {
 public:
  std::vector<float> w, b;
  size_t bytes() const override { return (w.size() + b.size()) * sizeof(float); }
  ConvAlgorithm algorithm() const override { return ConvAlgorithm::kDirect; }
};

class ReferenceBackend final : public Backend {
 public:
  std::string name() const override { return "reference"; }
  std::string kernel_family() const override { return "reference (plain loops, double accumulation)"; }

  Status alloc(size_t floats, float** out) override {
    *out = new (std::nothrow) float[floats ? floats : 1];
    return *out ? Status::Ok()
                : DeviceError("reference: out of host memory allocating " + std::to_string(floats) + " floats");
  }
  void release(float* p) override { delete[] p; }
  Status upload(float* d, const float* s, size_t n) override {
    std::memcpy(d, s, n * sizeof(float));
    return {};
  }
  Status download(float* d, const float* s, size_t n) override {
    std::memcpy(d, s, n * sizeof(float));
    return {};
  }
  Status copy(float* d, const float* s, size_t n) override {
    std::memcpy(d, s, n * sizeof(float));
    return {};
  }
  Status synchronize() override { return {}; }

  ConvAlgorithm choose_conv_algorithm(const ConvShape&, ConvAlgorithm) const override { return ConvAlgorithm::kDirect; }
  Status pack_conv(const ConvShape& s, ConvAlgorithm algorithm, const float* w, const float* b,
                   std::unique_ptr<PackedConv>* out) override {
    if (algorithm != ConvAlgorithm::kDirect)
      return Unsupported(std::string("reference.pack_conv: only 'direct' convolution, not '") +
                         ConvAlgorithmName(algorithm) + "'");
    auto pc = std::make_unique<RefConv>();
    pc->w.assign(w, w + size_t(s.K) * s.C * s.R * s.S);
    if (b) pc->b.assign(b, b + s.K);
    *out = std::move(pc);
    return {};
  }
  Status plan_conv(const ConvShape&, const PackedConv&, ConvPlan* out) const override {
    *out = {ConvAlgorithm::kDirect, "ref::conv2d", 0};
    return {};
  }
  Status conv2d(const ConvShape& s, const ConvPlan&, const PackedConv& w, bool relu, const float* x, float* y,
                float*) override {
    const auto& rc = static_cast<const RefConv&>(w);
    ref::conv2d(s, x, rc.w.data(), rc.b.empty() ? nullptr : rc.b.data(), relu, y);
    return {};
  }
  Status maxpool2d(const PoolShape& s, const float* x, float* y) override {
    ref::maxpool2d(s, x, y);
    return {};
  }
  Status adaptive_avgpool2d(const AdaptivePoolShape& s, const float* x, float* y) override {
    ref::adaptive_avgpool2d(s, x, y);
    return {};
  }
  Status relu(float* x, size_t n) override {
    ref::relu(x, n);
    return {};
  }
  Status lrn(int N, int C, int H, int W, const LrnParams& p, const float* x, float* y) override {
    ref::lrn(N, C, H, W, p, x, y);
    return {};
  }
};

}  // namespace

std::unique_ptr<Backend> MakeReferenceBackend() { return std::make_unique<ReferenceBackend>(); }

}  // namespace vgg
