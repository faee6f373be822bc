// Entry of the CUDA subcommands of vggnet_harness (dispatched from main.cpp for argv[1] = "cuda-...").
//
//   vggnet_harness cuda-check [--precision all|fp32,tf32,bf16,fp16] [--device N] [--quick] [--no-network]
//                             [--threads N] [--async] [--dry]
//       Every CUDA op against the reference kernels over the shape suites, whole networks against the cpu
//       backend, error paths. PASS/FAIL per case; exit status 1 on any failure. Launches are synchronous
//       (VGGNET_CUDA_SYNC=1) unless --async, so a fault names its kernel. --quick: small conv cases only, no
//       networks, no intentional API errors (for compute-sanitizer). --dry: no device; prints the kernel each case would get on a 132-SM GPU
//       and fails if a kernel variant is not covered by the suite. --self-test: no device; runs the same
//       suites on the cpu backend (fp32), which tests the harness itself.
//   vggnet_harness cuda-bench [--precision ...] [--device N] [--models vgg16,vgg19] [--batches 1,8,64]
//                             [--runs R] [--warmup W] [--no-layers]
//       vgg16/vgg19 forward timings per precision and batch; RESULT lines for bench/gpu-check.sh.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>

#include "cuda_harness.h"

namespace {

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

int Usage(const char* why) {
  if (why) std::fprintf(stderr, "%s\n", why);
  std::fprintf(stderr,
               "usage: vggnet_harness cuda-check [--precision all|fp32,tf32,bf16,fp16] [--device N] [--quick] "
               "[--no-network] [--threads N] [--async] [--dry] [--self-test]\n"
               "       vggnet_harness cuda-bench [--precision ...] [--device N] [--models vgg16,vgg19] "
               "[--batches 1,8,64] [--runs R] [--warmup W] [--no-layers]\n");
  return 2;
}

}  // namespace

int CudaMain(int argc, char** argv) {
  vggh::CudaArgs a;
  a.cmd = argv[1];
  if (a.cmd != "cuda-check" && a.cmd != "cuda-bench") return Usage(("unknown command '" + a.cmd + "'").c_str());
  bool async = false;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) return std::string();
      return argv[++i];
    };
    if (arg == "--precision") {
      const std::string v = value();
      if (v != "all") {
        a.precisions.clear();
        for (const std::string& n : SplitList(v)) {
          vggh::Precision p;
          if (!vgg::cuda::ParsePrecision(n, &p)) return Usage(("--precision: unknown '" + n + "'").c_str());
          a.precisions.push_back(p);
        }
        if (a.precisions.empty()) return Usage("--precision: empty list");
      }
    } else if (arg == "--device") {
      a.device = std::atoi(value().c_str());
    } else if (arg == "--quick") {
      a.quick = true;
    } else if (arg == "--self-test") {
      a.self_test = true;
      a.precisions = {vggh::Precision::kFp32};
    } else if (arg == "--dry") {
      a.dry = true;
    } else if (arg == "--no-network") {
      a.no_network = true;
    } else if (arg == "--no-layers") {
      a.layers = false;
    } else if (arg == "--async") {
      async = true;
    } else if (arg == "--threads") {
      a.threads = std::atoi(value().c_str());
    } else if (arg == "--runs") {
      a.runs = std::max(1, std::atoi(value().c_str()));
    } else if (arg == "--warmup") {
      a.warmup = std::max(0, std::atoi(value().c_str()));
    } else if (arg == "--models") {
      a.models = SplitList(value());
      if (a.models.empty()) return Usage("--models: empty list");
    } else if (arg == "--batches") {
      a.batches.clear();
      for (const std::string& b : SplitList(value())) {
        const int n = std::atoi(b.c_str());
        if (n < 1) return Usage(("--batches: bad batch '" + b + "'").c_str());
        a.batches.push_back(n);
      }
      if (a.batches.empty()) return Usage("--batches: empty list");
    } else {
      return Usage(("unknown argument '" + arg + "'").c_str());
    }
  }
  if (a.cmd == "cuda-check") {
    if (!async) setenv("VGGNET_CUDA_SYNC", "1", 1);  // read when each backend is created
    return vggh::CudaCheck(a);
  }
  return vggh::CudaBench(a);
}
