// Device-resident tensors for JS (a Tensor on 'cuda:N'): buffers in one CUDA device's memory that belong to no
// model. Each device in use has one transfer backend (fp32, its own stream and pinned staging), shared by every
// buffer on that device: it allocates, uploads, downloads and frees them under one lock, so a transfer on the
// JS thread never touches the stream or staging of a model computing on a libuv thread. Forwards read and
// write the buffers with device-to-device copies on the model's own stream (vgg::ForwardInput::on_backend),
// and every forward synchronises before its promise settles: a buffer JS can see is always complete.
#pragma once
#include <napi.h>

#include <memory>
#include <mutex>

#include "core/backend.h"

namespace vggjs {

// The transfer backend of one CUDA device, created at the first buffer on it and kept while any buffer is.
class DeviceMemory {
 public:
  // kUnsupported without CUDA or that device.
  static vgg::Status For(int device, std::shared_ptr<DeviceMemory>* out);
  int device() const { return device_; }
  vgg::Status Alloc(size_t floats, float** out);
  void Release(float* p);
  vgg::Status Upload(float* dst, const float* host, size_t floats);
  vgg::Status Download(float* host, const float* src, size_t floats);

 private:
  int device_ = 0;
  std::mutex mu_;
  std::unique_ptr<vgg::Backend> be_;
};

// `floats` floats in a device's memory, freed when the last owner lets go: the JS object, and each forward or
// download using it (so a dispose() during a forward frees the memory after that forward).
struct DeviceBuffer {
  std::shared_ptr<DeviceMemory> memory;
  float* data = nullptr;
  size_t floats = 0;
  ~DeviceBuffer() {
    if (memory) memory->Release(data);
  }
};

// JS `DeviceBuffer`: new DeviceBuffer(device index, floats) allocates (contents undefined); upload(Float32Array)
// fills it; download() → Promise<Float32Array> (on the libuv pool), downloadSync(); dispose() (idempotent; the
// memory is freed once no forward uses it); readonly device, floats, disposed.
class DeviceBufferWrap : public Napi::ObjectWrap<DeviceBufferWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit DeviceBufferWrap(const Napi::CallbackInfo& info);
  ~DeviceBufferWrap() override;
  // The wrapper behind v, or null when v is not a DeviceBuffer.
  static DeviceBufferWrap* FromValue(const Napi::Value& v);
  // The buffer; a DisposedError naming `what` once disposed.
  std::shared_ptr<DeviceBuffer> Live(Napi::Env env, const std::string& what) const;
  int device() const { return device_; }

 private:
  Napi::Value Upload(const Napi::CallbackInfo& info);
  Napi::Value Download(const Napi::CallbackInfo& info);
  Napi::Value DownloadSync(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);
  Napi::Value GetFloats(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  // Drops this object's hold on the buffer and its bytes from V8's external memory count.
  void Drop();
  std::shared_ptr<DeviceBuffer> buf_;
  int device_ = 0;
  size_t floats_ = 0;
};

// cudaMemory(device index) → {freeBytes, totalBytes}: cudaMemGetInfo now.
Napi::Value CudaMemory(const Napi::CallbackInfo& info);

}  // namespace vggjs
