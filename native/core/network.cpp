#include "core/network.h"

#include <algorithm>
#include <string>

namespace vgg {

namespace {
// Plans are metadata (shapes and per-layer choices, no memory): many can be kept cheaply.
constexpr size_t kMaxCachedPlans = 64;
// The arena shrinks to what forwards need after this many forwards in a row that needed under half of it
// (when it holds at least kShrinkMinBytes), so one huge input does not keep its memory for ever, while
// inputs that alternate between sizes do not reallocate on every call.
constexpr int kShrinkAfter = 8;
constexpr size_t kShrinkMinBytes = size_t(64) << 20;

std::string ShapeStr(const Shape4& s) {
  return "[" + std::to_string(s.n) + "," + std::to_string(s.c) + "," + std::to_string(s.h) + "," + std::to_string(s.w) +
         "]";
}

ConvShape ConvOf(const LayerSpec& l, const Shape4& in) {
  return ConvShape{in.n, in.c, in.h, in.w, l.out_channels, l.kernel, l.kernel, l.stride, l.pad};
}
}  // namespace

struct Network::ShapePlan {
  Shape4 in, out;
  RunSpec run;                 // `last` resolved
  std::vector<Shape4> ins;     // input of each layer run (after the adaptive pool for run.adaptive_before)
  std::vector<Shape4> outs;    // output of each layer run
  std::vector<ConvPlan> conv;  // one per layer run (empty for non-conv layers)
  size_t act_floats = 0;       // the largest intermediate activation (each of the two buffers)
  size_t ws_floats = 0;        // the largest conv workspace
  // The recorded layer program (RunProgram; under run_mu_): valid while x, y and the arena's buffers are those
  // it was recorded on.
  struct Recording {
    std::unique_ptr<CapturedRun> run;
    const float* x = nullptr;
    float* y = nullptr;
    uint64_t arena = 0;  // Arena::generation
  };
  mutable Recording graph;
  mutable int program_runs = 0;                // forwards of this plan through RunProgram
  mutable int moved = 0;                       // recordings redone because the buffers moved
  mutable bool no_capture = false;             // a capture failed, or the buffers keep moving: op by op from now on
  mutable std::atomic<bool> has_graph{false};  // graph.run != null, for graph_info() (which takes no run_mu_)

  PlanMemory Memory(bool staging) const {
    PlanMemory m;
    m.activations = 2 * act_floats * sizeof(float);
    m.workspace = ws_floats * sizeof(float);
    m.staging = staging ? (in.size() + out.size()) * sizeof(float) : 0;
    return m;
  }
};

// Backend buffers shared by every plan; each capacity is in floats.
struct Network::Arena {
  Backend* backend = nullptr;
  float* act[2] = {nullptr, nullptr};
  float* workspace = nullptr;
  float* in = nullptr;   // input of a host Forward
  float* out = nullptr;  // output of a host Forward
  size_t act_cap[2] = {0, 0}, ws_cap = 0, in_cap = 0, out_cap = 0;
  int small_runs = 0;       // consecutive forwards that needed under half of the arena
  uint64_t generation = 0;  // changes whenever a buffer is freed or moves (recorded programs then go stale)

  ~Arena() { Free(); }
  size_t bytes() const { return (act_cap[0] + act_cap[1] + ws_cap + in_cap + out_cap) * sizeof(float); }
  void Free() {
    for (float** p : {&act[0], &act[1], &workspace, &in, &out}) {
      if (*p) backend->release(*p);
      *p = nullptr;
    }
    act_cap[0] = act_cap[1] = ws_cap = in_cap = out_cap = 0;
    small_runs = 0;
    ++generation;
  }
  // Buffer `p` of capacity `cap` holds at least `need` floats afterwards (1 at least: never a null buffer).
  Status Grow(float** p, size_t* cap, size_t need) {
    need = std::max<size_t>(need, 1);
    if (*cap >= need) return {};
    if (*p) backend->release(*p);
    *p = nullptr;
    *cap = 0;
    ++generation;
    VGG_RETURN_IF_ERROR(backend->alloc(need, p));
    *cap = need;
    return {};
  }
};

Network::Network() : arena_(std::make_unique<Arena>()) {}
Network::~Network() = default;

Status Network::Create(std::shared_ptr<Backend> backend, std::vector<LayerSpec> layers,
                       const std::vector<const float*>& weights, const std::vector<const float*>& biases,
                       const NetworkOptions& options, std::unique_ptr<Network>* out) {
  std::vector<std::unique_ptr<PackedConv>> packed;
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerSpec& l = layers[i];
    if (l.kind != LayerSpec::Kind::kConv) continue;
    const size_t ci = packed.size();
    if (ci >= weights.size() || !weights[ci])
      return InvalidArgument("layer " + std::to_string(i) + ": conv weights missing");
    const ConvShape s = PackShape(l);
    std::unique_ptr<PackedConv> pc;
    VGG_RETURN_IF_ERROR(backend->pack_conv(s, backend->choose_conv_algorithm(s, RequestedAlgorithm(l, options)),
                                           weights[ci], ci < biases.size() ? biases[ci] : nullptr, &pc));
    packed.push_back(std::move(pc));
  }
  return FromPacked(std::move(backend), std::move(layers), std::move(packed), options, out);
}

Status Network::FromPacked(std::shared_ptr<Backend> backend, std::vector<LayerSpec> layers,
                           std::vector<std::unique_ptr<PackedConv>> packed, const NetworkOptions& options,
                           std::unique_ptr<Network>* out) {
  if (layers.empty()) return InvalidArgument("layers: a network needs at least one layer");
  size_t convs = 0;
  for (const LayerSpec& l : layers) convs += l.kind == LayerSpec::Kind::kConv;
  if (packed.size() != convs)
    return InvalidArgument("packed: expected " + std::to_string(convs) + " packed conv layers, got " +
                           std::to_string(packed.size()));
  for (size_t ci = 0; ci < packed.size(); ++ci)
    if (!packed[ci]) return InvalidArgument("packed[" + std::to_string(ci) + "]: conv weights missing");
  std::unique_ptr<Network> net(new Network());
  net->backend_ = std::move(backend);
  net->arena_->backend = net->backend_.get();
  net->options_ = options;
  net->layers_ = std::move(layers);
  net->packed_ = std::move(packed);
  net->graphs_on_ = options.graphs;
  net->no_capture_ = net->backend_->capture_unavailable();
  *out = std::move(net);
  return {};
}

ConvShape Network::PackShape(const LayerSpec& l) {
  ConvShape s;
  s.C = l.in_channels;
  s.K = l.out_channels;
  s.R = s.S = l.kernel;
  s.stride = l.stride;
  s.pad = l.pad;
  return s;
}

std::vector<ConvAlgorithm> Network::conv_algorithms() const {
  std::vector<ConvAlgorithm> a;
  for (const auto& p : packed_) a.push_back(p->algorithm());
  return a;
}

size_t Network::weight_bytes() const {
  size_t b = 0;
  for (const auto& p : packed_) b += p->bytes();
  return b;
}

int Network::num_plans_cached() const {
  std::lock_guard<std::mutex> lock(plans_mu_);
  return int(plans_.size());
}

Status Network::Resolve(const RunSpec& run, RunSpec* out) const {
  const int n = int(layers_.size());
  RunSpec r = run;
  if (r.last == -1) r.last = n - 1;
  if (r.last < 0 || r.last >= n)
    return InvalidArgument("run.last: expected a layer index in [0, " + std::to_string(n - 1) + "] or -1, got " +
                           std::to_string(run.last));
  if (r.adaptive_before != -1 && (r.adaptive_before < 0 || r.adaptive_before >= n || r.adaptive_size < 1))
    return InvalidArgument("run.adaptive_before: expected -1 or a layer index in [0, " + std::to_string(n - 1) +
                           "] with adaptive_size ≥ 1, got " + std::to_string(r.adaptive_before) + " and " +
                           std::to_string(r.adaptive_size));
  if (r.adaptive_before == -1) r.adaptive_size = 0;
  *out = r;
  return {};
}

Status Network::OutputShape(const Shape4& in, const RunSpec& run, Shape4* out) const {
  std::vector<Shape4> outs;
  VGG_RETURN_IF_ERROR(LayerShapes(in, run, &outs));
  *out = outs.back();
  return {};
}

Status Network::LayerShapes(const Shape4& in, const RunSpec& spec, std::vector<Shape4>* outs) const {
  RunSpec run;
  VGG_RETURN_IF_ERROR(Resolve(spec, &run));
  outs->clear();
  Shape4 s = in;
  for (int i = 0; i <= run.last; ++i) {
    const LayerSpec& l = layers_[i];
    if (i == run.adaptive_before) s = {s.n, s.c, run.adaptive_size, run.adaptive_size};
    const std::string where = "layer " + std::to_string(i) + " (input " + ShapeStr(s) + ")";
    switch (l.kind) {
      case LayerSpec::Kind::kConv:
        if (s.c != l.in_channels)
          return InvalidArgument(where + ": expected " + std::to_string(l.in_channels) + " channels, got " +
                                 std::to_string(s.c));
        if (s.h + 2 * l.pad < l.kernel || s.w + 2 * l.pad < l.kernel)
          return InvalidArgument(where + ": spatial size smaller than the " + std::to_string(l.kernel) + "x" +
                                 std::to_string(l.kernel) + " kernel");
        s = {s.n, l.out_channels, (s.h + 2 * l.pad - l.kernel) / l.stride + 1,
             (s.w + 2 * l.pad - l.kernel) / l.stride + 1};
        break;
      case LayerSpec::Kind::kMaxPool:
        if (s.h < l.window || s.w < l.window)
          return InvalidArgument(where + ": spatial size smaller than the " + std::to_string(l.window) + "x" +
                                 std::to_string(l.window) + " pooling window");
        s = {s.n, s.c, (s.h - l.window) / l.pool_stride + 1, (s.w - l.window) / l.pool_stride + 1};
        break;
      case LayerSpec::Kind::kLrn: break;
    }
    outs->push_back(s);
  }
  return {};
}

Status Network::GetPlan(const Shape4& in, const RunSpec& spec, std::shared_ptr<const ShapePlan>* out) {
  RunSpec run;
  VGG_RETURN_IF_ERROR(Resolve(spec, &run));
  std::lock_guard<std::mutex> lock(plans_mu_);
  for (auto it = plans_.begin(); it != plans_.end(); ++it) {
    if ((*it)->in == in && (*it)->run == run) {
      plans_.splice(plans_.begin(), plans_, it);  // most recently used first
      *out = plans_.front();
      return {};
    }
  }
  auto plan = std::make_shared<ShapePlan>();
  plan->in = in;
  plan->run = run;
  VGG_RETURN_IF_ERROR(LayerShapes(in, run, &plan->outs));
  plan->out = plan->outs.back();
  size_t ci = 0;
  plan->conv.resize(plan->outs.size());
  for (size_t i = 0; i < plan->outs.size(); ++i) {
    Shape4 s = i == 0 ? in : plan->outs[i - 1];
    if (int(i) == run.adaptive_before) {
      s = {s.n, s.c, run.adaptive_size, run.adaptive_size};
      plan->act_floats = std::max(plan->act_floats, s.size());  // the pool writes an activation buffer
    }
    plan->ins.push_back(s);
    const LayerSpec& l = layers_[i];
    if (l.kind == LayerSpec::Kind::kConv) {
      VGG_RETURN_IF_ERROR(backend_->plan_conv(ConvOf(l, s), *packed_[ci++], &plan->conv[i]));
      plan->ws_floats = std::max(plan->ws_floats, plan->conv[i].workspace_floats);
    }
    if (i + 1 < plan->outs.size())
      plan->act_floats = std::max(plan->act_floats, plan->outs[i].size());  // the last writes y
  }
  plans_.push_front(plan);
  if (plans_.size() > kMaxCachedPlans) plans_.pop_back();  // a run still using it holds its own reference
  *out = std::move(plan);
  return {};
}

Status Network::FitsBudget(const ShapePlan& plan, bool staging) const {
  const PlanMemory need = plan.Memory(staging);
  const size_t budget = options_.memory_budget;
  if (budget && need.total() > budget)
    return OverBudget("input " + ShapeStr(plan.in) + ": a forward needs " + std::to_string(need.total()) +
                      " bytes (activations " + std::to_string(need.activations) + ", workspace " +
                      std::to_string(need.workspace) + ", staging " + std::to_string(need.staging) +
                      "), over the memory budget of " + std::to_string(budget) +
                      " bytes; use a smaller input or batch, or raise the budget (ModelOptions.memoryBudget)");
  return {};
}

Status Network::Reserve(const ShapePlan& plan, bool staging) {
  VGG_RETURN_IF_ERROR(FitsBudget(plan, staging));
  Arena& a = *arena_;
  const PlanMemory need = plan.Memory(staging);
  const size_t budget = options_.memory_budget;
  // What the arena would hold once grown for this plan; past the budget, or far more than needed for a
  // while, it starts again from exactly this plan's needs.
  const size_t in_f = staging ? plan.in.size() : 0, out_f = staging ? plan.out.size() : 0;
  const size_t grown = (std::max(a.act_cap[0], plan.act_floats) + std::max(a.act_cap[1], plan.act_floats) +
                        std::max(a.ws_cap, plan.ws_floats) + std::max(a.in_cap, in_f) + std::max(a.out_cap, out_f)) *
                       sizeof(float);
  if (grown > kShrinkMinBytes && need.total() * 2 < grown) ++a.small_runs;
  else a.small_runs = 0;
  if ((budget && grown > budget) || a.small_runs >= kShrinkAfter) a.Free();
  Status st = a.Grow(&a.act[0], &a.act_cap[0], plan.act_floats);
  if (st.ok()) st = a.Grow(&a.act[1], &a.act_cap[1], plan.act_floats);
  if (st.ok()) st = a.Grow(&a.workspace, &a.ws_cap, plan.ws_floats);
  if (st.ok() && staging) st = a.Grow(&a.in, &a.in_cap, in_f);
  if (st.ok() && staging) st = a.Grow(&a.out, &a.out_cap, out_f);
  if (!st.ok()) a.Free();  // leave no half-grown arena behind
  return st;
}

Status Network::Plan(const Shape4& in, std::vector<LayerPlan>* out) {
  std::shared_ptr<const ShapePlan> plan;
  VGG_RETURN_IF_ERROR(GetPlan(in, RunSpec{}, &plan));
  out->clear();
  for (size_t i = 0; i < layers_.size(); ++i) out->push_back({layers_[i].kind, plan->conv[i], plan->outs[i]});
  return {};
}

Status Network::Memory(const Shape4& in, const RunSpec& run, PlanMemory* out) {
  std::shared_ptr<const ShapePlan> plan;
  VGG_RETURN_IF_ERROR(GetPlan(in, run, &plan));
  *out = plan->Memory(true);
  return {};
}

Status Network::CheckBudget(const Shape4& in, const RunSpec& run) {
  std::shared_ptr<const ShapePlan> plan;
  VGG_RETURN_IF_ERROR(GetPlan(in, run, &plan));
  return FitsBudget(*plan, true);
}

void Network::ReleasePlans() {
  {
    std::lock_guard<std::mutex> lock(plans_mu_);
    plans_.clear();
  }
  std::unique_lock<std::mutex> run(run_mu_, std::try_to_lock);
  if (!run.owns_lock()) {
    release_pending_ = true;  // a forward runs: it frees the arena when it ends (the caller never waits)
    return;
  }
  arena_->Free();
  arena_bytes_ = 0;
}

size_t Network::arena_bytes() const { return arena_bytes_; }

// Whether conv layer i runs fused with the max pool of layer i+1 (*pool): not when a tap reads the conv's
// output, an adaptive pool sits between them, the caller times layers one by one, or the backend cannot.
bool Network::FusesPool(const ShapePlan& plan, size_t i, const std::vector<Tap>& taps, bool layer_by_layer,
                        PoolShape* pool) const {
  if (layer_by_layer || i + 1 >= plan.outs.size() || plan.run.adaptive_before == int(i + 1)) return false;
  const LayerSpec &l = layers_[i], &next = layers_[i + 1];
  if (l.kind != LayerSpec::Kind::kConv || next.kind != LayerSpec::Kind::kMaxPool) return false;
  for (const Tap& t : taps)
    if (t.layer == int(i)) return false;
  const Shape4& s = plan.ins[i + 1];
  *pool = {s.n, s.c, s.h, s.w, next.window, next.pool_stride};
  return backend_->fuses_maxpool(ConvOf(l, plan.ins[i]), plan.conv[i], *pool);
}

// Layer i reads x (i = 0) or the activation buffer the previous layer (or the adaptive pool before it) wrote,
// and writes y (the last layer run) or the other activation buffer; each tap is copied out right after its
// layer, before the buffer is reused.
Status Network::RunLayers(const ShapePlan& plan, const float* x, float* y, const std::vector<Tap>& taps,
                          const std::function<Status(size_t)>& after_layer) {
  Backend& be = *backend_;
  const float* src = x;
  int next = 0;
  size_t ci = 0;
  const size_t n = plan.outs.size();
  for (size_t i = 0; i < n; ++i) {
    const LayerSpec& l = layers_[i];
    const Shape4& s = plan.ins[i];
    if (int(i) == plan.run.adaptive_before) {
      const Shape4 from = i == 0 ? plan.in : plan.outs[i - 1];
      float* pooled = arena_->act[next];
      VGG_RETURN_IF_ERROR(be.adaptive_avgpool2d({from.n, from.c, from.h, from.w, s.h, s.w}, src, pooled));
      src = pooled;
      next = 1 - next;
    }
    PoolShape pool;
    if (FusesPool(plan, i, taps, after_layer != nullptr, &pool)) {
      // conv i and max pool i+1 in one pass: layer i's full-size output is never written.
      float* dst = i + 2 == n ? y : arena_->act[next];
      VGG_RETURN_IF_ERROR(
          be.conv2d_maxpool(ConvOf(l, s), plan.conv[i], *packed_[ci++], l.relu, pool, src, dst, arena_->workspace));
      ++i;
      for (const Tap& t : taps)
        if (t.layer == int(i)) VGG_RETURN_IF_ERROR(CopyOut(t, dst, plan.outs[i].size()));
      src = dst;
      next = 1 - next;
      continue;
    }
    float* dst = i + 1 == n ? y : arena_->act[next];
    bool pre_relu = false;  // a tap wants the conv's output before its ReLU: run without it, apply it after
    for (const Tap& t : taps) pre_relu |= t.layer == int(i) && t.pre_relu;
    switch (l.kind) {
      case LayerSpec::Kind::kConv:
        VGG_RETURN_IF_ERROR(
            be.conv2d(ConvOf(l, s), plan.conv[i], *packed_[ci++], l.relu && !pre_relu, src, dst, arena_->workspace));
        if (pre_relu && l.relu) {
          for (const Tap& t : taps)
            if (t.layer == int(i) && t.pre_relu) VGG_RETURN_IF_ERROR(CopyOut(t, dst, plan.outs[i].size()));
          VGG_RETURN_IF_ERROR(be.relu(dst, plan.outs[i].size()));
        }
        break;
      case LayerSpec::Kind::kMaxPool:
        VGG_RETURN_IF_ERROR(be.maxpool2d({s.n, s.c, s.h, s.w, l.window, l.pool_stride}, src, dst));
        break;
      case LayerSpec::Kind::kLrn: VGG_RETURN_IF_ERROR(be.lrn(s.n, s.c, s.h, s.w, l.lrn, src, dst)); break;
    }
    for (const Tap& t : taps)
      if (t.layer == int(i) && !(t.pre_relu && l.kind == LayerSpec::Kind::kConv && l.relu))
        VGG_RETURN_IF_ERROR(CopyOut(t, dst, plan.outs[i].size()));
    if (after_layer) VGG_RETURN_IF_ERROR(after_layer(i));
    src = dst;
    next = 1 - next;
  }
  return {};
}

namespace {
// A plan whose buffers moved this many times (ForwardDevice alternating between outputs, say) stops being
// recorded: each recording costs more than the launches it saves.
constexpr int kMaxMoved = 4;
}  // namespace

Status Network::RunProgram(const ShapePlan& plan, const float* x, float* y) {
  if (!graphs_on_ || !no_capture_.empty() || plan.no_capture) return RunLayers(plan, x, y, {}, nullptr);
  ShapePlan::Recording& g = plan.graph;
  if (g.run && g.x == x && g.y == y && g.arena == arena_->generation) {
    ++replays_;
    return backend_->replay(*g.run);
  }
  const bool moved = g.run != nullptr;  // recorded on other buffers: record again now
  g.run.reset();
  plan.has_graph = false;
  if (moved && ++plan.moved > kMaxMoved) {
    plan.no_capture = true;
    std::lock_guard<std::mutex> lock(plans_mu_);
    capture_error_ = "input " + ShapeStr(plan.in) + ": not recorded again, its buffers moved " +
                     std::to_string(kMaxMoved) + " times";
  }
  // The first forward of a plan runs op by op: a shape seen once never pays for a recording.
  if (plan.no_capture || (++plan.program_runs < 2 && !moved)) return RunLayers(plan, x, y, {}, nullptr);
  Status st = backend_->begin_capture();
  if (st.ok()) {
    const Status ops = RunLayers(plan, x, y, {}, nullptr);
    std::unique_ptr<CapturedRun> rec;
    st = backend_->end_capture(&rec);
    if (!ops.ok()) st = ops;
    if (st.ok() && !rec) st = Unsupported("end_capture returned no recording");
    if (st.ok()) {
      g = {std::move(rec), x, y, arena_->generation};
      plan.has_graph = true;
      ++captures_;
      ++replays_;
      return backend_->replay(*g.run);
    }
  }
  // Capture failed (the ops were recorded, never run): this plan runs op by op, which reports any real error.
  plan.no_capture = true;
  {
    std::lock_guard<std::mutex> lock(plans_mu_);
    capture_error_ = "input " + ShapeStr(plan.in) + ": " + st.message;
  }
  return RunLayers(plan, x, y, {}, nullptr);
}

GraphInfo Network::graph_info() const {
  GraphInfo g;
  g.enabled = graphs_on_ && no_capture_.empty();
  if (!no_capture_.empty()) g.reason = no_capture_;
  else if (!graphs_on_) g.reason = "turned off (ModelOptions.cudaGraphs false)";
  else
    g.reason =
        "each input shape's layer program is recorded at its second forward and replayed after (forwards with "
        "features or per-layer timings run op by op)";
  g.captures = captures_;
  g.replays = replays_;
  std::lock_guard<std::mutex> lock(plans_mu_);
  for (const auto& p : plans_) g.captured += p->has_graph ? 1 : 0;
  g.last_error = capture_error_;
  return g;
}

Status Network::CopyOut(const Tap& t, const float* src, size_t floats) {
  return t.on_backend ? backend_->copy(t.dst, src, floats) : backend_->download(t.dst, src, floats);
}

Status Network::Forward(const Shape4& in, const RunSpec& run, ForwardInput x, const std::vector<Tap>& taps,
                        ForwardOutput y) {
  std::shared_ptr<const ShapePlan> plan;
  VGG_RETURN_IF_ERROR(GetPlan(in, run, &plan));
  if (!x.data || !y.data) return InvalidArgument("Forward: the input or the output has no buffer");
  for (const Tap& t : taps)
    if (t.layer < 0 || t.layer > plan->run.last || !t.dst)
      return InvalidArgument("taps: layer " + std::to_string(t.layer) + " is not run (last layer " +
                             std::to_string(plan->run.last) + ") or has no buffer");
  std::lock_guard<std::mutex> lock(run_mu_);
  Status st = Reserve(*plan, true);
  Backend& be = *backend_;
  if (st.ok()) st = x.on_backend ? be.copy(arena_->in, x.data, in.size()) : be.upload(arena_->in, x.data, in.size());
  if (st.ok())
    st = taps.empty() ? RunProgram(*plan, arena_->in, arena_->out)
                      : RunLayers(*plan, arena_->in, arena_->out, taps, nullptr);
  if (st.ok())
    st = y.on_backend ? be.copy(y.data, arena_->out, plan->out.size())
                      : be.download(y.data, arena_->out, plan->out.size());
  if (st.ok()) st = be.synchronize();
  EndRun();
  return st;
}

Status Network::ForwardDevice(const Shape4& in, const float* x, float* y,
                              const std::function<Status(size_t)>& after_layer) {
  std::shared_ptr<const ShapePlan> plan;
  VGG_RETURN_IF_ERROR(GetPlan(in, RunSpec{}, &plan));
  std::lock_guard<std::mutex> run(run_mu_);
  Status st = Reserve(*plan, false);
  if (st.ok()) st = after_layer ? RunLayers(*plan, x, y, {}, after_layer) : RunProgram(*plan, x, y);
  EndRun();
  return st;
}

void Network::EndRun() {
  if (release_pending_.exchange(false)) arena_->Free();
  arena_bytes_ = arena_->bytes();
}

}  // namespace vgg
