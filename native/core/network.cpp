#include "core/network.h"

#include <algorithm>
#include <string>

namespace vgg {

namespace {
constexpr size_t kMaxCachedPlans = 4;  // bounds memory when callers feed many image sizes

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
  std::vector<Shape4> shapes;  // input shape of each layer, then the output
  std::vector<ConvPlan> conv;  // one per layer (empty for non-conv layers)
  float* act[2] = {nullptr, nullptr};
  float* host_io = nullptr;   // input of a host Forward, in the backend's memory
  float* host_out = nullptr;  // output of a host Forward, in the backend's memory
  float* workspace = nullptr;
  Backend* backend = nullptr;
  ~ShapePlan() {
    for (float* p : {act[0], act[1], host_io, host_out, workspace})
      if (p) backend->release(p);
  }
};

Network::~Network() = default;

Status Network::Create(std::shared_ptr<Backend> backend, std::vector<LayerSpec> layers,
                       const std::vector<const float*>& weights, const std::vector<const float*>& biases,
                       const NetworkOptions& options, std::unique_ptr<Network>* out) {
  if (layers.empty()) return InvalidArgument("layers: a network needs at least one layer");
  std::unique_ptr<Network> net(new Network());
  net->backend_ = std::move(backend);
  net->layers_ = std::move(layers);
  size_t ci = 0;
  for (size_t i = 0; i < net->layers_.size(); ++i) {
    const LayerSpec& l = net->layers_[i];
    if (l.kind != LayerSpec::Kind::kConv) continue;
    if (ci >= weights.size() || !weights[ci])
      return InvalidArgument("layer " + std::to_string(i) + ": conv weights missing");
    ConvShape s;
    s.C = l.in_channels;
    s.K = l.out_channels;
    s.R = s.S = l.kernel;
    s.stride = l.stride;
    s.pad = l.pad;
    const ConvAlgorithm algo = net->backend_->choose_conv_algorithm(s, options.conv_algorithm);
    std::unique_ptr<PackedConv> pc;
    VGG_RETURN_IF_ERROR(net->backend_->pack_conv(s, algo, weights[ci], ci < biases.size() ? biases[ci] : nullptr, &pc));
    net->packed_.push_back(std::move(pc));
    ++ci;
  }
  *out = std::move(net);
  return {};
}

Status Network::FromPacked(std::shared_ptr<Backend> backend, std::vector<LayerSpec> layers,
                           std::vector<std::unique_ptr<PackedConv>> packed, std::unique_ptr<Network>* out) {
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
  net->layers_ = std::move(layers);
  net->packed_ = std::move(packed);
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
  std::lock_guard<std::mutex> lock(mu_);
  return int(plans_.size());
}

Status Network::OutputShape(const Shape4& in, Shape4* out) const {
  Shape4 s = in;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const LayerSpec& l = layers_[i];
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
  }
  *out = s;
  return {};
}

Status Network::GetPlan(const Shape4& in, ShapePlan** out) {
  for (auto it = plans_.begin(); it != plans_.end(); ++it) {
    if ((*it)->in == in) {
      plans_.splice(plans_.begin(), plans_, it);  // most recently used first
      *out = plans_.front().get();
      return {};
    }
  }
  auto plan = std::make_unique<ShapePlan>();
  plan->backend = backend_.get();
  plan->in = in;
  VGG_RETURN_IF_ERROR(OutputShape(in, &plan->out));
  size_t max_act = 0, max_ws = 0;
  Shape4 s = in;
  size_t ci = 0;
  plan->shapes.push_back(s);
  plan->conv.resize(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) {
    const LayerSpec& l = layers_[i];
    if (l.kind == LayerSpec::Kind::kConv) {
      const ConvShape cs = ConvOf(l, s);
      VGG_RETURN_IF_ERROR(backend_->plan_conv(cs, *packed_[ci++], &plan->conv[i]));
      max_ws = std::max(max_ws, plan->conv[i].workspace_floats);
      s = {s.n, l.out_channels, cs.P(), cs.Q()};
    } else if (l.kind == LayerSpec::Kind::kMaxPool) {
      s = {s.n, s.c, (s.h - l.window) / l.pool_stride + 1, (s.w - l.window) / l.pool_stride + 1};
    }
    plan->shapes.push_back(s);
    if (i + 1 < layers_.size()) max_act = std::max(max_act, s.size());  // the last layer writes y
  }
  for (float*& a : plan->act) VGG_RETURN_IF_ERROR(backend_->alloc(std::max<size_t>(max_act, 1), &a));
  if (max_ws) VGG_RETURN_IF_ERROR(backend_->alloc(max_ws, &plan->workspace));
  plans_.push_front(std::move(plan));
  if (plans_.size() > kMaxCachedPlans) plans_.pop_back();
  *out = plans_.front().get();
  return {};
}

Status Network::Plan(const Shape4& in, std::vector<LayerPlan>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  ShapePlan* plan = nullptr;
  VGG_RETURN_IF_ERROR(GetPlan(in, &plan));
  out->clear();
  for (size_t i = 0; i < layers_.size(); ++i) out->push_back({layers_[i].kind, plan->conv[i], plan->shapes[i + 1]});
  return {};
}

// Layer i reads x (i = 0) or the activation buffer the previous layer wrote, and writes y (last layer)
// or the other activation buffer.
Status Network::RunLayers(ShapePlan& plan, const float* x, float* y, const std::function<Status(size_t)>& after_layer) {
  Backend& be = *backend_;
  const float* src = x;
  int next = 0;
  size_t ci = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const LayerSpec& l = layers_[i];
    const Shape4& s = plan.shapes[i];
    float* dst = i + 1 == layers_.size() ? y : plan.act[next];
    switch (l.kind) {
      case LayerSpec::Kind::kConv:
        VGG_RETURN_IF_ERROR(be.conv2d(ConvOf(l, s), plan.conv[i], *packed_[ci++], l.relu, src, dst, plan.workspace));
        break;
      case LayerSpec::Kind::kMaxPool:
        VGG_RETURN_IF_ERROR(be.maxpool2d({s.n, s.c, s.h, s.w, l.window, l.pool_stride}, src, dst));
        break;
      case LayerSpec::Kind::kLrn: VGG_RETURN_IF_ERROR(be.lrn(s.n, s.c, s.h, s.w, l.lrn, src, dst)); break;
    }
    if (after_layer) VGG_RETURN_IF_ERROR(after_layer(i));
    src = dst;
    next = 1 - next;
  }
  return {};
}

Status Network::Forward(const Shape4& in, const float* x_host, float* y_host) {
  std::lock_guard<std::mutex> lock(mu_);
  ShapePlan* plan = nullptr;
  VGG_RETURN_IF_ERROR(GetPlan(in, &plan));
  Backend& be = *backend_;
  if (!plan->host_io) VGG_RETURN_IF_ERROR(be.alloc(in.size(), &plan->host_io));
  if (!plan->host_out) VGG_RETURN_IF_ERROR(be.alloc(plan->out.size(), &plan->host_out));
  VGG_RETURN_IF_ERROR(be.upload(plan->host_io, x_host, in.size()));
  VGG_RETURN_IF_ERROR(RunLayers(*plan, plan->host_io, plan->host_out, nullptr));
  VGG_RETURN_IF_ERROR(be.download(y_host, plan->host_out, plan->out.size()));
  return be.synchronize();
}

Status Network::ForwardDevice(const Shape4& in, const float* x, float* y,
                              const std::function<Status(size_t)>& after_layer) {
  std::lock_guard<std::mutex> lock(mu_);
  ShapePlan* plan = nullptr;
  VGG_RETURN_IF_ERROR(GetPlan(in, &plan));
  return RunLayers(*plan, x, y, after_layer);
}

}  // namespace vgg
