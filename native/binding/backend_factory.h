#pragma once
#include <napi.h>

#include <memory>

#include "core/backend.h"
#include "core/network.h"

namespace vggjs {

// Creates the backend named by opts.device: 'reference' | 'cpu' | 'cuda:N', with opts.threads and opts.isa
// ('auto' | 'scalar' | 'avx2' | 'avx512' | 'neon') for the CPU and opts.precision ('fp32' | 'tf32' | 'bf16' | 'fp16')
// for CUDA. Every field is required: defaults and 'auto' devices are resolved in lib/, not here.
std::shared_ptr<vgg::Backend> CreateBackend(Napi::Env env, const Napi::Object& opts, const std::string& ctx);

// opts.convAlgorithm: 'auto' | 'direct' | 'gemm' | 'winograd2x2' | 'winograd4x4'.
vgg::ConvAlgorithm GetConvAlgorithm(Napi::Env env, const Napi::Object& opts, const std::string& ctx);

// The network's own options: opts.convAlgorithm (above), opts.memoryBudget (bytes, an integer in
// [0, 2^53); 0: no limit) and opts.cudaGraphs (boolean: NetworkOptions::graphs).
vgg::NetworkOptions GetNetworkOptions(Napi::Env env, const Napi::Object& opts, const std::string& ctx);

}  // namespace vggjs
