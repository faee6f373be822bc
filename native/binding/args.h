// Argument validation for the binding (better-sqlite3 / sharp style): every failure names the parameter,
// what was expected and what came, and throws an InvalidArgumentError. Nothing is converted silently.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "binding/errors.h"
#include "core/network.h"

namespace vggjs {

std::string Describe(const Napi::Value& v);  // "Float64Array", "number 3.5", "string", ...

// An integer in [min, max]; `name` is used in the error message.
int CheckInt(const Napi::Value& v, const std::string& name, int min, int max);
int GetInt(const Napi::Object& o, const char* key, const std::string& ctx, int min, int max);
int GetIntOr(const Napi::Object& o, const char* key, const std::string& ctx, int min, int max, int fallback);
double GetNumberOr(const Napi::Object& o, const char* key, const std::string& ctx, double fallback);
bool GetBoolOr(const Napi::Object& o, const char* key, const std::string& ctx, bool fallback);
Napi::Object GetObject(const Napi::Value& v, const std::string& name);

// A Float32Array of exactly `expected` elements (expected == SIZE_MAX: any length).
Napi::Float32Array GetF32(const Napi::Value& v, const std::string& name, size_t expected = SIZE_MAX);

// NCHW dims: an array of exactly 4 positive integers.
vgg::Shape4 GetShape4(const Napi::Value& v, const std::string& name);

}  // namespace vggjs
