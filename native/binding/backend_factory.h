#pragma once
#include <napi.h>

#include <memory>

#include "core/backend.h"

namespace vggjs {

// Creates the backend named by opts.device: 'reference' | 'cpu' | 'cuda' | 'cuda:N', with opts.threads and
// opts.isa ('auto' | 'scalar' | 'avx2' | 'avx512') for the CPU. 'auto' is resolved in lib/, not here.
std::shared_ptr<vgg::Backend> CreateBackend(Napi::Env env, const Napi::Object& opts, const std::string& ctx);

}  // namespace vggjs
