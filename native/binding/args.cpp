#include "binding/args.h"

#include <cmath>
#include <cstdint>

namespace vggjs {

std::string Describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) {
    char buf[64];
    snprintf(buf, sizeof buf, "number %.17g", v.As<Napi::Number>().DoubleValue());
    return buf;
  }
  if (v.IsString()) return "string '" + v.As<Napi::String>().Utf8Value().substr(0, 40) + "'";
  if (v.IsBoolean()) return "boolean";
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_int8_array: return "Int8Array";
      case napi_uint8_array: return "Uint8Array";
      case napi_uint8_clamped_array: return "Uint8ClampedArray";
      case napi_int16_array: return "Int16Array";
      case napi_uint16_array: return "Uint16Array";
      case napi_int32_array: return "Int32Array";
      case napi_uint32_array: return "Uint32Array";
      case napi_float32_array: return "Float32Array";
      case napi_float64_array: return "Float64Array";
      case napi_bigint64_array: return "BigInt64Array";
      case napi_biguint64_array: return "BigUint64Array";
      default: return "TypedArray";
    }
  }
  if (v.IsArrayBuffer()) return "ArrayBuffer";
  if (v.IsArray()) return "Array";
  if (v.IsFunction()) return "function";
  return "object";
}

int CheckInt(const Napi::Value& v, const std::string& name, int min, int max) {
  if (!v.IsNumber()) ThrowInvalid(v.Env(), name + ": expected an integer, got " + Describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d)
    ThrowInvalid(v.Env(), name + ": expected an integer, got " + Describe(v));
  if (d < min || d > max)
    ThrowInvalid(v.Env(), name + ": expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                              "], got " + Describe(v));
  return int(d);
}

int GetInt(const Napi::Object& o, const char* key, const std::string& ctx, int min, int max) {
  return CheckInt(o.Get(key), ctx + "." + key, min, max);
}

int GetIntOr(const Napi::Object& o, const char* key, const std::string& ctx, int min, int max, int fallback) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() ? fallback : CheckInt(v, ctx + "." + key, min, max);
}

double GetNumberOr(const Napi::Object& o, const char* key, const std::string& ctx, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue()))
    ThrowInvalid(o.Env(), ctx + "." + key + ": expected a finite number, got " + Describe(v));
  return v.As<Napi::Number>().DoubleValue();
}

bool GetBoolOr(const Napi::Object& o, const char* key, const std::string& ctx, bool fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) ThrowInvalid(o.Env(), ctx + "." + key + ": expected a boolean, got " + Describe(v));
  return v.As<Napi::Boolean>().Value();
}

Napi::Object GetObject(const Napi::Value& v, const std::string& name) {
  if (!v.IsObject() || v.IsArray() || v.IsFunction())
    ThrowInvalid(v.Env(), name + ": expected an object, got " + Describe(v));
  return v.As<Napi::Object>();
}

Napi::Float32Array GetF32(const Napi::Value& v, const std::string& name, size_t expected) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    ThrowInvalid(v.Env(), name + ": expected a Float32Array, got " + Describe(v));
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (a.ByteOffset() % alignof(float) != 0)
    ThrowInvalid(v.Env(), name + ": data must be 4-byte aligned, byteOffset is " + std::to_string(a.ByteOffset()));
  if (expected != SIZE_MAX && a.ElementLength() != expected)
    ThrowInvalid(v.Env(), name + ": expected " + std::to_string(expected) + " elements, got " +
                              std::to_string(a.ElementLength()));
  return a;
}

vgg::Shape4 GetShape4(const Napi::Value& v, const std::string& name) {
  if (!v.IsArray()) ThrowInvalid(v.Env(), name + ": expected dims [N,C,H,W], got " + Describe(v));
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() != 4)
    ThrowInvalid(v.Env(), name + ": expected 4 dims [N,C,H,W] (NCHW), got " + std::to_string(a.Length()));
  int d[4];
  for (uint32_t i = 0; i < 4; ++i) d[i] = CheckInt(a.Get(i), name + "[" + std::to_string(i) + "]", 1, 1 << 20);
  const vgg::Shape4 s{d[0], d[1], d[2], d[3]};
  if (double(s.n) * s.c * s.h * s.w > double(1ull << 32))
    ThrowInvalid(v.Env(), name + ": tensor of more than 2^32 elements is not supported");
  return s;
}

}  // namespace vggjs
