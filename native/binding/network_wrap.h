#pragma once
#include <napi.h>

#include <memory>

#include "core/network.h"

namespace vggjs {

// `Network`: a native network on one backend. forward() runs on the libuv pool and resolves on the JS
// thread; dispose() drops the native network (memory is returned once any in-flight forward finishes).
class NetworkWrap : public Napi::ObjectWrap<NetworkWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NetworkWrap(const Napi::CallbackInfo& info);

 private:
  std::shared_ptr<vgg::Network> Live(Napi::Env env, const char* method);
  // A validated forward call: live network, input dims and data, output array of the right size.
  struct Call {
    std::shared_ptr<vgg::Network> net;
    vgg::Shape4 in;
    Napi::Float32Array x, y;
  };
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
};

}  // namespace vggjs
