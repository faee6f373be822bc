// One step of the layer program (lib/native.ts NativeLayer) read from JS.
#pragma once
#include <napi.h>

#include <string>

#include "core/network.h"

namespace vggjs {

// {kind: 'conv', inChannels, outChannels, kernel, stride?, pad?, relu?, algorithm?} | {kind: 'maxpool', window?,
// stride?} | {kind: 'lrn', size?, alpha?, beta?, k?}; `ctx` names it in errors (InvalidArgumentError).
vgg::LayerSpec ParseLayer(Napi::Env env, const Napi::Value& v, const std::string& ctx);

}  // namespace vggjs
