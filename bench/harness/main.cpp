// vggnet_harness: Node-free C++ benchmarks and checks of the backends.
//
//   vggnet_harness conv  [--isa auto|scalar|avx2|avx512|neon] [--threads N] [--runs R] [--warmup W] [--only NAME]
//                        [--algorithm auto|gemm|winograd2x2|winograd4x4] [--batches 1,4,8] [--precision fp32|bf16]
//                        [--conv-batch N]
//       Times every distinct vgg16 conv layer shape at 224×224 (batch --conv-batch, default 1) and FC6/FC7/FC8 at each
//       batch of
//       --batches (default 1,4,8) on the cpu backend: median ms over R runs after W warm-ups, GFLOP/s
//       (FLOPs = 2 × MACs), % of the FMA peak measured in this same run, and the kernel plan_conv names for
//       the layer.
//   vggnet_harness scaling [--isa ...] [--threads T] [--runs R] [--warmup W] [--only NAME] [--batches 1,8]
//       Every distinct vgg16 layer (convs and FC6–FC8) at each batch, on 1 and on T threads (default: all,
//       at least 2) in alternating rounds: ms, scaling, CPU ms, GFLOP/s and GB/s moved, per layer.
//   vggnet_harness check [--isa ...] [--threads N] [--tags vgg16,tile_edges,geometry,fc,winograd] [--only NAME]
//       The cpu backend against the reference kernels: every conv case with those tags, for each algorithm
//       that can serve it; every pool and lrn case (--only: those whose name contains NAME). Exit status 1
//       on any failure, 2 when no case is selected.
//   vggnet_harness peak  [--threads N]
//       Only the FMA peak loops (AVX2 and AVX-512).
//   vggnet_harness cuda-check | cuda-bench [...]
//       The CUDA commands (cuda/cuda_main.cpp), when CUDA is compiled in.
//
// Every command but peak reads the shared case list test/cases/*.tsv: from --cases DIR, else from the
// first test/cases found walking up from the current directory, then from the executable's directory.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cases.h"
#include "cpu_commands.h"

#if VGGNET_HAVE_CUDA
int CudaMain(int argc, char** argv, const vggh::CaseList& cases);  // cuda/cuda_main.cpp
#endif

namespace {

int Usage(const std::string& why) {
  if (!why.empty()) std::fprintf(stderr, "%s\n", why.c_str());
  std::fprintf(
      stderr,
      "usage: vggnet_harness conv|scaling|check|peak [--isa auto|scalar|avx2|avx512|neon] [--threads N] [--runs R] "
      "[--warmup W] [--only NAME] [--algorithm auto|gemm|winograd2x2|winograd4x4] [--batches B,...] [--tags T,...] "
      "[--precision fp32|bf16] [--conv-batch N] [--cases DIR]\n"
      "       vggnet_harness cuda-check|cuda-bench [...] [--cases DIR]   (see cuda-check --help)\n");
  return 2;
}

// A whole decimal number in [lo, hi] (no sign, no trailing text), or -1.
int ParseCount(const std::string& v, int lo, int hi) {
  if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos) return -1;
  const int n = std::atoi(v.c_str());
  return n >= lo && n <= hi ? n : -1;
}

// Parses the arguments of conv, scaling, check and peak; an empty string when they are fine, else why not.
std::string ParseCpuArgs(int argc, char** argv, vggh::CpuArgs* o) {
  o->cmd = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return a + ": unknown argument, or missing value";
    const std::string v = argv[++i];
    if (a == "--isa") {
      if (!vgg::ParseIsa(v, &o->cpu.isa)) return "--isa: expected auto|scalar|avx2|avx512|neon, got '" + v + "'";
    } else if (a == "--algorithm") {
      if (!vgg::ParseConvAlgorithm(v, &o->algorithm) || o->algorithm == vgg::ConvAlgorithm::kDirect)
        return "--algorithm: expected auto|gemm|winograd2x2|winograd4x4, got '" + v + "'";
    } else if (a == "--threads") {
      if ((o->cpu.threads = ParseCount(v, 0, 1024)) < 0)
        return "--threads: expected an integer in [0, 1024], got '" + v + "'";
    } else if (a == "--runs") {
      if ((o->runs = ParseCount(v, 1, 100000)) < 0) return "--runs: expected an integer >= 1, got '" + v + "'";
    } else if (a == "--warmup") {
      if ((o->warmup = ParseCount(v, 0, 100000)) < 0) return "--warmup: expected an integer >= 0, got '" + v + "'";
    } else if (a == "--only") {
      o->only = v;
    } else if (a == "--batches") {
      o->batches.clear();
      for (const std::string& b : vggh::SplitList(v)) {
        const int n = ParseCount(b, 1, 4096);
        if (n < 0) return "--batches: expected a list of integers in [1, 4096], got '" + v + "'";
        o->batches.push_back(n);
      }
      if (o->batches.empty()) return "--batches: empty list";
    } else if (a == "--precision") {
      // The CPU's arithmetic (CpuOptions::precision): bf16 needs AVX512_BF16 (the backend says so otherwise).
      if (v == "fp32") o->cpu.precision = vgg::CpuPrecision::kFp32;
      else if (v == "bf16") o->cpu.precision = vgg::CpuPrecision::kBf16;
      else return "--precision: expected fp32|bf16, got '" + v + "'";
    } else if (a == "--conv-batch") {
      if ((o->conv_batch = ParseCount(v, 1, 4096)) < 0)
        return "--conv-batch: expected an integer in [1, 4096], got '" + v + "'";
    } else if (a == "--tags") {
      o->tags = vggh::SplitList(v);
      if (o->tags.empty()) return "--tags: empty list";
    } else {
      return "unknown argument '" + a + "'";
    }
  }
  return std::string();
}

}  // namespace

int main(int argc, char** argv) {
  // --cases DIR applies to every command: take it out before the command parses its own arguments.
  std::string cases_dir;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--cases") == 0) {
      if (i + 1 >= argc) return Usage("--cases: missing directory");
      cases_dir = argv[++i];
      continue;
    }
    args.push_back(argv[i]);
  }
  argc = int(args.size());
  argv = args.data();
  if (argc < 2) return Usage("");
  const std::string cmd = argv[1];
  const bool cuda = cmd.rfind("cuda-", 0) == 0;
  if (!cuda && cmd != "conv" && cmd != "scaling" && cmd != "check" && cmd != "peak")
    return Usage("unknown command '" + cmd + "'");

  vggh::CaseList cases;
  if (cmd != "peak") {
    std::string searched, error;
    const std::string dir = vggh::FindCasesDir(cases_dir, &searched);
    if (dir.empty()) {
      std::fprintf(stderr, "%s: no case list found (looked for %s); give --cases DIR\n", cmd.c_str(), searched.c_str());
      return 2;
    }
    if (!vggh::LoadCases(dir, &cases, &error)) {
      std::fprintf(stderr, "%s: %s\n", cmd.c_str(), error.c_str());
      return 2;
    }
  }

  if (cuda) {
#if VGGNET_HAVE_CUDA
    return CudaMain(argc, argv, cases);
#else
    std::fprintf(stderr, "%s: CUDA not compiled in (this harness was built without nvcc or with VGGNET_CUDA=OFF)\n",
                 cmd.c_str());
    return 2;
#endif
  }
  vggh::CpuArgs o;
  const std::string bad = ParseCpuArgs(argc, argv, &o);
  if (!bad.empty()) return Usage(bad);
  if (cmd == "peak") return vggh::CmdPeak(o);
  if (cmd == "check") return vggh::CmdCheck(o, cases);
  if (cmd == "scaling") return vggh::CmdScaling(o, cases);
  return vggh::CmdConv(o, cases);
}
