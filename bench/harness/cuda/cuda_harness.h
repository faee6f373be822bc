// The CUDA commands of the Node-free harness: `vggnet_harness cuda-check` and `cuda-bench`, built only
// when CUDA is compiled in. Data, layer lists, comparisons and reports are the harness's shared pieces
// (cases.h, networks.h, data.h, compare.h, report.h).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "backend_checks.h"
#include "cases.h"
#include "core/backend.h"
#include "report.h"

namespace vggh {

using Precision = vgg::CudaOptions::Precision;

struct CudaArgs {
  std::string cmd;  // "cuda-check" | "cuda-bench" | "cuda-fault-check"
  const CaseList* cases = nullptr;
  std::vector<Precision> precisions = {Precision::kFp32, Precision::kTf32, Precision::kBf16, Precision::kFp16};
  int device = 0;
  // check: the conv cases compared (every CUDA path: tile edges, split-K or not, GEMV, FC layers).
  Tags tags = {"vgg16",    "vgg16_large", "tile_edges", "tile_edges_gpu", "no_split_gpu",
               "geometry", "fc",          "fc_large",   "winograd",       "winograd_large"};
  bool quick = false;       // check: conv cases of ≤ 20 M multiply-adds, no networks, no error paths
  bool dry = false;         // check: print the plan of every case for an H100/H200 (132 SMs), no device
  bool no_network = false;  // check: skip the whole-network comparisons
  bool layers = true;       // bench: per-layer table for vgg16 at the smallest and largest batch
  int runs = 10, warmup = 3;
  std::vector<int> batches = {1, 8, 64};
  std::vector<std::string> models = {"vgg16", "vgg19"};
  int threads = 0;         // host threads for the reference and the cpu backend (0: all)
  bool self_test = false;  // run the suites on the cpu backend (fp32) to test the harness itself
};

// The backend under test: CUDA with precision p, or the cpu backend when a.self_test.
vgg::Status MakeBackendUnderTest(const CudaArgs& a, Precision p, std::unique_ptr<vgg::Backend>* out);

int CudaCheck(const CudaArgs& a);
int CudaBench(const CudaArgs& a);
#if VGGNET_CUDA_EMULATION
int CudaFaultCheck(const CudaArgs& a);
int CudaEmuCheck(const CudaArgs& a);
#endif

// The conv cases of CudaArgs (tags; --quick: at most 20 M multiply-adds each).
std::vector<ConvCase> ConvCases(const CudaArgs& a);
// Each case on `be` with precision p against its reference (data[i] belongs to cases[i]); one PASS/FAIL
// line per case in t, within the precision's relative L2 tolerance, non-finite values matching.
void CheckConvCases(vgg::Backend& be, Precision p, const std::vector<ConvCase>& cases,
                    const std::vector<ConvData>& data, Tally& t);

// Parts of cuda-check (cuda_check_*.cpp).
int DryRun(const CudaArgs& a);                                    // plans only; 1 when a variant is not covered
void CheckErrors(vgg::Backend& be, const CudaArgs& a, Tally& t);  // out of memory, bad arguments
void CheckNetworks(const CudaArgs& a, Tally& t);                  // whole networks vs the cpu backend
void CheckGraphs(const CudaArgs& a, Precision p, Tally& t);       // graph replays equal op-by-op runs

}  // namespace vggh
