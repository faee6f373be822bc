// Stand-in when the addon is built without nvcc (or with VGGNET_CUDA=OFF).
#include "core/backend.h"
#include "cuda/cuda_extras.h"

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

namespace cuda {

std::string ConvKernelName(const Backend&, const ConvShape&) { return std::string(); }

ConvPlanInfo PlanConvFor(const ConvShape&, Precision, int) {
  ConvPlanInfo r;
  r.kernel = "(CUDA not compiled in)";
  return r;
}

size_t DeviceBytesInUse(const Backend&) { return 0; }
int DeviceSms(const Backend&) { return 0; }

Status MeasurePeakFlops(int, Precision, double*) {
  return Unsupported("CUDA not compiled in (built without nvcc or with VGGNET_CUDA=OFF)");
}

}  // namespace cuda
}  // namespace vgg
