// A network on one backend: packed weights, plus one execution plan per input shape (plan once, run
// many; DESIGN.md habit 4). A plan fixes every layer's shape, two reused activation buffers and the
// conv workspace; a steady-state forward allocates nothing.
#pragma once
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <vector>

#include "core/backend.h"

namespace vgg {

struct LayerSpec {
  enum class Kind { kConv, kMaxPool, kLrn };
  Kind kind = Kind::kConv;
  // kConv: weights (out_channels, in_channels, kernel, kernel) OIHW, bias (out_channels).
  int in_channels = 0, out_channels = 0, kernel = 3, stride = 1, pad = 1;
  bool relu = true;
  // kMaxPool
  int window = 2, pool_stride = 2;
  // kLrn
  LrnParams lrn;
};

struct Shape4 {
  int n = 0, c = 0, h = 0, w = 0;
  size_t size() const { return size_t(n) * c * h * w; }
  bool operator==(const Shape4& o) const { return n == o.n && c == o.c && h == o.h && w == o.w; }
};

class Network {
 public:
  // weights[i], biases[i]: host OIHW weights and bias of the i-th conv layer, in order. Copied/packed.
  static Status Create(std::shared_ptr<Backend> backend, std::vector<LayerSpec> layers,
                       const std::vector<const float*>& weights, const std::vector<const float*>& biases,
                       std::unique_ptr<Network>* out);
  ~Network();

  // Shape of the score map for an input of shape `in`, or kInvalidArgument naming the layer where the
  // spatial size became too small.
  Status OutputShape(const Shape4& in, Shape4* out) const;
  // x_host (N,C,H,W) → y_host score map (N,K,h,w). Thread-safe (serialised per network).
  Status Forward(const Shape4& in, const float* x_host, float* y_host);

  Backend& backend() { return *backend_; }
  size_t weight_bytes() const;
  int num_plans_cached() const;

 private:
  struct Plan;
  Network() = default;
  Status GetPlan(const Shape4& in, Plan** out);

  std::shared_ptr<Backend> backend_;
  std::vector<LayerSpec> layers_;
  std::vector<std::unique_ptr<PackedConv>> packed_;  // one per conv layer
  std::list<std::unique_ptr<Plan>> plans_;           // most recently used first
  mutable std::mutex mu_;
};

}  // namespace vgg
