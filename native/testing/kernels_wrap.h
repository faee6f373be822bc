// The testing addon's `Kernels` class: one backend's ops called directly (kernels_wrap.cpp).
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
  Napi::Value PlanConv(const Napi::CallbackInfo& info);
  static vgg::ConvShape GetConvShape(const Napi::Value& v);
  vgg::ConvAlgorithm Algorithm(Napi::Env env, const vgg::ConvShape& s) const;
  std::shared_ptr<vgg::Backend> backend_;
  vgg::ConvAlgorithm algorithm_ = vgg::ConvAlgorithm::kAuto;
};

}  // namespace vggjs
