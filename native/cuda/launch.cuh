// Kernel launches and dynamic shared memory, the same source for nvcc and the host emulation:
//   Launch<kernel>(grid, block, smem_bytes, stream, args...) is kernel<<<grid, block, smem_bytes, stream>>>(args...)
//   followed by cudaGetLastError() (a launch-configuration error; an error pending from before is the
//   caller's to check first: CudaBackend::Run does). In the host emulation (VGGNET_CUDA_EMULATION,
//   native/cuda/emulation) it runs the kernel on the host before returning, or records it when the stream is
//   being captured into a CUDA graph.
//   DynamicSmem<T>() is the block's `extern __shared__` buffer (128-byte aligned).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <memory>
#include <tuple>

namespace vgg::cuda {

#if VGGNET_CUDA_EMULATION
namespace detail {
template <auto Kernel, typename Params>
void RunKernelThread(void* params) {
  std::apply(Kernel, *static_cast<const Params*>(params));
}
}  // namespace detail
#endif

template <auto Kernel, typename... Args>
cudaError_t Launch(dim3 grid, dim3 block, size_t smem_bytes, cudaStream_t stream, const Args&... args) {
#if VGGNET_CUDA_EMULATION
  const emu::LaunchSpec spec{grid, block, smem_bytes, emu::KernelName<Kernel>(), reinterpret_cast<const void*>(Kernel)};
  if (emu::IsCapturing(stream)) {  // recorded with a copy of its parameters, as a graph's kernel node holds them
    auto params = std::make_shared<std::tuple<Args...>>(args...);
    emu::RecordOp(stream, [spec, params] {
      return emu::RunKernel(spec, &detail::RunKernelThread<Kernel, std::tuple<Args...>>, params.get());
    });
    return cudaSuccess;
  }
  const std::tuple<Args...> params(args...);  // copied once, as a launch copies its parameters
  return cudaError_t(emu::RunKernel(spec, &detail::RunKernelThread<Kernel, std::tuple<Args...>>,
                                    const_cast<std::tuple<Args...>*>(&params)));
#else
  Kernel<<<grid, block, smem_bytes, stream>>>(args...);
  return cudaGetLastError();
#endif
}

template <typename T>
__device__ __forceinline__ T* DynamicSmem() {
#if VGGNET_CUDA_EMULATION
  return reinterpret_cast<T*>(emu::t_thread->dyn_smem);
#else
  extern __shared__ __align__(128) unsigned char vgg_dynamic_smem[];
  return reinterpret_cast<T*>(vgg_dynamic_smem);
#endif
}

}  // namespace vgg::cuda
