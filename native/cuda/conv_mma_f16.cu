// conv2d_nhwc_f16_igemm_mma_* (see conv_mma.cuh): one precision per file, so a parallel build compiles them
// side by side.
#include "cuda/conv_mma.cuh"

namespace vgg::cuda {

cudaError_t LaunchConvMma_f16(const ConvArgs& a, MmaTile tile, int split, cudaStream_t stream) {
  return LaunchConvMmaT<Math::kFp16>(a, tile, split, stream);
}

}  // namespace vgg::cuda
