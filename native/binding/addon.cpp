// Module entry: error-class registration, the runtime report, and the Network class.
#include <napi.h>

#include "binding/args.h"
#include "binding/device_buffer.h"
#include "binding/errors.h"
#include "binding/network_builder.h"
#include "binding/network_wrap.h"
#include "core/backend.h"
#include "core/thread_priority.h"

namespace vggjs {
namespace {

Napi::Value SetErrorClasses(const Napi::CallbackInfo& info) {
  RegisterErrorClasses(info.Env(), GetObject(info[0], "classes"));
  return info.Env().Undefined();
}

// backends(): what this binary can run on, and why.
Napi::Value Backends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const vgg::CpuInfo& ci = vgg::GetCpuInfo();
  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("kernelFamily", vgg::IsaName(ci.best));
  cpu.Set("reason", ci.reason);
  cpu.Set("hardwareThreads", ci.hardware_threads);
  Napi::Object feats = Napi::Object::New(env);
  feats.Set("avx2", ci.avx2);
  feats.Set("fma", ci.fma);
  feats.Set("avx512", ci.avx512);
  feats.Set("avx512bf16", ci.avx512_bf16);
  feats.Set("neon", ci.neon);
  cpu.Set("features", feats);
  // The CPU arithmetic a model may ask for (ModelOptions.precision on device 'cpu'): fp32 always; bf16 with the
  // avx512 family and AVX512_BF16.
  Napi::Array precs = Napi::Array::New(env);
  precs.Set(uint32_t(0), "fp32");
  if (ci.avx512 && ci.fma && ci.avx512_bf16) precs.Set(uint32_t(1), "bf16");
  cpu.Set("precisions", precs);

  const vgg::CudaInfo cu = vgg::GetCudaInfo();
  Napi::Object cuda = Napi::Object::New(env);
  cuda.Set("compiled", cu.compiled);
  cuda.Set("runtimeVersion", cu.runtime_version);
  cuda.Set("reason", cu.reason);
  Napi::Array devs = Napi::Array::New(env, cu.devices.size());
  for (size_t i = 0; i < cu.devices.size(); ++i) {
    const auto& d = cu.devices[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", d.index);
    o.Set("name", d.name);
    o.Set("totalMemoryBytes", double(d.total_memory_bytes));
    o.Set("computeCapability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor));
    devs.Set(uint32_t(i), o);
  }
  cuda.Set("devices", devs);

  Napi::Object r = Napi::Object::New(env);
  r.Set("cpu", cpu);
  r.Set("cuda", cuda);
  return r;
}

// lowerThreadPriority(): the calling thread (the library's loader worker_thread) yields to the JS main thread.
Napi::Value LowerThreadPriority(const Napi::CallbackInfo& info) {
  vgg::LowerThisThread(vgg::kBackgroundNice);
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("setErrorClasses", Napi::Function::New(env, SetErrorClasses));
  exports.Set("backends", Napi::Function::New(env, Backends));
  exports.Set("lowerThreadPriority", Napi::Function::New(env, LowerThreadPriority));
  exports.Set("Network", NetworkWrap::Init(env));
  exports.Set("NetworkBuilder", NetworkBuilderWrap::Init(env));
  exports.Set("DeviceBuffer", DeviceBufferWrap::Init(env));
  exports.Set("cudaMemory", Napi::Function::New(env, CudaMemory));
  exports.Set("abiVersion", Napi::Number::New(env, 4));
  return exports;
}

}  // namespace
}  // namespace vggjs

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return vggjs::Init(env, exports); }
NODE_API_MODULE(vggnet, InitModule)
