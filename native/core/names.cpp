// Names of the core enums, as the binding, the harness and reports spell them.
#include <string>
#include <utility>

#include "core/backend.h"

namespace vgg {

namespace {
constexpr ConvAlgorithm kAll[] = {ConvAlgorithm::kAuto, ConvAlgorithm::kDirect, ConvAlgorithm::kGemm,
                                  ConvAlgorithm::kWinograd2x2, ConvAlgorithm::kWinograd4x4};
}  // namespace

const char* ConvAlgorithmName(ConvAlgorithm a) {
  switch (a) {
    case ConvAlgorithm::kAuto: return "auto";
    case ConvAlgorithm::kDirect: return "direct";
    case ConvAlgorithm::kGemm: return "gemm";
    case ConvAlgorithm::kWinograd2x2: return "winograd2x2";
    case ConvAlgorithm::kWinograd4x4: return "winograd4x4";
  }
  return "?";
}

bool ParseConvAlgorithm(const std::string& name, ConvAlgorithm* out) {
  for (ConvAlgorithm a : kAll)
    if (name == ConvAlgorithmName(a)) {
      *out = a;
      return true;
    }
  return false;
}

const char* PrecisionName(CudaOptions::Precision p) {
  using P = CudaOptions::Precision;
  switch (p) {
    case P::kFp32: return "fp32";
    case P::kTf32: return "tf32";
    case P::kBf16: return "bf16";
    case P::kFp16: return "fp16";
  }
  return "?";
}

bool ParsePrecision(const std::string& name, CudaOptions::Precision* out) {
  using P = CudaOptions::Precision;
  for (P p : {P::kFp32, P::kTf32, P::kBf16, P::kFp16})
    if (name == PrecisionName(p)) {
      *out = p;
      return true;
    }
  return false;
}

bool ParseIsa(const std::string& name, CpuIsa* out) {
  const std::pair<const char*, CpuIsa> names[] = {{"auto", CpuIsa::kAuto},
                                                  {"scalar", CpuIsa::kScalar},
                                                  {"avx2", CpuIsa::kAvx2},
                                                  {"avx512", CpuIsa::kAvx512},
                                                  {"neon", CpuIsa::kNeon}};
  for (const auto& [n, isa] : names)
    if (name == n) {
      *out = isa;
      return true;
    }
  return false;
}

}  // namespace vgg
