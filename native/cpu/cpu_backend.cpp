// TEMPORARY: CPU backend delegating to the reference kernels until the optimised kernels land.
#include "core/backend.h"

namespace vgg {

Status MakeCpuBackend(const CpuOptions& opt, std::unique_ptr<Backend>* out) {
  const CpuInfo& ci = GetCpuInfo();
  if (opt.isa == CpuIsa::kAvx512 && !ci.avx512) return Unsupported("isa 'avx512': this CPU lacks it");
  if (opt.isa == CpuIsa::kAvx2 && !(ci.avx2 && ci.fma)) return Unsupported("isa 'avx2': this CPU lacks it");
  *out = MakeReferenceBackend();
  return {};
}

}  // namespace vgg
