#include "binding/backend_factory.h"

#include "binding/args.h"

namespace vggjs {

namespace {
std::string GetString(Napi::Env env, const Napi::Object& o, const char* key, const std::string& ctx,
                      const char* expected) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) ThrowInvalid(env, ctx + "." + key + ": expected " + expected + ", got " + Describe(v));
  return v.As<Napi::String>().Utf8Value();
}
}  // namespace

std::shared_ptr<vgg::Backend> CreateBackend(Napi::Env env, const Napi::Object& opts, const std::string& ctx) {
  const char* kDevices = "'cpu' | 'cuda:N' | 'reference'";
  const std::string device = GetString(env, opts, "device", ctx, kDevices);
  // Read every option before acting on any, so no getter runs after a backend exists.
  const int threads = GetInt(opts, "threads", ctx, 0, 1024);
  const char* kIsas = "'auto' | 'scalar' | 'avx2' | 'avx512' | 'neon'";
  vgg::CpuOptions co;
  co.threads = threads;
  if (!vgg::ParseIsa(GetString(env, opts, "isa", ctx, kIsas), &co.isa))
    ThrowInvalid(env, ctx + ".isa: expected " + kIsas + ", got " + Describe(opts.Get("isa")));
  const char* kPrecisions = "'fp32' | 'tf32' | 'bf16' | 'fp16'";
  vgg::CudaOptions cu;
  if (!vgg::ParsePrecision(GetString(env, opts, "precision", ctx, kPrecisions), &cu.precision))
    ThrowInvalid(env, ctx + ".precision: expected " + kPrecisions + ", got " + Describe(opts.Get("precision")));

  std::unique_ptr<vgg::Backend> be;
  vgg::Status st;
  if (device == "reference") {
    be = vgg::MakeReferenceBackend();
  } else if (device == "cpu") {
    // On the CPU: 'fp32' and 'tf32' (the CUDA default, a tensor-core format the CPU lacks) compute in fp32;
    // 'bf16' is the opt-in bf16 GEMM/GEMV (MakeCpuBackend: kUnsupported without AVX512_BF16); 'fp16' has no
    // CPU kernels and is refused rather than run as fp32.
    if (cu.precision == vgg::CudaOptions::Precision::kFp16)
      Throw(env, vgg::Unsupported(ctx + ".precision: 'fp16' has no CPU kernels; on device 'cpu' use 'fp32' (or "
                                        "'tf32', the same there) or 'bf16' (CPUs with AVX512_BF16)"));
    if (cu.precision == vgg::CudaOptions::Precision::kBf16) co.precision = vgg::CpuPrecision::kBf16;
    st = vgg::MakeCpuBackend(co, &be);
  } else if (device.rfind("cuda:", 0) == 0 && device.size() > 5 && device.size() <= 8 &&
             device.find_first_not_of("0123456789", 5) == std::string::npos) {
    cu.device = std::stoi(device.substr(5));
    st = vgg::MakeCudaBackend(cu, &be);
  } else {
    ThrowInvalid(env, ctx + ".device: expected " + kDevices + ", got '" + device + "'");
  }
  if (!st.ok()) Throw(env, st);
  return std::shared_ptr<vgg::Backend>(std::move(be));
}

vgg::ConvAlgorithm GetConvAlgorithm(Napi::Env env, const Napi::Object& opts, const std::string& ctx) {
  const char* kNames = "'auto' | 'direct' | 'gemm' | 'winograd2x2' | 'winograd4x4'";
  vgg::ConvAlgorithm a;
  if (!vgg::ParseConvAlgorithm(GetString(env, opts, "convAlgorithm", ctx, kNames), &a))
    ThrowInvalid(env, ctx + ".convAlgorithm: expected " + kNames + ", got " + Describe(opts.Get("convAlgorithm")));
  return a;
}

vgg::NetworkOptions GetNetworkOptions(Napi::Env env, const Napi::Object& opts, const std::string& ctx) {
  vgg::NetworkOptions no;
  no.conv_algorithm = GetConvAlgorithm(env, opts, ctx);
  Napi::Value b = opts.Get("memoryBudget");
  const double bytes = b.IsNumber() ? b.As<Napi::Number>().DoubleValue() : -1;
  if (!(bytes >= 0 && bytes < 9007199254740992.0 && bytes == double(size_t(bytes))))
    ThrowInvalid(
        env, ctx + ".memoryBudget: expected an integer number of bytes in [0, 2^53) (0: no limit), got " + Describe(b));
  no.memory_budget = size_t(bytes);
  Napi::Value g = opts.Get("cudaGraphs");
  if (!g.IsBoolean()) ThrowInvalid(env, ctx + ".cudaGraphs: expected a boolean, got " + Describe(g));
  no.graphs = g.As<Napi::Boolean>().Value();
  return no;
}

}  // namespace vggjs
