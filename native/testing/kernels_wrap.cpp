// `Kernels`: direct, synchronous access to one backend's ops, for the kernel tests (not shipped: this is
// the vggnet_testing addon). Inputs are copied into backend buffers, the output buffer is pre-filled with
// NaN (so an unwritten element shows), and the result comes back as a new Float32Array.
#include "testing/kernels_wrap.h"

#include <cmath>
#include <initializer_list>
#include <limits>
#include <vector>

#include "binding/args.h"
#include "binding/backend_factory.h"

namespace vggjs {
namespace {

// A backend buffer released on scope exit.
struct Buf {
  vgg::Backend& be;
  float* p = nullptr;
  Buf(Napi::Env env, vgg::Backend& b, size_t n) : be(b) {
    vgg::Status st = be.alloc(n, &p);
    if (!st.ok()) Throw(env, st);
  }
  ~Buf() {
    if (p) be.release(p);
  }
};

Buf* Upload(Napi::Env env, vgg::Backend& be, const Napi::Float32Array& a) {
  auto* b = new Buf(env, be, a.ElementLength());
  vgg::Status st = be.upload(b->p, a.Data(), a.ElementLength());
  if (!st.ok()) {
    delete b;
    Throw(env, st);
  }
  return b;
}

Napi::Float32Array Download(Napi::Env env, vgg::Backend& be, const float* p, size_t n) {
  vgg::Status st = be.synchronize();
  if (!st.ok()) Throw(env, st);
  Napi::Float32Array out = Napi::Float32Array::New(env, n);
  st = be.download(out.Data(), p, n);
  if (!st.ok()) Throw(env, st);
  return out;
}

void FillNaN(Napi::Env env, vgg::Backend& be, float* p, size_t n) {
  std::vector<float> nan(n, std::numeric_limits<float>::quiet_NaN());
  vgg::Status st = be.upload(p, nan.data(), n);
  if (!st.ok()) Throw(env, st);
}

void Check(Napi::Env env, const vgg::Status& st) {
  if (!st.ok()) Throw(env, st);
}

// A tensor of these dims has at most 2^32 elements (as Network inputs, binding/args.cpp GetShape4). The
// product is taken in double: in size_t, N·C·H·W of in-range dims can wrap to a small number (even 0) and
// pass the buffer length check.
void CheckElements(Napi::Env env, const char* name, std::initializer_list<int> dims) {
  double n = 1;
  for (int d : dims) n *= d;
  if (n > double(1ull << 32)) ThrowInvalid(env, std::string("shape: ") + name + " would have more than 2^32 elements");
}
}  // namespace

Napi::Function KernelsWrap::Init(Napi::Env env) {
  return DefineClass(env, "Kernels",
                     {InstanceMethod("info", &KernelsWrap::Info), InstanceMethod("conv2d", &KernelsWrap::Conv2d),
                      InstanceMethod("planConv", &KernelsWrap::PlanConv),
                      InstanceMethod("maxpool2d", &KernelsWrap::Maxpool2d), InstanceMethod("lrn", &KernelsWrap::Lrn)});
}

// new Kernels({device, threads, isa, precision, convAlgorithm}): every field required. A conv whose shape
// the requested algorithm cannot serve is an UnsupportedError (no silent fallback, unlike a Network).
KernelsWrap::KernelsWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<KernelsWrap>(info) {
  Napi::Object opts = GetObject(info[0], "options");
  algorithm_ = GetConvAlgorithm(info.Env(), opts, "options");
  backend_ = CreateBackend(info.Env(), opts, "options");
}

vgg::ConvShape KernelsWrap::GetConvShape(const Napi::Value& v) {
  Napi::Env env = v.Env();
  Napi::Object o = GetObject(v, "shape");
  vgg::ConvShape s;
  s.N = GetInt(o, "N", "shape", 1, 1 << 16);
  s.C = GetInt(o, "C", "shape", 1, 1 << 20);
  s.H = GetInt(o, "H", "shape", 1, 1 << 16);
  s.W = GetInt(o, "W", "shape", 1, 1 << 16);
  s.K = GetInt(o, "K", "shape", 1, 1 << 20);
  s.R = GetInt(o, "R", "shape", 1, 64);
  s.S = GetInt(o, "S", "shape", 1, 64);
  s.stride = GetInt(o, "stride", "shape", 1, 64);
  s.pad = GetInt(o, "pad", "shape", 0, 64);
  if (s.P() < 1 || s.Q() < 1) ThrowInvalid(env, "shape: kernel larger than the padded input");
  CheckElements(env, "x", {s.N, s.C, s.H, s.W});
  CheckElements(env, "w", {s.K, s.C, s.R, s.S});
  CheckElements(env, "y", {s.N, s.K, s.P(), s.Q()});
  return s;
}

vgg::ConvAlgorithm KernelsWrap::Algorithm(Napi::Env env, const vgg::ConvShape& s) const {
  const vgg::ConvAlgorithm a = backend_->choose_conv_algorithm(s, algorithm_);
  if (algorithm_ != vgg::ConvAlgorithm::kAuto && a != algorithm_)
    Throw(env, vgg::Unsupported(std::string("conv2d: algorithm '") + vgg::ConvAlgorithmName(algorithm_) +
                                "' cannot serve this shape on " + backend_->name()));
  return a;
}

// planConv({N,C,H,W,K,R,S,stride,pad}) → {algorithm, kernel, workspaceBytes} of conv2d on that shape
Napi::Value KernelsWrap::PlanConv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const vgg::ConvShape s = GetConvShape(info[0]);
  std::vector<float> w(size_t(s.K) * s.C * s.R * s.S, 0.f);
  std::unique_ptr<vgg::PackedConv> pc;
  Check(env, backend_->pack_conv(s, Algorithm(env, s), w.data(), nullptr, &pc));
  vgg::ConvPlan plan;
  Check(env, backend_->plan_conv(s, *pc, &plan));
  Napi::Object o = Napi::Object::New(env);
  o.Set("algorithm", vgg::ConvAlgorithmName(plan.algorithm));
  o.Set("kernel", plan.kernel);
  o.Set("workspaceBytes", double(plan.workspace_floats * sizeof(float)));
  return o;
}

Napi::Value KernelsWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("name", backend_->name());
  o.Set("kernelFamily", backend_->kernel_family());
  return o;
}

// conv2d({N,C,H,W,K,R,S,stride,pad}, x (N,C,H,W), w (K,C,R,S), b (K) | null, relu) → y (N,K,P,Q)
Napi::Value KernelsWrap::Conv2d(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const vgg::ConvShape s = GetConvShape(info[0]);
  auto x = GetF32(info[1], "x", size_t(s.N) * s.C * s.H * s.W);
  auto w = GetF32(info[2], "w", size_t(s.K) * s.C * s.R * s.S);
  const bool has_b = !(info[3].IsNull() || info[3].IsUndefined());
  std::vector<float> bias;
  if (has_b) {
    auto b = GetF32(info[3], "b", s.K);
    bias.assign(b.Data(), b.Data() + s.K);
  }
  if (!info[4].IsBoolean()) ThrowInvalid(env, "relu: expected a boolean, got " + Describe(info[4]));
  const bool relu = info[4].As<Napi::Boolean>().Value();
  std::unique_ptr<vgg::PackedConv> pc;
  Check(env, backend_->pack_conv(s, Algorithm(env, s), w.Data(), has_b ? bias.data() : nullptr, &pc));
  vgg::ConvPlan plan;
  Check(env, backend_->plan_conv(s, *pc, &plan));
  std::unique_ptr<Buf> xb(Upload(env, *backend_, x));
  const size_t ny = size_t(s.N) * s.K * s.P() * s.Q();
  Buf yb(env, *backend_, ny);
  FillNaN(env, *backend_, yb.p, ny);
  // Exactly the planned workspace, so a sanitizer build sees any overrun.
  const size_t nws = plan.workspace_floats;
  Buf wsb(env, *backend_, nws ? nws : 1);
  Check(env, backend_->conv2d(s, plan, *pc, relu, xb->p, yb.p, nws ? wsb.p : nullptr));
  return Download(env, *backend_, yb.p, ny);
}

// maxpool2d({N,C,H,W,window,stride}, x) → y (N,C,P,Q)
Napi::Value KernelsWrap::Maxpool2d(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = GetObject(info[0], "shape");
  vgg::PoolShape s;
  s.N = GetInt(o, "N", "shape", 1, 1 << 16);
  s.C = GetInt(o, "C", "shape", 1, 1 << 20);
  s.H = GetInt(o, "H", "shape", 1, 1 << 16);
  s.W = GetInt(o, "W", "shape", 1, 1 << 16);
  s.window = GetIntOr(o, "window", "shape", 1, 64, 2);
  s.stride = GetIntOr(o, "stride", "shape", 1, 64, 2);
  if (s.H < s.window || s.W < s.window) ThrowInvalid(env, "shape: input smaller than the pooling window");
  CheckElements(env, "x", {s.N, s.C, s.H, s.W});
  auto x = GetF32(info[1], "x", size_t(s.N) * s.C * s.H * s.W);
  std::unique_ptr<Buf> xb(Upload(env, *backend_, x));
  const size_t ny = size_t(s.N) * s.C * s.P() * s.Q();
  Buf yb(env, *backend_, ny);
  FillNaN(env, *backend_, yb.p, ny);
  Check(env, backend_->maxpool2d(s, xb->p, yb.p));
  return Download(env, *backend_, yb.p, ny);
}

// lrn([N,C,H,W], {size, alpha, beta, k}, x) → y (N,C,H,W)
Napi::Value KernelsWrap::Lrn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const vgg::Shape4 d = GetShape4(info[0], "dims");
  Napi::Object o = GetObject(info[1], "params");
  vgg::LrnParams p;
  p.size = GetIntOr(o, "size", "params", 1, 1 << 16, p.size);
  p.alpha = float(GetNumberOr(o, "alpha", "params", p.alpha));
  p.beta = float(GetNumberOr(o, "beta", "params", p.beta));
  p.k = float(GetNumberOr(o, "k", "params", p.k));
  auto x = GetF32(info[2], "x", d.size());
  std::unique_ptr<Buf> xb(Upload(env, *backend_, x));
  Buf yb(env, *backend_, d.size());
  FillNaN(env, *backend_, yb.p, d.size());
  Check(env, backend_->lrn(d.n, d.c, d.h, d.w, p, xb->p, yb.p));
  return Download(env, *backend_, yb.p, d.size());
}

}  // namespace vggjs
