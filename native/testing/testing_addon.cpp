// The vggnet_testing addon: what the kernel tests need and the shipped addon does not (built with
// VGGNET_TESTING=ON, never part of a prebuild). Exports the `Kernels` class and `cpuKernels()`, the list of
// every CPU kernel by its symbol name.
#include <napi.h>

#include "binding/args.h"
#include "binding/errors.h"
#include "cpu/cpu_kernels.h"
#include "testing/kernels_wrap.h"

namespace vggjs {
namespace {

Napi::Value SetErrorClasses(const Napi::CallbackInfo& info) {
  RegisterErrorClasses(info.Env(), GetObject(info[0], "classes"));
  return info.Env().Undefined();
}

// cpuKernels() → [{name, isa, op, algorithm, precision, supported}] for the families compiled into this build:
// supported when cpuid (x86-64) or the hwcaps (aarch64) report the family's ISA. The fp32 kernels of each
// family come first, then (x86-64) the avx512 family's bf16 kernels (precision 'bf16', supported when cpuid
// also reports avx512_bf16).
Napi::Value CpuKernels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (const vgg::cpu::IsaFamily& fam : vgg::cpu::CompiledFamilies()) {
    struct {
      const vgg::cpu::IsaKernels& k;
      const char* isa;
      bool supported;
    } f = {fam.kernels(), fam.name, fam.supported};
    const std::pair<const char*, const char*> ops[][2] = {
        {{f.k.gemm.name, "conv2d"}, {"gemm", ""}},
        {{f.k.gemv.name, "conv2d"}, {"gemm", ""}},
        {{f.k.gemv_cols.name, "conv2d"}, {"gemm", ""}},
        {{f.k.winograd2x2.name, "conv2d"}, {"winograd2x2", ""}},
        {{f.k.winograd4x4.name, "conv2d"}, {"winograd4x4", ""}},
        {{f.k.maxpool_2x2s2_row.name, "maxpool2d"}, {"", ""}},
    };
    for (const auto& op : ops) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", op[0].first);
      o.Set("op", op[0].second);
      o.Set("algorithm", op[1].first);
      o.Set("isa", f.isa);
      o.Set("precision", "fp32");
      o.Set("supported", f.supported);
      out.Set(n++, o);
    }
  }
#if defined(__x86_64__)
  const vgg::cpu::Bf16Kernels& b = vgg::cpu::Avx512Bf16Kernels();
  const vgg::CpuInfo& ci = vgg::GetCpuInfo();
  for (const char* name : {b.gemm.name, b.gemv.name, b.gemv_cols.name}) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", name);
    o.Set("op", "conv2d");
    o.Set("algorithm", "gemm");
    o.Set("isa", "avx512");
    o.Set("precision", "bf16");
    o.Set("supported", ci.avx512 && ci.fma && ci.avx512_bf16);
    out.Set(n++, o);
  }
#endif
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("setErrorClasses", Napi::Function::New(env, SetErrorClasses));
  exports.Set("cpuKernels", Napi::Function::New(env, CpuKernels));
  exports.Set("Kernels", KernelsWrap::Init(env));
  return exports;
}

}  // namespace
}  // namespace vggjs

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return vggjs::Init(env, exports); }
NODE_API_MODULE(vggnet_testing, InitModule)
