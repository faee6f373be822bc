#include "binding/layers.h"

#include "binding/args.h"

namespace vggjs {

vgg::LayerSpec ParseLayer(Napi::Env env, const Napi::Value& v, const std::string& ctx) {
  Napi::Object o = GetObject(v, ctx);
  Napi::Value kv = o.Get("kind");
  const std::string kind = kv.IsString() ? kv.As<Napi::String>().Utf8Value() : "";
  vgg::LayerSpec l;
  if (kind == "conv") {
    l.kind = vgg::LayerSpec::Kind::kConv;
    l.in_channels = GetInt(o, "inChannels", ctx, 1, 1 << 20);
    l.out_channels = GetInt(o, "outChannels", ctx, 1, 1 << 20);
    l.kernel = GetInt(o, "kernel", ctx, 1, 64);
    l.stride = GetIntOr(o, "stride", ctx, 1, 64, 1);
    l.pad = GetIntOr(o, "pad", ctx, 0, 64, 0);
    l.relu = GetBoolOr(o, "relu", ctx, true);
    const Napi::Value a = o.Get("algorithm");
    if (!a.IsUndefined()) {
      vgg::ConvAlgorithm algo;
      if (!a.IsString() || !vgg::ParseConvAlgorithm(a.As<Napi::String>().Utf8Value(), &algo))
        ThrowInvalid(env, ctx +
                              ".algorithm: expected 'auto' | 'direct' | 'gemm' | 'winograd2x2' | 'winograd4x4', got " +
                              Describe(a));
      l.algorithm = algo;
    }
  } else if (kind == "maxpool") {
    l.kind = vgg::LayerSpec::Kind::kMaxPool;
    l.window = GetIntOr(o, "window", ctx, 1, 64, 2);
    l.pool_stride = GetIntOr(o, "stride", ctx, 1, 64, 2);
  } else if (kind == "lrn") {
    l.kind = vgg::LayerSpec::Kind::kLrn;
    l.lrn.size = GetIntOr(o, "size", ctx, 1, 1 << 16, l.lrn.size);
    l.lrn.alpha = float(GetNumberOr(o, "alpha", ctx, l.lrn.alpha));
    l.lrn.beta = float(GetNumberOr(o, "beta", ctx, l.lrn.beta));
    l.lrn.k = float(GetNumberOr(o, "k", ctx, l.lrn.k));
  } else {
    ThrowInvalid(env, ctx + ".kind: expected 'conv' | 'maxpool' | 'lrn', got " + Describe(kv));
  }
  return l;
}

}  // namespace vggjs
