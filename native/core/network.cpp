#include "core/network.h"

#include <algorithm>
#include <string>

namespace vgg {

namespace {
constexpr size_t kMaxCachedPlans = 4;  // bounds memory when callers feed many image sizes

std::string ShapeStr(const Shape4& s) {
  return "[" + std::to_string(s.n) + "," + std::to_string(s.c) + "," + std::to_string(s.h) + "," +
         std::to_string(s.w) + "]";
}
}  // namespace

struct Network::Plan {
  Shape4 in, out;
  std::vector<Shape4> shapes;  // input shape of each layer, then the output
  float* act[2] = {nullptr, nullptr};
  float* workspace = nullptr;
  Backend* backend = nullptr;
  ~Plan() {
    for (float* p : act) if (p) backend->release(p);
    if (workspace) backend->release(workspace);
  }
};

Network::~Network() = default;

Status Network::Create(std::shared_ptr<Backend> backend, std::vector<LayerSpec> layers,
                       const std::vector<const float*>& weights, const std::vector<const float*>& biases,
                       std::unique_ptr<Network>* out) {
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
    s.C = l.in_channels; s.K = l.out_channels; s.R = s.S = l.kernel; s.stride = l.stride; s.pad = l.pad;
    std::unique_ptr<PackedConv> pc;
    VGG_RETURN_IF_ERROR(net->backend_->pack_conv(s, weights[ci], ci < biases.size() ? biases[ci] : nullptr, &pc));
    net->packed_.push_back(std::move(pc));
    ++ci;
  }
  *out = std::move(net);
  return {};
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
          return InvalidArgument(where + ": spatial size smaller than the " + std::to_string(l.window) +
                                 "x" + std::to_string(l.window) + " pooling window");
        s = {s.n, s.c, (s.h - l.window) / l.pool_stride + 1, (s.w - l.window) / l.pool_stride + 1};
        break;
      case LayerSpec::Kind::kLrn:
        break;
    }
  }
  *out = s;
  return {};
}

Status Network::GetPlan(const Shape4& in, Plan** out) {
  for (auto it = plans_.begin(); it != plans_.end(); ++it) {
    if ((*it)->in == in) {
      plans_.splice(plans_.begin(), plans_, it);  // most recently used first
      *out = plans_.front().get();
      return {};
    }
  }
  auto plan = std::make_unique<Plan>();
  plan->backend = backend_.get();
  plan->in = in;
  VGG_RETURN_IF_ERROR(OutputShape(in, &plan->out));
  size_t max_act = in.size(), max_ws = 0;
  Shape4 s = in;
  size_t ci = 0;
  plan->shapes.push_back(s);
  for (const LayerSpec& l : layers_) {
    if (l.kind == LayerSpec::Kind::kConv) {
      ConvShape cs{s.n, s.c, s.h, s.w, l.out_channels, l.kernel, l.kernel, l.stride, l.pad};
      max_ws = std::max(max_ws, backend_->conv_workspace(cs));
      s = {s.n, l.out_channels, cs.P(), cs.Q()};
      ++ci;
    } else if (l.kind == LayerSpec::Kind::kMaxPool) {
      s = {s.n, s.c, (s.h - l.window) / l.pool_stride + 1, (s.w - l.window) / l.pool_stride + 1};
    }
    plan->shapes.push_back(s);
    max_act = std::max(max_act, s.size());
  }
  for (float*& a : plan->act) VGG_RETURN_IF_ERROR(backend_->alloc(max_act, &a));
  if (max_ws) VGG_RETURN_IF_ERROR(backend_->alloc(max_ws, &plan->workspace));
  plans_.push_front(std::move(plan));
  if (plans_.size() > kMaxCachedPlans) plans_.pop_back();
  *out = plans_.front().get();
  return {};
}

Status Network::Forward(const Shape4& in, const float* x_host, float* y_host) {
  std::lock_guard<std::mutex> lock(mu_);
  Plan* plan = nullptr;
  VGG_RETURN_IF_ERROR(GetPlan(in, &plan));
  Backend& be = *backend_;
  VGG_RETURN_IF_ERROR(be.upload(plan->act[0], x_host, in.size()));
  int cur = 0;
  size_t ci = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const LayerSpec& l = layers_[i];
    const Shape4& s = plan->shapes[i];
    const float* x = plan->act[cur];
    float* y = plan->act[1 - cur];
    switch (l.kind) {
      case LayerSpec::Kind::kConv: {
        ConvShape cs{s.n, s.c, s.h, s.w, l.out_channels, l.kernel, l.kernel, l.stride, l.pad};
        VGG_RETURN_IF_ERROR(be.conv2d(cs, *packed_[ci++], l.relu, x, y, plan->workspace));
        break;
      }
      case LayerSpec::Kind::kMaxPool:
        VGG_RETURN_IF_ERROR(be.maxpool2d({s.n, s.c, s.h, s.w, l.window, l.pool_stride}, x, y));
        break;
      case LayerSpec::Kind::kLrn:
        VGG_RETURN_IF_ERROR(be.lrn(s.n, s.c, s.h, s.w, l.lrn, x, y));
        break;
    }
    cur = 1 - cur;
  }
  VGG_RETURN_IF_ERROR(be.download(y_host, plan->act[cur], plan->out.size()));
  return be.synchronize();
}

}  // namespace vgg
