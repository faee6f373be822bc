// Maps core Status codes onto the JS error classes of lib/errors.ts (registered once at load through
// `setErrorClasses`). Without registration, a plain Error with the same `code` is thrown.
#pragma once
#include <napi.h>

#include "core/status.h"

namespace vggjs {

void RegisterErrorClasses(Napi::Env env, Napi::Object classes);
Napi::Error MakeError(Napi::Env env, const vgg::Status& st);
[[noreturn]] void Throw(Napi::Env env, const vgg::Status& st);
[[noreturn]] inline void ThrowInvalid(Napi::Env env, const std::string& msg) { Throw(env, vgg::InvalidArgument(msg)); }

}  // namespace vggjs
