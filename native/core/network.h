// A network on one backend: packed weights, plus one execution plan per input shape (plan once, run
// many). A plan fixes every layer's output shape and each conv layer's ConvPlan (algorithm, kernel,
// workspace size); it holds no activation memory, only, on a backend that captures (CUDA), a recording of its
// launches replayed as one graph (NetworkOptions::graphs). The memory a forward runs in (two activation
// buffers, the workspace, the staging of a host forward) is one arena shared by every shape, sized for the
// largest recent need and capped by the memory budget: a new shape that fits costs no allocation and no page
// faults, and a steady-state forward allocates nothing.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/backend.h"

namespace vgg {

struct LayerSpec {
  enum class Kind { kConv, kMaxPool, kLrn };
  Kind kind = Kind::kConv;
  // kConv: weights (out_channels, in_channels, kernel, kernel) OIHW, bias (out_channels).
  int in_channels = 0, out_channels = 0, kernel = 3, stride = 1, pad = 1;
  bool relu = true;
  // kConv: the algorithm requested for this layer, overriding NetworkOptions::conv_algorithm (the layer
  // gets Backend::choose_conv_algorithm(shape, request)).
  std::optional<ConvAlgorithm> algorithm;
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

struct NetworkOptions {
  // Requested for every conv layer without its own LayerSpec::algorithm; each layer gets
  // Backend::choose_conv_algorithm(shape, request).
  ConvAlgorithm conv_algorithm = ConvAlgorithm::kAuto;
  // Bytes a forward's arena may hold (activations + workspace + staging); 0: no limit. A forward that
  // would need more fails with kMemoryBudget before anything is allocated.
  size_t memory_budget = 0;
  // Replay each plan's layer program as one unit (a CUDA graph) on backends that capture
  // (Backend::capture_unavailable() empty): the second forward of a plan records its launches, later ones
  // replay them. Only forwards without taps or per-layer callbacks are captured, and a recording is redone
  // when the buffers it ran on moved (the arena grew or was freed, or ForwardDevice got other x/y).
  bool graphs = true;
};

// Whether forwards replay captured layer programs (NetworkOptions::graphs), and what they did so far.
struct GraphInfo {
  bool enabled = false;                 // graphs asked for and the backend captures
  std::string reason;                   // why not, when !enabled; what is replayed otherwise
  int captured = 0;                     // plans holding a recording now
  long long captures = 0, replays = 0;  // recordings made and replays run, since the network was created
  std::string last_error;               // the last capture that failed (those forwards ran op by op), or empty
};

// What one forward computes, beyond the input shape (part of the plan's key):
// - `last`: the last layer run (-1: every layer). Its output is the forward's result: features from any layer
//   (conv4_3, pool5, fc7, ...) without running the layers after it.
// - `adaptive_before`/`adaptive_size`: an adaptive average pool to adaptive_size² (AdaptivePoolShape) on the
//   input of layer `adaptive_before` (-1: none): torchvision's AdaptiveAvgPool2d(7) before FC6, which lets
//   its FC head take inputs of any size ≥ 32 (the 'torchvision' forward mode).
struct RunSpec {
  int last = -1;
  int adaptive_before = -1;
  int adaptive_size = 0;
  bool operator==(const RunSpec& o) const {
    return last == o.last && adaptive_before == o.adaptive_before && adaptive_size == o.adaptive_size;
  }
};

// Copy layer `layer`'s output to `dst` during a Forward (one tap per requested feature): host memory, or the
// backend's own memory when `on_backend` (device-resident on CUDA). `pre_relu`: a conv layer's output before its
// ReLU (the layer then runs without the fused ReLU and applies it after the copy).
struct Tap {
  int layer = 0;
  float* dst = nullptr;
  bool pre_relu = false;
  bool on_backend = false;
};

// An input or output of a Forward: host memory, or the backend's own memory when `on_backend` (a device-resident
// tensor on CUDA, copied device to device). Either way the network runs on its own staging buffers, so a
// recorded layer program (CUDA graph) replays whatever buffers the caller passes.
struct ForwardInput {
  const float* data = nullptr;
  bool on_backend = false;
};
struct ForwardOutput {
  float* data = nullptr;
  bool on_backend = false;
};

// The backend memory a forward at one input shape needs, bytes.
struct PlanMemory {
  size_t activations = 0;  // the two activation buffers
  size_t workspace = 0;    // the largest conv workspace
  size_t staging = 0;      // input and output of a host Forward, in backend memory
  size_t total() const { return activations + workspace + staging; }
};

// The plan of one layer for one input shape, as reported to callers.
struct LayerPlan {
  LayerSpec::Kind kind = LayerSpec::Kind::kConv;
  ConvPlan conv;  // kConv only
  Shape4 out;
};

class Network {
 public:
  // weights[i], biases[i]: host OIHW weights and bias (may be null) of the i-th conv layer, in order.
  // Copied/packed. kInvalidArgument when a weight is missing or the layer chain is inconsistent.
  static Status Create(std::shared_ptr<Backend> backend, std::vector<LayerSpec> layers,
                       const std::vector<const float*>& weights, const std::vector<const float*>& biases,
                       const NetworkOptions& options, std::unique_ptr<Network>* out);
  // The same from weights already packed by `backend` (e.g. layer by layer on other threads: see
  // PackShape), one per conv layer in order. kInvalidArgument when one is missing.
  static Status FromPacked(std::shared_ptr<Backend> backend, std::vector<LayerSpec> layers,
                           std::vector<std::unique_ptr<PackedConv>> packed, const NetworkOptions& options,
                           std::unique_ptr<Network>* out);
  // The shape Create packs conv layer `l` with (N, H, W unused).
  static ConvShape PackShape(const LayerSpec& l);
  ~Network();

  // Shape of the score map for an input of shape `in` (of layer run.last's output), or kInvalidArgument
  // naming the layer where the spatial size became too small or the run spec that does not fit the layers.
  Status OutputShape(const Shape4& in, Shape4* out) const { return OutputShape(in, RunSpec{}, out); }
  Status OutputShape(const Shape4& in, const RunSpec& run, Shape4* out) const;
  // The output shape of every layer of `run` (layers after run.last are absent). Errors as OutputShape.
  Status LayerShapes(const Shape4& in, const RunSpec& run, std::vector<Shape4>* out) const;
  // The per-layer plan for input `in` (built and cached when new; allocates no backend memory).
  Status Plan(const Shape4& in, std::vector<LayerPlan>* out);
  // What a host Forward at `in` needs (ForwardDevice: all but staging), without allocating.
  Status Memory(const Shape4& in, PlanMemory* out) { return Memory(in, RunSpec{}, out); }
  Status Memory(const Shape4& in, const RunSpec& run, PlanMemory* out);
  // kMemoryBudget (the message naming both sizes) when a host Forward at `in` would exceed the budget.
  Status CheckBudget(const Shape4& in) { return CheckBudget(in, RunSpec{}); }
  Status CheckBudget(const Shape4& in, const RunSpec& run);
  // Frees the arena and forgets every cached plan (the next forward allocates again).
  void ReleasePlans();
  // x_host (N,C,H,W) → y_host score map (N,K,h,w). Thread-safe (serialised per network).
  Status Forward(const Shape4& in, const float* x_host, float* y_host) {
    return Forward(in, RunSpec{}, {x_host}, {}, {y_host});
  }
  // The same for `run`: y receives layer run.last's output, and each tap's buffer the output of its layer
  // (≤ run.last; sized from LayerShapes); x, y and taps each in host or backend memory. Returns once every
  // output is complete (the backend synchronised). kInvalidArgument for a tap past run.last.
  Status Forward(const Shape4& in, const RunSpec& run, ForwardInput x, const std::vector<Tap>& taps, ForwardOutput y);
  // The same with x and y in the backend's memory (device-resident on CUDA); returns once every layer is
  // queued, without synchronising. `after_layer(i)`, when given, is called after layer i is queued (for
  // per-layer timings); an error it returns stops the run.
  Status ForwardDevice(const Shape4& in, const float* x, float* y,
                       const std::function<Status(size_t layer)>& after_layer = nullptr);

  Backend& backend() { return *backend_; }
  const std::vector<LayerSpec>& layers() const { return layers_; }
  // The algorithm each conv layer's weights were packed for, in layer order.
  std::vector<ConvAlgorithm> conv_algorithms() const;
  // Bytes of conv layer ci's packed weights (ci < conv_algorithms().size()).
  size_t packed_bytes(size_t ci) const { return packed_[ci]->bytes(); }
  // What a conv layer requests: its own algorithm, else the network's.
  static ConvAlgorithm RequestedAlgorithm(const LayerSpec& l, const NetworkOptions& o) {
    return l.algorithm.value_or(o.conv_algorithm);
  }
  // The packed weights of conv layer i (in layer order, i < conv_algorithms().size()).
  const PackedConv& packed_conv(size_t i) const { return *packed_[i]; }
  size_t weight_bytes() const;
  int num_plans_cached() const;
  // Bytes the arena holds now, and the budget it may not exceed (0: none).
  size_t arena_bytes() const;
  size_t memory_budget() const { return options_.memory_budget; }
  // Graphs on or off from the next forward on (recordings kept; off runs op by op).
  void set_graphs(bool on) { graphs_on_ = on; }
  GraphInfo graph_info() const;

 private:
  struct ShapePlan;
  struct Arena;
  Network();
  // The cached plan for (`in`, `run`), built when new (takes plans_mu_ only: never waits for a running forward).
  Status GetPlan(const Shape4& in, const RunSpec& run, std::shared_ptr<const ShapePlan>* out);
  // run with `last` resolved (-1 → the last layer), or kInvalidArgument when it does not fit the layers.
  Status Resolve(const RunSpec& run, RunSpec* out) const;
  Status FitsBudget(const ShapePlan& plan, bool staging) const;
  // Makes the arena big enough for `plan` (with staging for a host forward), within the budget.
  Status Reserve(const ShapePlan& plan, bool staging);
  // After a run, under run_mu_: frees the arena when ReleasePlans came meanwhile, publishes its size.
  void EndRun();
  Status RunLayers(const ShapePlan& plan, const float* x, float* y, const std::vector<Tap>& taps,
                   const std::function<Status(size_t)>& after_layer);
  // A tap's copy of a layer output `src` (backend memory) to its buffer.
  Status CopyOut(const Tap& t, const float* src, size_t floats);
  bool FusesPool(const ShapePlan& plan, size_t i, const std::vector<Tap>& taps, bool layer_by_layer,
                 PoolShape* pool) const;
  // RunLayers without taps or callback, replaying the plan's recording when it is valid for x and y (and the
  // arena), recording it on the plan's second run; op by op when graphs are off or a capture failed.
  Status RunProgram(const ShapePlan& plan, const float* x, float* y);

  std::shared_ptr<Backend> backend_;
  std::vector<LayerSpec> layers_;
  std::vector<std::unique_ptr<PackedConv>> packed_;  // one per conv layer
  // Two locks, so that planning, plan(), memory(), checkBudget() and info() never wait for a forward (they
  // run on the JS thread): plans_mu_ guards the plan cache only; run_mu_ serialises runs and owns the arena.
  std::list<std::shared_ptr<ShapePlan>> plans_;  // most recently used first
  mutable std::mutex plans_mu_;
  std::unique_ptr<Arena> arena_;  // under run_mu_
  std::mutex run_mu_;
  std::atomic<size_t> arena_bytes_{0};
  std::atomic<bool> release_pending_{false};
  NetworkOptions options_;
  std::atomic<bool> graphs_on_{true};
  std::string no_capture_;  // Backend::capture_unavailable() at creation
  std::atomic<long long> captures_{0}, replays_{0};
  std::string capture_error_;  // the last capture that failed (under plans_mu_)
};

}  // namespace vgg
