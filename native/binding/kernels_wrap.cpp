// `Kernels`: direct, synchronous access to one backend's ops, for kernel tests and benches. Inputs are
// copied into backend buffers, the output buffer is pre-filled with NaN (so an unwritten element shows),
// and the result comes back as a new Float32Array.
#include "binding/kernels_wrap.h"

#include <cmath>
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
  ~Buf() { if (p) be.release(p); }
};

Buf* Upload(Napi::Env env, vgg::Backend& be, const Napi::Float32Array& a) {
  auto* b = new Buf(env, be, a.ElementLength());
  vgg::Status st = be.upload(b->p, a.Data(), a.ElementLength());
  if (!st.ok()) { delete b; Throw(env, st); }
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

void Check(Napi::Env env, const vgg::Status& st) { if (!st.ok()) Throw(env, st); }

}  // namespace

Napi::Function KernelsWrap::Init(Napi::Env env) {
  return DefineClass(env, "Kernels",
                     {InstanceMethod("info", &KernelsWrap::Info), InstanceMethod("conv2d", &KernelsWrap::Conv2d),
                      InstanceMethod("maxpool2d", &KernelsWrap::Maxpool2d), InstanceMethod("lrn", &KernelsWrap::Lrn),
                      InstanceMethod("softmax", &KernelsWrap::Softmax),
                      InstanceMethod("spatialMean", &KernelsWrap::SpatialMean),
                      InstanceMethod("flipW", &KernelsWrap::FlipW)});
}

KernelsWrap::KernelsWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<KernelsWrap>(info) {
  Napi::Object opts = info.Length() > 0 ? GetObject(info[0], "options") : Napi::Object::New(info.Env());
  backend_ = CreateBackend(info.Env(), opts, "options");
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
  Napi::Object o = GetObject(info[0], "shape");
  vgg::ConvShape s;
  s.N = GetInt(o, "N", "shape", 1, 1 << 16);
  s.C = GetInt(o, "C", "shape", 1, 1 << 20);
  s.H = GetInt(o, "H", "shape", 1, 1 << 16);
  s.W = GetInt(o, "W", "shape", 1, 1 << 16);
  s.K = GetInt(o, "K", "shape", 1, 1 << 20);
  s.R = GetInt(o, "R", "shape", 1, 64);
  s.S = GetInt(o, "S", "shape", 1, 64);
  s.stride = GetIntOr(o, "stride", "shape", 1, 64, 1);
  s.pad = GetIntOr(o, "pad", "shape", 0, 64, 0);
  if (s.P() < 1 || s.Q() < 1) ThrowInvalid(env, "shape: kernel larger than the padded input");
  auto x = GetF32(info[1], "x", size_t(s.N) * s.C * s.H * s.W);
  auto w = GetF32(info[2], "w", size_t(s.K) * s.C * s.R * s.S);
  const bool has_b = !(info[3].IsNull() || info[3].IsUndefined());
  std::vector<float> bias;
  if (has_b) { auto b = GetF32(info[3], "b", s.K); bias.assign(b.Data(), b.Data() + s.K); }
  if (!info[4].IsBoolean()) ThrowInvalid(env, "relu: expected a boolean, got " + Describe(info[4]));
  const bool relu = info[4].As<Napi::Boolean>().Value();
  std::unique_ptr<vgg::PackedConv> pc;
  Check(env, backend_->pack_conv(s, w.Data(), has_b ? bias.data() : nullptr, &pc));
  std::unique_ptr<Buf> xb(Upload(env, *backend_, x));
  const size_t ny = size_t(s.N) * s.K * s.P() * s.Q();
  Buf yb(env, *backend_, ny);
  FillNaN(env, *backend_, yb.p, ny);
  const size_t nws = backend_->conv_workspace(s);
  Buf wsb(env, *backend_, nws ? nws : 1);
  Check(env, backend_->conv2d(s, *pc, relu, xb->p, yb.p, nws ? wsb.p : nullptr));
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

// softmax(rows, cols, x (rows, cols)) → y
Napi::Value KernelsWrap::Softmax(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("rows", info[0]);
  o.Set("cols", info[1]);
  const int rows = GetInt(o, "rows", "softmax", 1, 1 << 24), cols = GetInt(o, "cols", "softmax", 1, 1 << 24);
  auto x = GetF32(info[2], "x", size_t(rows) * cols);
  std::unique_ptr<Buf> xb(Upload(env, *backend_, x));
  Buf yb(env, *backend_, x.ElementLength());
  FillNaN(env, *backend_, yb.p, x.ElementLength());
  Check(env, backend_->softmax(rows, cols, xb->p, yb.p));
  return Download(env, *backend_, yb.p, x.ElementLength());
}

// spatialMean([N,C,H,W], x) → y (N,C)
Napi::Value KernelsWrap::SpatialMean(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const vgg::Shape4 d = GetShape4(info[0], "dims");
  auto x = GetF32(info[1], "x", d.size());
  std::unique_ptr<Buf> xb(Upload(env, *backend_, x));
  const size_t ny = size_t(d.n) * d.c;
  Buf yb(env, *backend_, ny);
  FillNaN(env, *backend_, yb.p, ny);
  Check(env, backend_->spatial_mean(d.n, d.c, d.h, d.w, xb->p, yb.p));
  return Download(env, *backend_, yb.p, ny);
}

// flipW([N,C,H,W], x) → y (N,C,H,W), mirrored along W
Napi::Value KernelsWrap::FlipW(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const vgg::Shape4 d = GetShape4(info[0], "dims");
  auto x = GetF32(info[1], "x", d.size());
  std::unique_ptr<Buf> xb(Upload(env, *backend_, x));
  Buf yb(env, *backend_, d.size());
  FillNaN(env, *backend_, yb.p, d.size());
  Check(env, backend_->flip_w(d.n, d.c, d.h, d.w, xb->p, yb.p));
  return Download(env, *backend_, yb.p, d.size());
}

}  // namespace vggjs
