#pragma once
#include <napi.h>

#include <memory>

#include "core/backend.h"

namespace vggjs {

// Creates the backend named by opts.device: 'reference' | 'cpu' | 'cuda' | 'cuda:N', with opts.threads and
// opts.isa ('auto' | 'scalar' | 'avx2' | 'avx512') for the CPU, opts.precision ('fp32' | 'tf32' (default) |
// 'bf16' | 'fp16') for CUDA. 'auto' is resolved in lib/, not here.
std::shared_ptr<vgg::Backend> CreateBackend(Napi::Env env, const Napi::Object& opts, const std::string& ctx);

}  // namespace vggjs
