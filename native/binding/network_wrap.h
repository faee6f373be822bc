#pragma once
#include <napi.h>

#include <memory>
#include <mutex>
#include <vector>

#include "binding/device_buffer.h"
#include "core/host_memory.h"
#include "core/network.h"

namespace vggjs {

// Host buffers for the input copies of async forwards, reused: a fresh allocation faults in every page of
// the copy on the JS thread (over 100 ms for a 20 MB input on a virtual machine), a reused one does not.
// Keeps the kKept most recent buffers of at most kMaxKeptBytes each.
class InputPool {
 public:
  struct Buffer {
    vgg::AlignedBuf data;  // large ones mapped with huge pages advised: few faults on first touch
    size_t capacity = 0;   // floats
  };
  Buffer Take(size_t floats);  // throws std::bad_alloc
  void Give(Buffer b);
  void Clear();

 private:
  static constexpr size_t kKept = 2;
  static constexpr size_t kMaxKeptBytes = size_t(256) << 20;
  std::mutex mu_;
  std::vector<Buffer> free_;
};

// `Network`: a native network on one backend. forward() runs on the libuv pool and resolves on the JS
// thread; dispose() drops the native network (memory is returned once any in-flight forward finishes).
class NetworkWrap : public Napi::ObjectWrap<NetworkWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NetworkWrap(const Napi::CallbackInfo& info);
  // A validated forward call: live network, input dims and data (a host array or a device buffer), the run,
  // and its outputs: fresh host arrays, or the caller's device buffers (each of the right size).
  struct Call {
    std::shared_ptr<vgg::Network> net;
    vgg::Shape4 in;
    Napi::Float32Array x;                                // a host input
    std::shared_ptr<DeviceBuffer> x_dev;                 // or a device-resident one
    vgg::ForwardOutput y;                                // into y_dev's buffer or the first array of `result`
    std::vector<std::shared_ptr<DeviceBuffer>> out_dev;  // device-resident outputs: y, then the taps
    vgg::RunSpec run;
    std::vector<vgg::Tap> taps;  // into the arrays or buffers of `result`
    Napi::Object result;         // y, or [y, taps...] when a run was given
  };

 private:
  std::shared_ptr<vgg::Network> Live(Napi::Env env, const char* method);
  Call Prepare(const Napi::CallbackInfo& info, const char* method);
  Napi::Value Plan(const Napi::CallbackInfo& info);
  Napi::Value Memory(const Napi::CallbackInfo& info);
  Napi::Value CheckBudget(const Napi::CallbackInfo& info);
  Napi::Value ReleasePlans(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value ForwardSync(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  std::shared_ptr<vgg::Network> net_;
  std::shared_ptr<InputPool> inputs_ = std::make_shared<InputPool>();
};

}  // namespace vggjs
