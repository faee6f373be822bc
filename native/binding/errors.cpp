#include "binding/errors.h"

#include <memory>

namespace vggjs {
namespace {

struct ErrorClasses {
  Napi::FunctionReference invalid, unsupported, device, format, disposed, budget;
};

const char* CodeOf(vgg::Code c) {
  switch (c) {
    case vgg::Code::kInvalidArgument: return "ERR_VGG_INVALID_ARGUMENT";
    case vgg::Code::kUnsupported: return "ERR_VGG_UNSUPPORTED";
    case vgg::Code::kDevice: return "ERR_VGG_DEVICE";
    case vgg::Code::kFormat: return "ERR_VGG_FORMAT";
    case vgg::Code::kDisposed: return "ERR_VGG_DISPOSED";
    case vgg::Code::kMemoryBudget: return "ERR_VGG_MEMORY_BUDGET";
    default: return "ERR_VGG_INTERNAL";
  }
}

Napi::FunctionReference* ClassOf(ErrorClasses* ec, vgg::Code c) {
  if (!ec) return nullptr;
  switch (c) {
    case vgg::Code::kInvalidArgument: return &ec->invalid;
    case vgg::Code::kUnsupported: return &ec->unsupported;
    case vgg::Code::kDevice: return &ec->device;
    case vgg::Code::kFormat: return &ec->format;
    case vgg::Code::kDisposed: return &ec->disposed;
    case vgg::Code::kMemoryBudget: return &ec->budget;
    default: return nullptr;
  }
}

}  // namespace

void RegisterErrorClasses(Napi::Env env, Napi::Object classes) {
  auto* ec = new ErrorClasses();
  auto take = [&](const char* key, Napi::FunctionReference& ref) {
    Napi::Value v = classes.Get(key);
    if (!v.IsFunction()) {
      delete ec;
      ThrowInvalid(env, std::string("setErrorClasses: expected a constructor at '") + key + "'");
    }
    ref = Napi::Persistent(v.As<Napi::Function>());
  };
  take("InvalidArgumentError", ec->invalid);
  take("UnsupportedError", ec->unsupported);
  take("DeviceError", ec->device);
  take("FormatError", ec->format);
  take("DisposedError", ec->disposed);
  take("MemoryBudgetError", ec->budget);
  env.SetInstanceData<ErrorClasses>(ec);  // freed by Node at environment teardown
}

Napi::Error MakeError(Napi::Env env, const vgg::Status& st) {
  Napi::FunctionReference* cls = ClassOf(env.GetInstanceData<ErrorClasses>(), st.code);
  if (cls && !cls->IsEmpty()) {
    Napi::Object e = cls->New({Napi::String::New(env, st.message)});
    return Napi::Error(env, e);
  }
  Napi::Error e = Napi::Error::New(env, st.message);
  e.Set("code", Napi::String::New(env, CodeOf(st.code)));
  return e;
}

void Throw(Napi::Env env, const vgg::Status& st) { throw MakeError(env, st); }

}  // namespace vggjs
