// Status codes of the Node-free core. Native code never aborts or exits: every failure is returned as a
// Status and the binding turns it into a JS error with a stable `code` (lib/errors.ts).
#pragma once
#include <string>
#include <utility>

namespace vgg {

enum class Code {
  kOk = 0,
  kInvalidArgument,  // the caller's bug: wrong shape, wrong type, out-of-range parameter
  kUnsupported,      // a valid request we cannot serve: shape, layer or hardware we lack
  kDevice,           // the device failed at run time: CUDA error, out of host or device memory
  kFormat,           // weights or model file is malformed
  kDisposed,         // the object was disposed
  kMemoryBudget,     // a plan would exceed the network's memory budget (nothing was allocated)
};

struct Status {
  Code code = Code::kOk;
  std::string message;
  bool ok() const { return code == Code::kOk; }
  static Status Ok() { return {}; }
};

inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status Unsupported(std::string m) { return {Code::kUnsupported, std::move(m)}; }
inline Status DeviceError(std::string m) { return {Code::kDevice, std::move(m)}; }
inline Status FormatError(std::string m) { return {Code::kFormat, std::move(m)}; }
inline Status Disposed(std::string m) { return {Code::kDisposed, std::move(m)}; }
inline Status OverBudget(std::string m) { return {Code::kMemoryBudget, std::move(m)}; }

#define VGG_RETURN_IF_ERROR(expr) \
  do {                            \
    ::vgg::Status _st = (expr);   \
    if (!_st.ok()) return _st;    \
  } while (0)

}  // namespace vgg
