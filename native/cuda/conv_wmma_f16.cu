// conv2d_nchw_{bf16,f16}_igemm_wmma_{64,128}x128x32 (see conv_wmma.cuh).
#include "cuda/conv_wmma.cuh"

namespace vgg::cuda {

cudaError_t LaunchConvWmmaF16(Math math, const ConvArgs& a, int bm, int split, cudaStream_t stream) {
  if (math == Math::kBf16) return LaunchConvWmmaT<Math::kBf16>(a, bm, split, stream);
  return LaunchConvWmmaT<Math::kFp16>(a, bm, split, stream);
}

}  // namespace vgg::cuda
