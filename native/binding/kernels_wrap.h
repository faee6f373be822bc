#pragma once
#include <napi.h>

#include <memory>

#include "core/backend.h"

namespace vggjs {

class KernelsWrap : public Napi::ObjectWrap<KernelsWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit KernelsWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Conv2d(const Napi::CallbackInfo& info);
  Napi::Value Maxpool2d(const Napi::CallbackInfo& info);
  Napi::Value Lrn(const Napi::CallbackInfo& info);
  Napi::Value Softmax(const Napi::CallbackInfo& info);
  Napi::Value SpatialMean(const Napi::CallbackInfo& info);
  Napi::Value FlipW(const Napi::CallbackInfo& info);
  std::shared_ptr<vgg::Backend> backend_;
};

}  // namespace vggjs
