// Stand-in when the library is built without nvcc (or with VGGNET_CUDA=OFF): the addon still reports why
// there is no CUDA backend.
#include "core/backend.h"

namespace vgg {

namespace {
const char* const kReason = "CUDA not compiled in (built without nvcc or with VGGNET_CUDA=OFF)";
}  // namespace

CudaInfo GetCudaInfo() {
  CudaInfo info;
  info.compiled = false;
  info.reason = kReason;
  return info;
}

Status GetCudaMemory(int device, size_t*, size_t*) {
  return Unsupported("device 'cuda:" + std::to_string(device) + "': " + kReason);
}

// The same reason as backends() gives, so that the error says why.
Status MakeCudaBackend(int, std::unique_ptr<Backend>*) { return Unsupported(std::string("device 'cuda': ") + kReason); }

Status MakeCudaBackend(const CudaOptions&, std::unique_ptr<Backend>*) {
  return Unsupported(std::string("device 'cuda': ") + kReason);
}

}  // namespace vgg
