// `NetworkBuilder`: a network whose weights are packed layer by layer on the libuv pool, so building a large
// network (Model.create) never blocks the JS thread. Used as
//   const b = new NetworkBuilder(options, layers);
//   await b.reserve(i);          // optional: staging memory for a copy, allocated and touched off-thread
//   b.stage(i, weight, from, to) // optional: the copy in chunks, between which the event loop runs
//   await b.pack(i, weight, bias, take);   // for each conv layer i, any order, one call at a time per layer
//   await b.packRows(i, rows, bias, from, take) // or a layer in bands of output channels, in order (a large
//                                               // FC layer read piecewise: its whole source never in memory)
//   const net = new Network(b);  // adopts the packed layers (NetworkWrap); the builder is spent
// pack() either copies the arrays on the calling thread (take = false: the caller may mutate, detach or
// transfer them at once) or, with take = true, reads them in place off-thread and detaches them afterwards
// to free their memory: only for arrays nobody else can reach (the library's own, read from a file or
// generated), since a buffer detached or resized by someone else while the pool thread reads it would be a
// use after free.
#pragma once
#include <napi.h>

#include <memory>

#include "core/network.h"

namespace vggjs {

class NetworkBuilderWrap : public Napi::ObjectWrap<NetworkBuilderWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NetworkBuilderWrap(const Napi::CallbackInfo& info);

  // The builder `v` wraps (checked by type tag), or nullptr when `v` is anything else.
  static NetworkBuilderWrap* FromValue(const Napi::Value& v);
  // Moves the network out once every conv layer is packed and no pack or reserve is running; the builder is
  // spent afterwards. kInvalidArgument naming what is missing otherwise.
  vgg::Status Build(std::unique_ptr<vgg::Network>* out);

  struct State;

 private:
  Napi::Value Reserve(const Napi::CallbackInfo& info);
  Napi::Value Stage(const Napi::CallbackInfo& info);
  Napi::Value Pack(const Napi::CallbackInfo& info);
  Napi::Value PackRows(const Napi::CallbackInfo& info);
  Napi::Value NumConvLayers(const Napi::CallbackInfo& info);
  // The conv index info[0] names, checked: in range, not packed yet, nothing running on it, builder not spent.
  size_t Slot(const Napi::CallbackInfo& info, const char* method);
  std::shared_ptr<State> st_;
};

}  // namespace vggjs
