// Stand-in when the library is built without nvcc (or with VGGNET_CUDA=OFF): the addon still reports why
// there is no CUDA backend.
#include "core/backend.h"

namespace vgg {

CudaInfo GetCudaInfo() {
  CudaInfo info;
  info.compiled = false;
  info.reason = "CUDA not compiled in (built without nvcc or with VGGNET_CUDA=OFF)";
  return info;
}

Status MakeCudaBackend(int, std::unique_ptr<Backend>*) {
  return Unsupported("device 'cuda': this build of vggnet has no CUDA backend (built without nvcc)");
}

Status MakeCudaBackend(const CudaOptions&, std::unique_ptr<Backend>*) {
  return Unsupported("device 'cuda': this build of vggnet has no CUDA backend (built without nvcc)");
}

}  // namespace vgg
