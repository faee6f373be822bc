#include "binding/device_buffer.h"

#include <map>
#include <string>

#include "binding/args.h"
#include "binding/errors.h"
#include "binding/settling_worker.h"

namespace vggjs {
namespace {

const napi_type_tag kDeviceBufferTag = {0x7667676e65745f64ULL, 0x6576627566666572ULL};

std::string DeviceName(int device) { return "'cuda:" + std::to_string(device) + "'"; }

// download() on the libuv pool: the buffer is held until the copy is done, so dispose() meanwhile is safe.
class DownloadWorker final : public SettlingWorker {
 public:
  DownloadWorker(Napi::Env env, std::shared_ptr<DeviceBuffer> buf, Napi::Float32Array out)
      : SettlingWorker(env, "vggnet:download"), buf_(std::move(buf)), host_(out.Data()), out_(Napi::Persistent(out)) {}

 protected:
  void Execute() override { status_ = buf_->memory->Download(host_, buf_->data, buf_->floats); }
  void OnOK() override {
    if (status_.ok()) deferred_.Resolve(out_.Value());
    else deferred_.Reject(MakeError(Env(), status_).Value());
  }

 private:
  std::shared_ptr<DeviceBuffer> buf_;
  float* host_;  // our own fresh array, referenced until the promise settles
  Napi::Reference<Napi::Float32Array> out_;
  vgg::Status status_;
};

}  // namespace

vgg::Status DeviceMemory::For(int device, std::shared_ptr<DeviceMemory>* out) {
  static std::mutex mu;
  static auto* live = new std::map<int, std::weak_ptr<DeviceMemory>>();  // never destroyed: used at exit
  std::lock_guard<std::mutex> lock(mu);
  *out = (*live)[device].lock();
  if (*out) return {};
  vgg::CudaOptions o;
  o.device = device;
  o.precision = vgg::CudaOptions::Precision::kFp32;  // it runs no conv: any GPU will do
  std::unique_ptr<vgg::Backend> be;
  VGG_RETURN_IF_ERROR(vgg::MakeCudaBackend(o, &be));
  auto m = std::make_shared<DeviceMemory>();
  m->device_ = device;
  m->be_ = std::move(be);
  (*live)[device] = m;
  *out = std::move(m);
  return {};
}

vgg::Status DeviceMemory::Alloc(size_t floats, float** out) {
  std::lock_guard<std::mutex> lock(mu_);
  return be_->alloc(floats, out);
}

void DeviceMemory::Release(float* p) {
  std::lock_guard<std::mutex> lock(mu_);
  be_->release(p);
}

vgg::Status DeviceMemory::Upload(float* dst, const float* host, size_t floats) {
  std::lock_guard<std::mutex> lock(mu_);
  VGG_RETURN_IF_ERROR(be_->upload(dst, host, floats));
  return be_->synchronize();
}

vgg::Status DeviceMemory::Download(float* host, const float* src, size_t floats) {
  std::lock_guard<std::mutex> lock(mu_);
  return be_->download(host, src, floats);  // waits for the copy
}

Napi::Function DeviceBufferWrap::Init(Napi::Env env) {
  return DefineClass(
      env, "DeviceBuffer",
      {InstanceMethod("upload", &DeviceBufferWrap::Upload), InstanceMethod("download", &DeviceBufferWrap::Download),
       InstanceMethod("downloadSync", &DeviceBufferWrap::DownloadSync),
       InstanceMethod("dispose", &DeviceBufferWrap::Dispose),
       InstanceAccessor("device", &DeviceBufferWrap::GetDevice, nullptr),
       InstanceAccessor("floats", &DeviceBufferWrap::GetFloats, nullptr),
       InstanceAccessor("disposed", &DeviceBufferWrap::IsDisposed, nullptr)});
}

// new DeviceBuffer(device index, floats ≥ 1): allocates on that device.
DeviceBufferWrap::DeviceBufferWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceBufferWrap>(info) {
  Napi::Env env = info.Env();
  device_ = CheckInt(info[0], "device", 0, 999);
  if (!info[1].IsNumber()) ThrowInvalid(env, "floats: expected a number, got " + Describe(info[1]));
  const double n = info[1].As<Napi::Number>().DoubleValue();
  if (!(n >= 1 && n <= 4294967296.0 && n == double(size_t(n))))
    ThrowInvalid(env, "floats: expected an integer in [1, 2^32], got " + Describe(info[1]));
  floats_ = size_t(n);
  auto buf = std::make_shared<DeviceBuffer>();
  vgg::Status st = DeviceMemory::For(device_, &buf->memory);
  buf->floats = floats_;
  if (st.ok()) st = buf->memory->Alloc(floats_, &buf->data);
  if (!st.ok()) Throw(env, st);
  buf_ = std::move(buf);
  // Told to V8 as external memory, so that its collector weighs forgotten device tensors (dispose() is still
  // the way to bound device memory: V8 schedules collections by host heap pressure).
  int64_t total = 0;
  napi_adjust_external_memory(env, int64_t(floats_ * sizeof(float)), &total);
  info.This().As<Napi::Object>().TypeTag(&kDeviceBufferTag);
}

DeviceBufferWrap* DeviceBufferWrap::FromValue(const Napi::Value& v) {
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kDeviceBufferTag)) return nullptr;
  return DeviceBufferWrap::Unwrap(v.As<Napi::Object>());
}

std::shared_ptr<DeviceBuffer> DeviceBufferWrap::Live(Napi::Env env, const std::string& what) const {
  if (!buf_) Throw(env, vgg::Disposed(what + ": the tensor on " + DeviceName(device_) + " was disposed"));
  return buf_;
}

// upload(Float32Array of exactly `floats` elements): synchronous (returns once the copy is on the device).
Napi::Value DeviceBufferWrap::Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto buf = Live(env, "DeviceBuffer.upload");
  Napi::Float32Array x = GetF32(info[0], "data", buf->floats);
  vgg::Status st = buf->memory->Upload(buf->data, x.Data(), buf->floats);
  if (!st.ok()) Throw(env, st);
  return env.Undefined();
}

Napi::Value DeviceBufferWrap::Download(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto buf = Live(env, "DeviceBuffer.download");
  auto* w = new DownloadWorker(env, buf, Napi::Float32Array::New(env, buf->floats));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value DeviceBufferWrap::DownloadSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto buf = Live(env, "DeviceBuffer.downloadSync");
  Napi::Float32Array out = Napi::Float32Array::New(env, buf->floats);
  vgg::Status st = buf->memory->Download(out.Data(), buf->data, buf->floats);
  if (!st.ok()) Throw(env, st);
  return out;
}

DeviceBufferWrap::~DeviceBufferWrap() { Drop(); }

void DeviceBufferWrap::Drop() {
  if (!buf_) return;
  buf_.reset();
  int64_t total = 0;  // raw napi: nothing may throw here (a finalizer, or an environment being torn down)
  napi_adjust_external_memory(Env(), -int64_t(floats_ * sizeof(float)), &total);
}

Napi::Value DeviceBufferWrap::Dispose(const Napi::CallbackInfo& info) {
  Drop();
  return info.Env().Undefined();
}

Napi::Value DeviceBufferWrap::GetDevice(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), device_);
}
Napi::Value DeviceBufferWrap::GetFloats(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(floats_));
}
Napi::Value DeviceBufferWrap::IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !buf_);
}

Napi::Value CudaMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int device = CheckInt(info[0], "device", 0, 999);
  size_t free_bytes = 0, total_bytes = 0;
  vgg::Status st = vgg::GetCudaMemory(device, &free_bytes, &total_bytes);
  if (!st.ok()) Throw(env, st);
  Napi::Object o = Napi::Object::New(env);
  o.Set("freeBytes", double(free_bytes));
  o.Set("totalBytes", double(total_bytes));
  return o;
}

}  // namespace vggjs
