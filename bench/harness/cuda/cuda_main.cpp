// Entry of the CUDA commands of vggnet_harness (dispatched from main.cpp for argv[1] = "cuda-...").
//
//   vggnet_harness cuda-check [--precision all|fp32,tf32,bf16,fp16] [--device N] [--tags T,...] [--quick]
//                             [--no-network] [--threads N] [--async] [--dry] [--self-test]
//       Every CUDA op against the reference kernels over the shared case list (conv cases with the tags
//       of CudaArgs::tags, every pool and lrn case), per precision; whole networks against the cpu
//       backend; error paths. PASS/FAIL per case; exit status 1 on any failure. Launches are synchronous
//       (VGGNET_CUDA_SYNC=1) unless --async, so a fault names its kernel. --quick: conv cases of at most
//       20 M multiply-adds, no networks, no intentional API errors (for compute-sanitizer). --dry: no
//       device; prints the kernel each case would get on a 132-SM GPU and fails if a kernel variant is not
//       covered by the cases. --self-test: no device; runs the same suites on the cpu backend (fp32),
//       which tests the harness itself.
//   vggnet_harness cuda-fault-check [--precision ...] [--tags T,...] [--threads N]
//       The emulated build only: plants each fault of cuda/planted_fault.cuh in turn and checks that the
//       conv cases (tags smoke and tile_edges_gpu, --quick sizes) fail with it and pass without.
//   vggnet_harness cuda-emu-check
//       The emulated build only: the emulator's own checks on small kernels (fragment layouts, shuffles,
//       cp.async, a missing barrier, the faults it must report).
//   vggnet_harness cuda-bench [--precision ...] [--device N] [--models vgg16,vgg19] [--batches 1,8,64]
//                             [--runs R] [--warmup W] [--no-layers] [--self-test]
//       Forward timings per model, precision and batch through vgg::Network, device-resident; RESULT
//       lines for bench/gpu-check.sh.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cuda_harness.h"

namespace {

int Usage(const std::string& why) {
  if (!why.empty()) std::fprintf(stderr, "%s\n", why.c_str());
  std::fprintf(stderr,
               "usage: vggnet_harness cuda-check [--precision all|fp32,tf32,bf16,fp16] [--device N] [--tags T,...] "
               "[--quick] [--no-network] [--threads N] [--async] [--dry] [--self-test] [--cases DIR]\n"
               "       vggnet_harness cuda-emu-check\n"
               "       vggnet_harness cuda-fault-check [--precision ...] [--tags T,...] [--threads N]\n"
               "       vggnet_harness cuda-bench [--precision ...] [--device N] [--models vgg16,vgg19] "
               "[--batches 1,8,64] [--runs R] [--warmup W] [--no-layers] [--self-test] [--cases DIR]\n");
  return 2;
}

}  // namespace

int CudaMain(int argc, char** argv, const vggh::CaseList& cases) {
  vggh::CudaArgs a;
  a.cmd = argv[1];
  a.cases = &cases;
  if (a.cmd != "cuda-check" && a.cmd != "cuda-bench" && a.cmd != "cuda-fault-check" && a.cmd != "cuda-emu-check")
    return Usage("unknown command '" + a.cmd + "'");
  if (a.cmd == "cuda-fault-check") {
    a.tags = {"smoke", "tile_edges_gpu"};
    a.quick = true;
  }
  bool async = false;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) return std::string();
      return argv[++i];
    };
    if (arg == "--help") {
      return Usage("");
    } else if (arg == "--precision") {
      const std::string v = value();
      if (v != "all") {
        a.precisions.clear();
        for (const std::string& n : vggh::SplitList(v)) {
          vggh::Precision p;
          if (!vgg::ParsePrecision(n, &p)) return Usage("--precision: unknown '" + n + "'");
          a.precisions.push_back(p);
        }
        if (a.precisions.empty()) return Usage("--precision: empty list");
      }
    } else if (arg == "--device") {
      a.device = std::atoi(value().c_str());
    } else if (arg == "--tags") {
      a.tags = vggh::SplitList(value());
      if (a.tags.empty()) return Usage("--tags: empty list");
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
      a.models = vggh::SplitList(value());
      if (a.models.empty()) return Usage("--models: empty list");
    } else if (arg == "--batches") {
      a.batches.clear();
      for (const std::string& b : vggh::SplitList(value())) {
        const int n = std::atoi(b.c_str());
        if (n < 1) return Usage("--batches: bad batch '" + b + "'");
        a.batches.push_back(n);
      }
      if (a.batches.empty()) return Usage("--batches: empty list");
    } else {
      return Usage("unknown argument '" + arg + "'");
    }
  }
  if (a.cmd != "cuda-bench" && !async) setenv("VGGNET_CUDA_SYNC", "1", 1);  // read when each backend is created
  if (a.cmd == "cuda-check") return vggh::CudaCheck(a);
#if VGGNET_CUDA_EMULATION
  if (a.cmd == "cuda-fault-check") return vggh::CudaFaultCheck(a);
  if (a.cmd == "cuda-emu-check") return vggh::CudaEmuCheck(a);
#else
  if (a.cmd == "cuda-fault-check" || a.cmd == "cuda-emu-check") {
    std::printf("%s: only in the emulated build (cmake -DVGGNET_CUDA_EMULATION=ON)\n", a.cmd.c_str());
    return 2;
  }
#endif
  return vggh::CudaBench(a);
}
