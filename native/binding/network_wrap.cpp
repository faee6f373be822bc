#include "binding/network_wrap.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "binding/args.h"
#include "binding/backend_factory.h"
#include "binding/layers.h"
#include "binding/network_builder.h"
#include "binding/settling_worker.h"
#include "core/thread_priority.h"

namespace vggjs {
namespace {

const char* KindName(vgg::LayerSpec::Kind k) {
  switch (k) {
    case vgg::LayerSpec::Kind::kConv: return "conv";
    case vgg::LayerSpec::Kind::kMaxPool: return "maxpool";
    case vgg::LayerSpec::Kind::kLrn: return "lrn";
  }
  return "?";
}

Napi::Array Dims(Napi::Env env, const vgg::Shape4& s) {
  Napi::Array a = Napi::Array::New(env, 4);
  a.Set(0u, s.n);
  a.Set(1u, s.c);
  a.Set(2u, s.h);
  a.Set(3u, s.w);
  return a;
}

// The layer indices of run[key] (absent: none), each in [0, layers).
void GetLayerList(const Napi::Object& run, const char* key, int layers, std::vector<int>* out) {
  Napi::Value t = run.Get(key);
  if (t.IsUndefined()) return;
  const std::string name = std::string("run.") + key;
  if (!t.IsArray()) ThrowInvalid(run.Env(), name + ": expected an array of layer indices, got " + Describe(t));
  Napi::Array a = t.As<Napi::Array>();
  if (a.Length() > 256) ThrowInvalid(run.Env(), name + ": at most 256 layers, got " + std::to_string(a.Length()));
  for (uint32_t i = 0; i < a.Length(); ++i)
    out->push_back(CheckInt(a.Get(i), name + "[" + std::to_string(i) + "]", 0, layers - 1));
}

// run (optional) {last, adaptiveBefore, adaptiveSize, taps, preReluTaps: layer indices} → RunSpec and the taps
// (layer, pre-ReLU?) in that order, their buffers not set yet. Layer indices are checked against the network
// by Network::Resolve / Forward.
vgg::RunSpec GetRunSpec(const Napi::Value& v, int layers, std::vector<vgg::Tap>* taps) {
  vgg::RunSpec r;
  if (v.IsUndefined()) return r;
  Napi::Object o = GetObject(v, "run");
  r.last = GetIntOr(o, "last", "run", -1, layers - 1, -1);
  r.adaptive_before = GetIntOr(o, "adaptiveBefore", "run", -1, layers - 1, -1);
  r.adaptive_size = GetIntOr(o, "adaptiveSize", "run", 0, 1 << 16, 0);
  std::vector<int> post, pre;
  GetLayerList(o, "taps", layers, &post);
  GetLayerList(o, "preReluTaps", layers, &pre);
  for (int l : post) taps->push_back({l, nullptr, false});
  for (int l : pre) taps->push_back({l, nullptr, true});
  return r;
}

class ForwardWorker final : public SettlingWorker {
 public:
  // Copies a host input (throws std::bad_alloc when that copy cannot be allocated); holds a device input and
  // device outputs until the forward ends. `result` is what the promise resolves to: y, or [y, taps...].
  ForwardWorker(Napi::Env env, std::shared_ptr<InputPool> pool, NetworkWrap::Call& c)
      : SettlingWorker(env, "vggnet:forward"),
        net_(c.net),
        pool_(std::move(pool)),
        in_(c.in),
        run_(c.run),
        taps_(std::move(c.taps)),
        x_dev_(std::move(c.x_dev)),
        out_dev_(std::move(c.out_dev)),
        y_(c.y),
        result_(Napi::Persistent(c.result)) {
    if (x_dev_) return;
    x_ = pool_->Take(c.x.ElementLength());
    std::memcpy(x_.data.get(), c.x.Data(), c.x.ElementLength() * sizeof(float));
  }
  ~ForwardWorker() override { pool_->Give(std::move(x_)); }

 protected:
  void Execute() override {
    vgg::ScopedComputePriority below;  // this libuv thread computes with the pool: below the event loop meanwhile
    const vgg::ForwardInput x = x_dev_ ? vgg::ForwardInput{x_dev_->data, true} : vgg::ForwardInput{x_.data.get()};
    status_ = net_->Forward(in_, run_, x, taps_, y_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (status_.ok()) deferred_.Resolve(result_.Value());
    else deferred_.Reject(MakeError(env, status_).Value());
  }

 private:
  std::shared_ptr<vgg::Network> net_;  // keeps the network alive past dispose() until this run ends
  std::shared_ptr<InputPool> pool_;
  vgg::Shape4 in_;
  vgg::RunSpec run_;
  std::vector<vgg::Tap> taps_;  // into arrays `result_` holds, or into out_dev_
  // The input is copied when forward() is called: the caller may detach, resize or refill its buffer
  // before the pool thread runs (a reference keeps an ArrayBuffer alive, not its contents in place).
  InputPool::Buffer x_;
  // Device buffers are held, not copied: a dispose() meanwhile frees them after this run.
  std::shared_ptr<DeviceBuffer> x_dev_;
  std::vector<std::shared_ptr<DeviceBuffer>> out_dev_;
  // Our own fresh arrays (referenced until the promise settles; the caller cannot reach them yet) or out_dev_.
  vgg::ForwardOutput y_;
  Napi::ObjectReference result_;
  vgg::Status status_;
};

// The CUDA device index of a backend named 'cuda:N', or -1.
int CudaIndexOf(const vgg::Backend& be) {
  const std::string n = be.name();
  return n.rfind("cuda:", 0) == 0 ? std::atoi(n.c_str() + 5) : -1;
}

// A device buffer argument: live, on the network's device, of exactly `floats` floats.
std::shared_ptr<DeviceBuffer> GetDeviceBuffer(Napi::Env env, const Napi::Value& v, const std::string& name,
                                              vgg::Network& net, size_t floats) {
  DeviceBufferWrap* w = DeviceBufferWrap::FromValue(v);
  if (!w) ThrowInvalid(env, name + ": expected a DeviceBuffer, got " + Describe(v));
  auto buf = w->Live(env, name);
  const int dev = CudaIndexOf(net.backend());
  if (dev != w->device())
    ThrowInvalid(env, name + ": on 'cuda:" + std::to_string(w->device()) + "', the network runs on '" +
                          net.backend().name() + "'");
  if (buf->floats != floats)
    ThrowInvalid(env, name + ": expected " + std::to_string(floats) + " floats, got " + std::to_string(buf->floats));
  return buf;
}

}  // namespace

InputPool::Buffer InputPool::Take(size_t floats) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = free_.begin(); it != free_.end(); ++it)
      if (it->capacity >= floats) {
        Buffer b = std::move(*it);
        free_.erase(it);
        return b;
      }
    if (!free_.empty()) free_.erase(free_.begin());  // too small: make room for the new size
  }
  Buffer b;
  b.data.reset(vgg::AlignedFloats(floats));
  if (!b.data) throw std::bad_alloc();
  b.capacity = floats;
  return b;
}

void InputPool::Give(Buffer b) {
  if (!b.data || b.capacity * sizeof(float) > kMaxKeptBytes) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (free_.size() < kKept) free_.push_back(std::move(b));
}

void InputPool::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  free_.clear();
}

Napi::Function NetworkWrap::Init(Napi::Env env) {
  return DefineClass(
      env, "Network",
      {InstanceMethod("plan", &NetworkWrap::Plan), InstanceMethod("memory", &NetworkWrap::Memory),
       InstanceMethod("checkBudget", &NetworkWrap::CheckBudget),
       InstanceMethod("releasePlans", &NetworkWrap::ReleasePlans), InstanceMethod("forward", &NetworkWrap::Forward),
       InstanceMethod("forwardSync", &NetworkWrap::ForwardSync), InstanceMethod("info", &NetworkWrap::Info),
       InstanceMethod("dispose", &NetworkWrap::Dispose),
       InstanceAccessor("disposed", &NetworkWrap::IsDisposed, nullptr)});
}

// new Network(options {device, threads, isa, precision, convAlgorithm, memoryBudget, cudaGraphs}, layers[],
// weights: Float32Array[],
// biases: Float32Array[]). Every argument is read (user getters run) before any buffer pointer is taken,
// and lengths are checked again afterwards, so a getter cannot free or resize a buffer in use.
// new Network(builder): adopts the layers a NetworkBuilder packed (see network_builder.h).
NetworkWrap::NetworkWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NetworkWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() == 1) {
    NetworkBuilderWrap* b = NetworkBuilderWrap::FromValue(info[0]);
    if (!b) ThrowInvalid(env, "builder: expected a NetworkBuilder, got " + Describe(info[0]));
    std::unique_ptr<vgg::Network> net;
    vgg::Status st = b->Build(&net);
    if (!st.ok()) Throw(env, st);
    net_ = std::move(net);
    return;
  }
  Napi::Object opts = GetObject(info[0], "options");
  if (!info[1].IsArray()) ThrowInvalid(env, "layers: expected an array, got " + Describe(info[1]));
  if (!info[2].IsArray()) ThrowInvalid(env, "weights: expected an array, got " + Describe(info[2]));
  if (!info[3].IsArray()) ThrowInvalid(env, "biases: expected an array, got " + Describe(info[3]));
  Napi::Array layers = info[1].As<Napi::Array>(), wa = info[2].As<Napi::Array>(), ba = info[3].As<Napi::Array>();
  std::vector<vgg::LayerSpec> specs;
  std::vector<Napi::Float32Array> warr, barr;
  std::vector<size_t> wlen, blen;
  const uint32_t nlayers = layers.Length(), nw = wa.Length(), nb = ba.Length();
  for (uint32_t i = 0; i < nlayers; ++i) {
    const std::string ctx = "layers[" + std::to_string(i) + "]";
    vgg::LayerSpec l = ParseLayer(env, layers.Get(i), ctx);
    if (l.kind == vgg::LayerSpec::Kind::kConv) {
      const size_t ci = warr.size();
      const std::string wn = "weights[" + std::to_string(ci) + "]", bn = "biases[" + std::to_string(ci) + "]";
      if (ci >= nw) ThrowInvalid(env, wn + ": missing (one weight tensor per conv layer)");
      if (ci >= nb) ThrowInvalid(env, bn + ": missing (one bias tensor per conv layer)");
      wlen.push_back(size_t(l.out_channels) * l.in_channels * l.kernel * l.kernel);
      warr.push_back(GetF32(wa.Get(uint32_t(ci)), wn, wlen.back()));
      blen.push_back(size_t(l.out_channels));
      barr.push_back(GetF32(ba.Get(uint32_t(ci)), bn, blen.back()));
    }
    specs.push_back(l);
  }
  if (warr.size() != nw || warr.size() != nb)
    ThrowInvalid(env, "weights, biases: expected " + std::to_string(warr.size()) +
                          " tensors each (one per conv layer), got " + std::to_string(nw) + " and " +
                          std::to_string(nb));
  const vgg::NetworkOptions no = GetNetworkOptions(env, opts, "options");
  std::shared_ptr<vgg::Backend> be = CreateBackend(env, opts, "options");
  // No user code runs from here on.
  std::vector<const float*> weights, biases;
  for (size_t ci = 0; ci < warr.size(); ++ci) {
    const std::string at = std::to_string(ci);
    weights.push_back(GetF32(warr[ci], "weights[" + at + "]", wlen[ci]).Data());
    biases.push_back(GetF32(barr[ci], "biases[" + at + "]", blen[ci]).Data());
  }
  std::unique_ptr<vgg::Network> net;
  vgg::Status st = vgg::Network::Create(be, std::move(specs), weights, biases, no, &net);
  if (!st.ok()) Throw(env, st);
  net_ = std::move(net);
}

std::shared_ptr<vgg::Network> NetworkWrap::Live(Napi::Env env, const char* method) {
  if (!net_) Throw(env, vgg::Disposed(std::string("Network.") + method + ": the network was disposed"));
  return net_;
}

// plan(dims [N,C,H,W]) → [{layer, kind, algorithm, kernel, workspaceBytes, output}]
Napi::Value NetworkWrap::Plan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto net = Live(env, "plan");
  const vgg::Shape4 in = GetShape4(info[0], "dims");
  std::vector<vgg::LayerPlan> plans;
  vgg::Status st = net->Plan(in, &plans);
  if (!st.ok()) Throw(env, st);
  Napi::Array a = Napi::Array::New(env, plans.size());
  for (size_t i = 0; i < plans.size(); ++i) {
    const vgg::LayerPlan& p = plans[i];
    const bool conv = p.kind == vgg::LayerSpec::Kind::kConv;
    Napi::Object o = Napi::Object::New(env);
    o.Set("layer", double(i));
    o.Set("kind", KindName(p.kind));
    o.Set("algorithm", conv ? vgg::ConvAlgorithmName(p.conv.algorithm) : "");
    o.Set("kernel", conv ? p.conv.kernel : std::string());
    o.Set("workspaceBytes", double(p.conv.workspace_floats * sizeof(float)));
    o.Set("output", Dims(env, p.out));
    a.Set(uint32_t(i), o);
  }
  return a;
}

// memory(dims [N,C,H,W]) → {activations, workspace, staging, total}: bytes a forward at dims needs.
Napi::Value NetworkWrap::Memory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto net = Live(env, "memory");
  const vgg::Shape4 in = GetShape4(info[0], "dims");
  std::vector<vgg::Tap> taps;
  const vgg::RunSpec run = GetRunSpec(info[1], int(net->layers().size()), &taps);
  vgg::PlanMemory m;
  vgg::Status st = net->Memory(in, run, &m);
  if (!st.ok()) Throw(env, st);
  Napi::Object o = Napi::Object::New(env);
  o.Set("activations", double(m.activations));
  o.Set("workspace", double(m.workspace));
  o.Set("staging", double(m.staging));
  o.Set("total", double(m.total()));
  return o;
}

// checkBudget(dims): throws MemoryBudgetError when a forward at dims would exceed the budget.
Napi::Value NetworkWrap::CheckBudget(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto net = Live(env, "checkBudget");
  const vgg::Shape4 in = GetShape4(info[0], "dims");
  std::vector<vgg::Tap> taps;
  vgg::Status st = net->CheckBudget(in, GetRunSpec(info[1], int(net->layers().size()), &taps));
  if (!st.ok()) Throw(env, st);
  return env.Undefined();
}

Napi::Value NetworkWrap::ReleasePlans(const Napi::CallbackInfo& info) {
  Live(info.Env(), "releasePlans")->ReleasePlans();
  inputs_->Clear();
  return info.Env().Undefined();
}

// A validated forward call: live network, input dims and data (host or device), the run, and its outputs: fresh
// host arrays (y, one per tap), or the caller's device buffers `out` (the same count and sizes).
NetworkWrap::Call NetworkWrap::Prepare(const Napi::CallbackInfo& info, const char* method) {
  Napi::Env env = info.Env();
  Call c{Live(env, method), GetShape4(info[0], "dims"), {}, {}, {}, {}, {}, {}, {}};
  vgg::Network& net = *c.net;
  if (DeviceBufferWrap::FromValue(info[1])) c.x_dev = GetDeviceBuffer(env, info[1], "x", net, c.in.size());
  else c.x = GetF32(info[1], "x", c.in.size());
  c.run = GetRunSpec(info[2], int(net.layers().size()), &c.taps);
  std::vector<vgg::Shape4> outs;
  vgg::Status st = net.LayerShapes(c.in, c.run, &outs);
  if (!st.ok()) Throw(env, st);
  for (const vgg::Tap& tap : c.taps)
    if (size_t(tap.layer) >= outs.size())
      ThrowInvalid(env, "run.taps: layer " + std::to_string(tap.layer) + " is after the last layer run (" +
                            std::to_string(outs.size() - 1) + ")");
  const bool on_device = !info[3].IsUndefined();
  Napi::Array given;
  if (on_device) {
    if (!info[3].IsArray() || info[3].As<Napi::Array>().Length() != c.taps.size() + 1)
      ThrowInvalid(env, "out: expected an array of " + std::to_string(c.taps.size() + 1) +
                            " DeviceBuffers (the output, then one per tap), got " + Describe(info[3]));
    given = info[3].As<Napi::Array>();
  }
  // Output i (0: y, then the taps): its size, and a fresh host array or the caller's buffer for it.
  auto output = [&](uint32_t i, size_t floats) -> std::pair<Napi::Value, float*> {
    if (!on_device) {
      Napi::Float32Array a = Napi::Float32Array::New(env, floats);
      return {a, a.Data()};
    }
    c.out_dev.push_back(GetDeviceBuffer(env, given.Get(i), "out[" + std::to_string(i) + "]", net, floats));
    return {given.Get(i), c.out_dev.back()->data};
  };
  auto [y, y_data] = output(0, outs.back().size());
  c.y = {y_data, on_device};
  if (info[2].IsUndefined()) {
    c.result = y.As<Napi::Object>();
    return c;
  }
  Napi::Array all = Napi::Array::New(env, c.taps.size() + 1);
  all.Set(0u, y);
  for (size_t i = 0; i < c.taps.size(); ++i) {
    vgg::Tap& tap = c.taps[i];
    auto [t, data] = output(uint32_t(i + 1), outs[tap.layer].size());
    all.Set(uint32_t(i + 1), t);
    tap.dst = data;
    tap.on_backend = on_device;
  }
  c.result = all;
  return c;
}

// forward(dims [N,C,H,W], x Float32Array | DeviceBuffer, run?, out?: DeviceBuffer[]) → Promise<Float32Array>
// score map (N,K,h,w); with `run`, Promise<Float32Array[]>: [output of run.last, then one per run.taps entry,
// then one per run.preReluTaps]. With `out`, the outputs are written to those device buffers (same order) and
// the promise resolves to them instead.
Napi::Value NetworkWrap::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Call c = Prepare(info, "forward");
  ForwardWorker* w = nullptr;
  try {  // the worker copies a host input: that copy can fail for a huge tensor
    w = new ForwardWorker(env, inputs_, c);
  } catch (const std::bad_alloc&) {
    Throw(env, vgg::DeviceError("forward: out of host memory copying the input (" + std::to_string(c.in.size()) +
                                " floats)"));
  }
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value NetworkWrap::ForwardSync(const Napi::CallbackInfo& info) {
  Call c = Prepare(info, "forwardSync");
  const vgg::ForwardInput x = c.x_dev ? vgg::ForwardInput{c.x_dev->data, true} : vgg::ForwardInput{c.x.Data()};
  vgg::Status st = c.net->Forward(c.in, c.run, x, c.taps, c.y);
  if (!st.ok()) Throw(info.Env(), st);
  return c.result;
}

Napi::Value NetworkWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto net = Live(env, "info");
  Napi::Object o = Napi::Object::New(env);
  o.Set("backend", net->backend().name());
  o.Set("kernelFamily", net->backend().kernel_family());
  o.Set("precision", net->backend().precision_name());
  o.Set("weightBytes", double(net->weight_bytes()));
  o.Set("plansCached", net->num_plans_cached());
  o.Set("arenaBytes", double(net->arena_bytes()));
  o.Set("memoryBudget", double(net->memory_budget()));
  Napi::Array algos = Napi::Array::New(env);
  const std::vector<vgg::ConvAlgorithm> a = net->conv_algorithms();
  size_t ci = 0;
  for (size_t i = 0; i < net->layers().size(); ++i) {
    if (net->layers()[i].kind != vgg::LayerSpec::Kind::kConv) continue;
    Napi::Object e = Napi::Object::New(env);
    e.Set("layer", double(i));
    e.Set("algorithm", vgg::ConvAlgorithmName(a[ci]));
    e.Set("weightBytes", double(net->packed_bytes(ci)));
    const char* prec = net->packed_conv(ci).precision();
    e.Set("precision", prec ? std::string(prec) : net->backend().precision_name());
    algos.Set(uint32_t(ci++), e);
  }
  o.Set("convAlgorithms", algos);
  const vgg::GraphInfo g = net->graph_info();
  Napi::Object go = Napi::Object::New(env);
  go.Set("enabled", g.enabled);
  go.Set("reason", g.reason);
  go.Set("plansCaptured", g.captured);
  go.Set("captures", double(g.captures));
  go.Set("replays", double(g.replays));
  go.Set("lastError", g.last_error);
  o.Set("cudaGraphs", go);
  return o;
}

Napi::Value NetworkWrap::Dispose(const Napi::CallbackInfo& info) {
  net_.reset();
  inputs_->Clear();
  return info.Env().Undefined();
}

Napi::Value NetworkWrap::IsDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !net_); }

}  // namespace vggjs
