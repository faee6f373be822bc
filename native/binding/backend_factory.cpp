#include "binding/backend_factory.h"

#include "binding/args.h"

namespace vggjs {

std::shared_ptr<vgg::Backend> CreateBackend(Napi::Env env, const Napi::Object& opts, const std::string& ctx) {
  Napi::Value dv = opts.Get("device");
  const std::string device = dv.IsUndefined() ? "cpu" : dv.IsString() ? dv.As<Napi::String>().Utf8Value() : "";
  if (!dv.IsUndefined() && !dv.IsString())
    ThrowInvalid(env, ctx + ".device: expected 'cpu' | 'cuda' | 'cuda:N' | 'reference', got " + Describe(dv));
  std::unique_ptr<vgg::Backend> be;
  if (device == "reference") {
    be = vgg::MakeReferenceBackend();
  } else if (device == "cpu") {
    vgg::CpuOptions o;
    o.threads = GetIntOr(opts, "threads", ctx, 0, 1024, 0);
    Napi::Value iv = opts.Get("isa");
    const std::string isa = iv.IsString() ? iv.As<Napi::String>().Utf8Value() : iv.IsUndefined() ? "auto" : "?";
    if (isa == "auto") o.isa = vgg::CpuIsa::kAuto;
    else if (isa == "scalar") o.isa = vgg::CpuIsa::kScalar;
    else if (isa == "avx2") o.isa = vgg::CpuIsa::kAvx2;
    else if (isa == "avx512") o.isa = vgg::CpuIsa::kAvx512;
    else ThrowInvalid(env, ctx + ".isa: expected 'auto' | 'scalar' | 'avx2' | 'avx512', got " + Describe(iv));
    vgg::Status st = vgg::MakeCpuBackend(o, &be);
    if (!st.ok()) Throw(env, st);
  } else if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
    vgg::CudaOptions co;
    Napi::Value pv = opts.Get("precision");
    const std::string prec = pv.IsString() ? pv.As<Napi::String>().Utf8Value() : pv.IsUndefined() ? "tf32" : "?";
    if (prec == "fp32") co.precision = vgg::CudaOptions::Precision::kFp32;
    else if (prec == "tf32") co.precision = vgg::CudaOptions::Precision::kTf32;
    else if (prec == "bf16") co.precision = vgg::CudaOptions::Precision::kBf16;
    else if (prec == "fp16") co.precision = vgg::CudaOptions::Precision::kFp16;
    else ThrowInvalid(env, ctx + ".precision: expected 'fp32' | 'tf32' | 'bf16' | 'fp16', got " + Describe(pv));
    int index = 0;
    if (device.size() > 5) {
      const std::string num = device.substr(5);
      if (num.empty() || num.size() > 3 || num.find_first_not_of("0123456789") != std::string::npos)
        ThrowInvalid(env, ctx + ".device: expected 'cuda:N' with N a device index, got '" + device + "'");
      index = std::stoi(num);
    }
    co.device = index;
    vgg::Status st = vgg::MakeCudaBackend(co, &be);
    if (!st.ok()) Throw(env, st);
  } else {
    ThrowInvalid(env, ctx + ".device: expected 'cpu' | 'cuda' | 'cuda:N' | 'reference', got '" + device + "'");
  }
  return std::shared_ptr<vgg::Backend>(std::move(be));
}

}  // namespace vggjs
