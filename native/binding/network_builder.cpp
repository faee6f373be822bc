#include "binding/network_builder.h"

#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "binding/args.h"
#include "binding/backend_factory.h"
#include "binding/background.h"
#include "binding/layers.h"
#include "binding/settling_worker.h"

namespace vggjs {

namespace {
// Marks the JS objects that wrap a NetworkBuilderWrap, so `new Network(x)` cannot unwrap anything else.
constexpr napi_type_tag kBuilderTag = {0x7667676e65742d62ULL, 0x75696c6465723031ULL};

// Floats of conv layer `l`'s weight (K,C,R,S) and bias (K).
size_t WeightFloats(const vgg::LayerSpec& l) { return size_t(l.out_channels) * l.in_channels * l.kernel * l.kernel; }

// Host memory for one layer's weights then bias; null when out of memory.
std::unique_ptr<float[]> Allocate(size_t floats) { return std::unique_ptr<float[]>(new (std::nothrow) float[floats]); }
}  // namespace

struct NetworkBuilderWrap::State {
  struct Slot {
    size_t layer = 0;                         // index in `layers`
    std::unique_ptr<vgg::PackedConv> packed;  // set on the JS thread once its pack settled
    std::unique_ptr<float[]> staging;         // reserved copy buffer: weights, then bias
    size_t staged = 0;                        // floats of the weight copied into `staging` by stage()
    // packRows: the layer packed a band of output channels at a time, in order.
    std::unique_ptr<vgg::PackedConv> partial;  // allocated by the first band; becomes `packed` with the last
    std::unique_ptr<float[]> gather;           // a backend that cannot pack in parts: the layer gathered whole
    size_t rows = 0;                           // output channels packed (or gathered) so far
    bool busy = false;                         // a reserve or pack is running (JS thread only)
  };
  std::shared_ptr<vgg::Backend> backend;
  std::vector<vgg::LayerSpec> layers;
  vgg::NetworkOptions options;  // conv algorithm requested, memory budget
  std::vector<Slot> slots;      // one per conv layer; never resized after construction
  // ArrayBuffers read in place by running packs (take = true): one is detached only when no pack reads it.
  std::vector<void*> taken;
  bool spent = false;
};

namespace {

// Allocates a layer's staging buffer and touches every page, so the copy on the JS thread is a plain memcpy
// without page faults.
class ReserveWorker final : public SettlingWorker {
 public:
  ReserveWorker(Napi::Env env, std::shared_ptr<NetworkBuilderWrap::State> st, size_t ci, size_t floats)
      : SettlingWorker(env, "vggnet:reserve"), st_(std::move(st)), ci_(ci), floats_(floats) {}

 protected:
  void Execute() override {
    RunInBackground([this] {
      buf_ = Allocate(floats_);
      if (buf_) std::memset(buf_.get(), 0, floats_ * sizeof(float));
    });
  }
  void OnOK() override {
    auto& slot = st_->slots[ci_];
    slot.busy = false;
    if (!buf_) {
      deferred_.Reject(
          MakeError(Env(), vgg::DeviceError("reserve: out of host memory for conv layer " + std::to_string(ci_) + " (" +
                                            std::to_string(floats_) + " floats)"))
              .Value());
      return;
    }
    slot.staging = std::move(buf_);
    slot.staged = 0;
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override {
    st_->slots[ci_].busy = false;
    SettlingWorker::OnError(e);
  }

 private:
  std::shared_ptr<NetworkBuilderWrap::State> st_;
  size_t ci_, floats_;
  std::unique_ptr<float[]> buf_;
};

// Packs one conv layer on the pool. The source is either our own copy (`copy`) or arrays read in place
// (`w_ref`, `b_ref`: kept alive by the references, detached once packed).
class PackWorker final : public SettlingWorker {
 public:
  PackWorker(Napi::Env env, std::shared_ptr<NetworkBuilderWrap::State> st, size_t ci)
      : SettlingWorker(env, "vggnet:pack"), st_(std::move(st)), ci_(ci) {}
  std::unique_ptr<float[]> copy;
  const float* w = nullptr;
  const float* b = nullptr;
  Napi::Reference<Napi::Float32Array> w_ref, b_ref;
  // Packs w and b where they are: keeps them alive until packed and records their buffers as taken (detached
  // once packed).
  void ReadInPlace(const Napi::Float32Array& w_in, const Napi::Float32Array& b_in, NetworkBuilderWrap::State* st) {
    w = w_in.Data();
    b = b_in.Data();
    w_ref = Napi::Reference<Napi::Float32Array>::New(w_in, 1);
    b_ref = Napi::Reference<Napi::Float32Array>::New(b_in, 1);
    st->taken.push_back(w_in.ArrayBuffer().Data());
    st->taken.push_back(b_in.ArrayBuffer().Data());
  }
  // packRows: output channels [k0, k1) of the layer (w, b hold only those); k1 = 0: the whole layer.
  size_t k0 = 0, k1 = 0;

 protected:
  void Execute() override {
    auto& slot = st_->slots[ci_];  // the JS thread leaves a busy slot alone
    const vgg::LayerSpec& l = st_->layers[slot.layer];
    const vgg::ConvShape s = vgg::Network::PackShape(l);
    const vgg::ConvAlgorithm algo =
        st_->backend->choose_conv_algorithm(s, vgg::Network::RequestedAlgorithm(l, st_->options));
    RunInBackground([&] {
      if (k1 == 0) status_ = st_->backend->pack_conv(s, algo, w, b, &packed_);
      else if (slot.partial) status_ = st_->backend->pack_conv_rows(s, slot.partial.get(), int(k0), int(k1), w, b);
      else {
        const size_t crs = WeightFloats(l) / size_t(l.out_channels), wn = WeightFloats(l);
        std::memcpy(slot.gather.get() + k0 * crs, w, (k1 - k0) * crs * sizeof(float));
        std::memcpy(slot.gather.get() + wn + k0, b, (k1 - k0) * sizeof(float));
        if (k1 == size_t(l.out_channels)) {
          status_ = st_->backend->pack_conv(s, algo, slot.gather.get(), slot.gather.get() + wn, &packed_);
          slot.gather.reset();
        }
      }
      copy.reset();  // freeing hundreds of MB (munmap) takes tens of ms: not on the JS thread
    });
  }
  void OnOK() override {
    Finish();
    if (!status_.ok()) {
      deferred_.Reject(MakeError(Env(), status_).Value());
      return;
    }
    auto& slot = st_->slots[ci_];
    if (k1 == 0) slot.packed = std::move(packed_);
    else {
      slot.rows = k1;
      if (k1 == size_t(st_->layers[slot.layer].out_channels))
        slot.packed = slot.partial ? std::move(slot.partial) : std::move(packed_);
    }
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override {
    Finish();
    SettlingWorker::OnError(e);
  }

 private:
  // On the JS thread, once the pool thread no longer reads the source: free it.
  void Finish() {
    st_->slots[ci_].busy = false;
    copy.reset();
    for (auto* ref : {&w_ref, &b_ref}) {
      if (ref->IsEmpty()) continue;
      Napi::Float32Array a = ref->Value();
      Napi::ArrayBuffer ab = a.ArrayBuffer();
      void* data = ab.Data();
      auto& taken = st_->taken;
      for (auto it = taken.begin(); it != taken.end(); ++it)
        if (*it == data) {
          taken.erase(it);
          break;
        }
      bool shared = false;
      for (void* t : taken) shared |= t == data;
      // Only a view of a whole buffer that no other running pack reads is detached (which frees its memory
      // when nothing else holds it); a non-detachable buffer is left as it is.
      if (!shared && a.ByteOffset() == 0 && a.ByteLength() == ab.ByteLength()) napi_detach_arraybuffer(Env(), ab);
      ref->Reset();
    }
  }
  std::shared_ptr<NetworkBuilderWrap::State> st_;
  size_t ci_;
  std::unique_ptr<vgg::PackedConv> packed_;
  vgg::Status status_;
};

}  // namespace

Napi::Function NetworkBuilderWrap::Init(Napi::Env env) {
  return DefineClass(
      env, "NetworkBuilder",
      {InstanceMethod("reserve", &NetworkBuilderWrap::Reserve), InstanceMethod("stage", &NetworkBuilderWrap::Stage),
       InstanceMethod("pack", &NetworkBuilderWrap::Pack), InstanceMethod("packRows", &NetworkBuilderWrap::PackRows),
       InstanceAccessor("convLayers", &NetworkBuilderWrap::NumConvLayers, nullptr)});
}

// new NetworkBuilder(options {device, threads, isa, precision, convAlgorithm, memoryBudget, cudaGraphs}, layers[])
NetworkBuilderWrap::NetworkBuilderWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NetworkBuilderWrap>(info) {
  Napi::Env env = info.Env();
  Napi::Object opts = GetObject(info[0], "options");
  if (!info[1].IsArray()) ThrowInvalid(env, "layers: expected an array, got " + Describe(info[1]));
  Napi::Array layers = info[1].As<Napi::Array>();
  auto st = std::make_shared<State>();
  for (uint32_t i = 0; i < layers.Length(); ++i) {
    st->layers.push_back(ParseLayer(env, layers.Get(i), "layers[" + std::to_string(i) + "]"));
    if (st->layers.back().kind == vgg::LayerSpec::Kind::kConv) st->slots.emplace_back().layer = i;
  }
  if (st->layers.empty()) ThrowInvalid(env, "layers: a network needs at least one layer");
  st->options = GetNetworkOptions(env, opts, "options");
  st->backend = CreateBackend(env, opts, "options");
  st_ = std::move(st);
  info.This().As<Napi::Object>().TypeTag(&kBuilderTag);
}

NetworkBuilderWrap* NetworkBuilderWrap::FromValue(const Napi::Value& v) {
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kBuilderTag)) return nullptr;
  return NetworkBuilderWrap::Unwrap(v.As<Napi::Object>());
}

size_t NetworkBuilderWrap::Slot(const Napi::CallbackInfo& info, const char* method) {
  Napi::Env env = info.Env();
  const std::string m = std::string("NetworkBuilder.") + method;
  if (st_->spent) ThrowInvalid(env, m + ": the network was already built");
  if (st_->slots.empty()) ThrowInvalid(env, m + ": the network has no conv layers");
  const size_t ci = size_t(CheckInt(info[0], "layer", 0, int(st_->slots.size()) - 1));
  const auto& slot = st_->slots[ci];
  if (slot.busy) ThrowInvalid(env, m + ": conv layer " + std::to_string(ci) + " is already being reserved or packed");
  if (slot.packed) ThrowInvalid(env, m + ": conv layer " + std::to_string(ci) + " is already packed");
  if (slot.rows && std::string(method) != "packRows")
    ThrowInvalid(env, m + ": conv layer " + std::to_string(ci) + " is being packed in parts (packRows)");
  return ci;
}

// reserve(convIndex) → Promise<void>: staging memory for a later pack(convIndex, …, take = false).
Napi::Value NetworkBuilderWrap::Reserve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t ci = Slot(info, "reserve");
  auto& slot = st_->slots[ci];
  const vgg::LayerSpec& l = st_->layers[slot.layer];
  auto* w = new ReserveWorker(env, st_, ci, WeightFloats(l) + size_t(l.out_channels));
  slot.busy = true;
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// stage(convIndex, weight, from, to): copies weight[from, to) into the reserved staging memory, on the calling
// thread; chunks must come in order (from = the floats staged so far). A layer staged whole is packed from
// its staging memory by pack(…, take = false) without a further copy of the weight (the bias is copied then).
Napi::Value NetworkBuilderWrap::Stage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t ci = Slot(info, "stage");
  auto& slot = st_->slots[ci];
  const vgg::LayerSpec& l = st_->layers[slot.layer];
  const size_t wn = WeightFloats(l);
  if (!slot.staging)
    ThrowInvalid(env,
                 "NetworkBuilder.stage: conv layer " + std::to_string(ci) + " has no staging memory (reserve() first)");
  Napi::Float32Array w = GetF32(info[1], "weights[" + std::to_string(ci) + "]", wn);
  const double from = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1;
  const double to = info[3].IsNumber() ? info[3].As<Napi::Number>().DoubleValue() : -1;
  if (from != double(slot.staged) || !(to > from) || to > double(wn) || to != double(size_t(to)))
    ThrowInvalid(env, "NetworkBuilder.stage: expected the range [" + std::to_string(slot.staged) + ", to ≤ " +
                          std::to_string(wn) + "), got [" + Describe(info[2]) + ", " + Describe(info[3]) + ")");
  std::memcpy(slot.staging.get() + slot.staged, w.Data() + slot.staged, (size_t(to) - slot.staged) * sizeof(float));
  slot.staged = size_t(to);
  return env.Undefined();
}

// pack(convIndex, weight (K,C,R,S) OIHW Float32Array, bias (K) Float32Array, take: boolean) → Promise<void>
Napi::Value NetworkBuilderWrap::Pack(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t ci = Slot(info, "pack");
  if (!info[3].IsBoolean()) ThrowInvalid(env, "take: expected a boolean, got " + Describe(info[3]));
  const bool take = info[3].As<Napi::Boolean>().Value();
  auto& slot = st_->slots[ci];
  const vgg::LayerSpec& l = st_->layers[slot.layer];
  const size_t wn = WeightFloats(l), bn = size_t(l.out_channels);
  const std::string at = "[" + std::to_string(ci) + "]";
  // No user code runs between these checks and the use of the pointers below.
  Napi::Float32Array w = GetF32(info[1], "weights" + at, wn);
  Napi::Float32Array b = GetF32(info[2], "biases" + at, bn);
  auto* worker = new PackWorker(env, st_, ci);
  if (take) {
    worker->ReadInPlace(w, b, st_.get());
  } else {
    const bool staged = slot.staging && slot.staged == wn;
    std::unique_ptr<float[]> buf = std::move(slot.staging);
    slot.staged = 0;
    if (!buf) buf = Allocate(wn + bn);
    if (!buf) {
      delete worker;
      Throw(env, vgg::DeviceError("pack: out of host memory copying conv layer " + std::to_string(ci) + " (" +
                                  std::to_string(wn + bn) + " floats)"));
    }
    if (!staged) std::memcpy(buf.get(), w.Data(), wn * sizeof(float));
    std::memcpy(buf.get() + wn, b.Data(), bn * sizeof(float));
    worker->w = buf.get();
    worker->b = buf.get() + wn;
    worker->copy = std::move(buf);
  }
  slot.busy = true;
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

// packRows(convIndex, weight (rows,C,R,S) OIHW Float32Array, bias (rows) Float32Array, from, take) → Promise<void>:
// output channels [from, from + rows) of the layer, bands in order from 0 (from = the channels packed so far);
// the layer is packed once its last band is. The arrays are copied (take = false) or read in place and then
// detached (take = true), as by pack().
Napi::Value NetworkBuilderWrap::PackRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t ci = Slot(info, "packRows");
  if (!info[4].IsBoolean()) ThrowInvalid(env, "take: expected a boolean, got " + Describe(info[4]));
  const bool take = info[4].As<Napi::Boolean>().Value();
  auto& slot = st_->slots[ci];
  const vgg::LayerSpec& l = st_->layers[slot.layer];
  const size_t K = size_t(l.out_channels), crs = WeightFloats(l) / K;
  const double from = info[3].IsNumber() ? info[3].As<Napi::Number>().DoubleValue() : -1;
  if (from != double(slot.rows))
    ThrowInvalid(env, "NetworkBuilder.packRows: conv layer " + std::to_string(ci) + ": expected from = " +
                          std::to_string(slot.rows) + " (bands in order), got " + Describe(info[3]));
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    ThrowInvalid(env, "weights[" + std::to_string(ci) + "]: expected a Float32Array, got " + Describe(info[1]));
  const size_t n = info[1].As<Napi::Float32Array>().ElementLength();
  const size_t rows = n / crs;
  if (rows < 1 || rows * crs != n || slot.rows + rows > K)
    ThrowInvalid(env, "weights[" + std::to_string(ci) + "]: expected a band of whole output channels (a multiple of " +
                          std::to_string(crs) + " floats, at most " + std::to_string((K - slot.rows) * crs) +
                          "), got " + std::to_string(n) + " floats");
  const std::string at = "[" + std::to_string(ci) + "]";
  Napi::Float32Array w = GetF32(info[1], "weights" + at, rows * crs);
  Napi::Float32Array b = GetF32(info[2], "biases" + at, rows);
  if (slot.rows == 0 && !slot.partial && !slot.gather) {
    const vgg::ConvShape s = vgg::Network::PackShape(l);
    const vgg::ConvAlgorithm algo = st_->backend->choose_conv_algorithm(s, st_->options.conv_algorithm);
    // Allocation only (pages are touched as the bands are packed): cheap on the JS thread.
    const vgg::Status st = st_->backend->pack_conv_begin(s, algo, &slot.partial);
    if (st.code == vgg::Code::kUnsupported) {
      slot.gather = Allocate(WeightFloats(l) + K);
      if (!slot.gather)
        Throw(env, vgg::DeviceError("packRows: out of host memory gathering conv layer " + std::to_string(ci)));
    } else if (!st.ok()) Throw(env, st);
  }
  auto* worker = new PackWorker(env, st_, ci);
  worker->k0 = slot.rows;
  worker->k1 = slot.rows + rows;
  if (take) {
    worker->ReadInPlace(w, b, st_.get());
  } else {
    std::unique_ptr<float[]> buf = Allocate(rows * crs + rows);
    if (!buf) {
      delete worker;
      Throw(env, vgg::DeviceError("packRows: out of host memory copying conv layer " + std::to_string(ci)));
    }
    std::memcpy(buf.get(), w.Data(), rows * crs * sizeof(float));
    std::memcpy(buf.get() + rows * crs, b.Data(), rows * sizeof(float));
    worker->w = buf.get();
    worker->b = buf.get() + rows * crs;
    worker->copy = std::move(buf);
  }
  slot.busy = true;
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

Napi::Value NetworkBuilderWrap::NumConvLayers(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(st_->slots.size()));
}

vgg::Status NetworkBuilderWrap::Build(std::unique_ptr<vgg::Network>* out) {
  if (st_->spent) return vgg::InvalidArgument("builder: the network was already built");
  std::vector<std::unique_ptr<vgg::PackedConv>> packed;
  for (size_t ci = 0; ci < st_->slots.size(); ++ci) {
    const auto& slot = st_->slots[ci];
    if (slot.busy) return vgg::InvalidArgument("builder: conv layer " + std::to_string(ci) + " is still being packed");
    if (!slot.packed) return vgg::InvalidArgument("builder: conv layer " + std::to_string(ci) + " was not packed");
  }
  for (auto& slot : st_->slots) {
    packed.push_back(std::move(slot.packed));
    slot.staging.reset();
    slot.gather.reset();
  }
  st_->spent = true;
  return vgg::Network::FromPacked(st_->backend, st_->layers, std::move(packed), st_->options, out);
}

}  // namespace vggjs
