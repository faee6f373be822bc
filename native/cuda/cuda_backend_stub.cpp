// Placeholder until the CUDA kernels land (issue 5): the build has CUDA, the backend does not yet.
#include "core/backend.h"

namespace vgg {

Status MakeCudaBackend(int device, std::unique_ptr<Backend>*) {
  const CudaInfo info = GetCudaInfo();
  if (info.devices.empty()) return Unsupported("device 'cuda:" + std::to_string(device) + "': " + info.reason);
  return Unsupported("device 'cuda': the CUDA kernels are not implemented yet in this version");
}

}  // namespace vgg
