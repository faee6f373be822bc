// conv2d_nchw_tf32_igemm_wmma_{64,128}x128x32 (see conv_wmma.cuh) and the Math dispatch of the wmma paths.
#include "cuda/conv_wmma.cuh"

namespace vgg::cuda {

cudaError_t LaunchConvWmmaF16(Math math, const ConvArgs& a, int bm, int split,
                              cudaStream_t stream);  // conv_wmma_f16.cu

cudaError_t LaunchConvWmma(Math math, const ConvArgs& a, int bm, int split, cudaStream_t stream) {
  if (math == Math::kTf32) return LaunchConvWmmaT<Math::kTf32>(a, bm, split, stream);
  if (math == Math::kBf16 || math == Math::kFp16) return LaunchConvWmmaF16(math, a, bm, split, stream);
  return cudaErrorInvalidValue;
}

}  // namespace vgg::cuda
