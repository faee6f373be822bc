// conv2d_nhwc_tf32_igemm_mma_* (see conv_mma.cuh): one precision per file, so a parallel build compiles them
// side by side; and the Math dispatch of the three.
#include "cuda/conv_mma.cuh"

namespace vgg::cuda {

cudaError_t LaunchConvMma_tf32(const ConvArgs& a, MmaTile tile, int split, cudaStream_t stream) {
  return LaunchConvMmaT<Math::kTf32>(a, tile, split, stream);
}

cudaError_t LaunchConvMma_bf16(const ConvArgs& a, MmaTile tile, int split, cudaStream_t stream);  // conv_mma_bf16.cu
cudaError_t LaunchConvMma_f16(const ConvArgs& a, MmaTile tile, int split, cudaStream_t stream);   // conv_mma_f16.cu

cudaError_t LaunchConvMma(Math math, const ConvArgs& a, MmaTile tile, int split, cudaStream_t stream) {
  switch (math) {
    case Math::kTf32: return LaunchConvMma_tf32(a, tile, split, stream);
    case Math::kBf16: return LaunchConvMma_bf16(a, tile, split, stream);
    case Math::kFp16: return LaunchConvMma_f16(a, tile, split, stream);
    case Math::kSimt: break;
  }
  return cudaErrorInvalidValue;
}

}  // namespace vgg::cuda
