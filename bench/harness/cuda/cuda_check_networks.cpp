// cuda-check: whole networks on the backend under test against the cpu backend (He weights, seeded
// inputs): vgg16 at 224 in every precision; vgg16 at batch 2 (the FC layers' GEMV) and on a 256×288 input
// (dense evaluation, a 2×3 score map), and vgg11_lrn (LRN inside a network), in fp32.
// Relative L2 tolerance of the score maps: fp32 1e-4, tf32/fp16 1e-2, bf16 5e-2.
// Also: Network::ForwardDevice (what cuda-bench times) gives the same bits as Network::Forward, and the
// device memory a network held is returned when it is destroyed.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include "compare.h"
#include "cuda_extras/cuda_extras.h"
#include "cuda_harness.h"
#include "networks.h"

namespace vggh {
namespace {

using vgg::Status;

double NetTol(Precision p) {
  switch (p) {
    case Precision::kFp32: return 1e-4;
    case Precision::kTf32: return 1e-2;
    case Precision::kBf16: return 5e-2;
    case Precision::kFp16: return 1e-2;
  }
  return 0;
}

// Network::ForwardDevice with x and y in the backend's memory, then y downloaded.
Status ForwardDevice(vgg::Network& net, const vgg::Shape4& in, const vgg::Shape4& out, const std::vector<float>& x,
                     std::vector<float>* y) {
  vgg::Backend& be = net.backend();
  DevBuf xb(be), yb(be);
  VGG_RETURN_IF_ERROR(xb.Upload(x));
  VGG_RETURN_IF_ERROR(yb.FillNaN(out.size()));
  VGG_RETURN_IF_ERROR(net.ForwardDevice(in, xb.p, yb.p));
  VGG_RETURN_IF_ERROR(yb.Fetch(out.size(), y));
  return be.synchronize();
}

}  // namespace

void CheckNetworks(const CudaArgs& args, Tally& t) {
  std::unique_ptr<vgg::Backend> cpu_be;
  vgg::CpuOptions co;
  co.threads = args.threads;
  Status st = vgg::MakeCpuBackend(co, &cpu_be);
  if (!st.ok()) {
    t.Record(false, "cpu backend: " + st.message);
    return;
  }
  std::shared_ptr<vgg::Backend> cpu(std::move(cpu_be));
  std::printf("cpu backend for the network comparisons: %s\n", cpu->kernel_family().c_str());
  struct Run {
    std::string model;
    std::vector<vgg::Shape4> ins;
    bool all_precisions;
  };
  const Run runs[] = {
      {"vgg16", {{1, 3, 224, 224}}, true},
      {"vgg16", {{2, 3, 224, 224}, {1, 3, 256, 288}}, false},
      {"vgg11_lrn", {{1, 3, 224, 224}}, false},
  };
  for (const Run& r : runs) {
    const Topology* topo = args.cases->FindTopology(r.model);
    if (!topo) {
      t.Record(false, "network " + r.model + ": no such topology in " + args.cases->dir + "/topologies.tsv");
      continue;
    }
    const VggNet net = BuildVgg(*topo);
    const auto t0 = std::chrono::steady_clock::now();
    const NetWeights w = HeWeights(net.layers, 7);
    std::unique_ptr<vgg::Network> cnet;
    st = vgg::Network::Create(cpu, net.layers, w.wp(), w.bp(), vgg::NetworkOptions{}, &cnet);
    if (!st.ok()) {
      t.Record(false, r.model + " on cpu: " + st.message);
      continue;
    }
    for (Precision p : args.precisions) {
      if (!r.all_precisions && p != Precision::kFp32) continue;
      const char* pn = vgg::PrecisionName(p);
      std::unique_ptr<vgg::Backend> gb;
      st = MakeBackendUnderTest(args, p, &gb);
      if (!st.ok()) {
        t.Record(false, "MakeCudaBackend: " + st.message);
        continue;
      }
      std::shared_ptr<vgg::Backend> gpu(std::move(gb));
      const size_t mem0 = vgg::cuda::DeviceBytesInUse(*gpu);
      {
        std::unique_ptr<vgg::Network> gnet;
        st = vgg::Network::Create(gpu, net.layers, w.wp(), w.bp(), vgg::NetworkOptions{}, &gnet);
        if (!st.ok()) {
          t.Record(false, r.model + " on " + gpu->name() + " " + pn + ": " + st.message);
          continue;
        }
        for (const vgg::Shape4& in : r.ins) {
          vgg::Shape4 out;
          st = gnet->OutputShape(in, &out);
          std::vector<float> x(in.size()), yc(out.size()), yg(out.size(), std::numeric_limits<float>::quiet_NaN());
          FillUniform(x.data(), x.size(), 99 + uint64_t(in.n) * 1000 + uint64_t(in.w), -2.f, 2.f);
          const auto c0 = std::chrono::steady_clock::now();
          if (st.ok()) st = cnet->Forward(in, x.data(), yc.data());
          const auto c1 = std::chrono::steady_clock::now();
          if (st.ok()) st = gnet->Forward(in, x.data(), yg.data());
          if (st.ok()) st = gnet->Forward(in, x.data(), yg.data());  // the planned (steady-state) run
          const auto c2 = std::chrono::steady_clock::now();
          const Diff d = st.ok() ? Compare(yg.data(), yc.data(), yc.size()) : Diff{};
          double rms = 0;  // all-zero scores would compare equal whatever the kernels do
          for (float v : yc) rms += double(v) * v;
          rms = std::sqrt(rms / double(std::max<size_t>(yc.size(), 1)));
          char line[320];
          std::snprintf(line, sizeof line,
                        "network %s %s %s -> %s vs cpu backend: rel_l2 %.3g (tol %.0e) max|diff| %.3g, non-finite %zu, "
                        "rms of scores %.3g (cpu %.0f ms, %s 2 runs %.0f ms)%s%s",
                        r.model.c_str(), pn, Shape4Str(in).c_str(), Shape4Str(out).c_str(), d.rel_l2, NetTol(p),
                        d.max_abs, d.nonfinite_bad, rms, std::chrono::duration<double, std::milli>(c1 - c0).count(),
                        gpu->name().c_str(), std::chrono::duration<double, std::milli>(c2 - c1).count(),
                        st.ok() ? "" : ": ", st.ok() ? "" : st.message.c_str());
          t.Record(st.ok() && d.nonfinite_bad == 0 && d.rel_l2 <= NetTol(p) && rms > 0 && std::isfinite(rms), line);

          if (st.ok() && (p == Precision::kTf32 || args.self_test) && r.model == "vgg16") {
            std::vector<float> yd;
            const Status ds = ForwardDevice(*gnet, in, out, x, &yd);
            const size_t bad = ds.ok() ? FirstNotIdentical(yd.data(), yg.data(), yg.size()) : 0;
            t.Record(ds.ok() && bad == SIZE_MAX, "ForwardDevice (cuda-bench's path) equals Forward bit for bit, " +
                                                     r.model + " " + pn + " " + Shape4Str(in) +
                                                     (ds.ok() ? "" : ": " + ds.message));
          }
        }
      }
      const size_t mem1 = vgg::cuda::DeviceBytesInUse(*gpu);
      t.Record(mem1 == mem0, "device memory returned after the network is destroyed (" + std::to_string(mem0) +
                                 " bytes before, " + std::to_string(mem1) + " after) " + r.model + " " + pn);
    }
    std::printf("  (%s: %.1f s including weights)\n", r.model.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
}

}  // namespace vggh
