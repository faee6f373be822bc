// The libuv-pool worker of a call that returns a promise: the promise settles on the JS thread, and a worker
// whose environment is being torn down (a worker_thread terminated mid-call) is dropped quietly. Opening a handle
// scope or settling the promise then fails and node-addon-api throws; uncaught, that would abort the process.
// Nobody can await the promise any more.
#pragma once
#include <napi.h>

namespace vggjs {

class SettlingWorker : public Napi::AsyncWorker {
 public:
  SettlingWorker(Napi::Env env, const char* name)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }
  void OnWorkComplete(Napi::Env env, napi_status status) override {
    try {
      Napi::AsyncWorker::OnWorkComplete(env, status);
    } catch (const Napi::Error&) { Destroy(); }
  }
  Napi::Promise::Deferred deferred_;
};

}  // namespace vggjs
