// vggnet_harness cuda-bench: vgg16 and vgg19 forward (224×224, He weights) at batch 1, 8, 64 in each
// precision on the CUDA backend through vgg::Network, device-resident (Network::ForwardDevice: input
// already on the GPU, output left there, what PyTorch's timings measure), median of R runs after W
// warm-ups; also end to end through host memory (upload, forward, download). Reports ms, images/s,
// TFLOP/s (FLOPs = 2 × multiply-adds of the conv/FC layers), % of the datasheet peak and % of a peak
// measured in this run with register-only loops. Per-layer times for vgg16 at the smallest and largest
// batch (each layer synchronised through ForwardDevice's per-layer hook) show where the time goes. The
// network runs op by op (NetworkOptions::graphs false); at batch 1 the same network is then timed with its
// plan replayed as a CUDA graph (Network::set_graphs: the runtime's own path, launch overhead gone), timed
// the same way (wall clock of ForwardDevice + synchronize), its output checked bit for bit against op by op.
//
// Datasheet peaks, dense (NVIDIA H200 SXM datasheet; the H100 SXM datasheet gives the same compute figures):
// FP32 67 TFLOP/s, TF32 tensor core 989 TFLOP/s with sparsity → 494.5 dense, BF16/FP16 1979 with sparsity
// → 989.5 dense.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cuda_extras/cuda_extras.h"
#include "cuda_harness.h"
#include "networks.h"

namespace vggh {
namespace {

using Clock = std::chrono::steady_clock;
using vgg::Status;

double DatasheetTflops(Precision p) {
  switch (p) {
    case Precision::kFp32: return 67.0;
    case Precision::kTf32: return 494.5;
    case Precision::kBf16: return 989.5;
    case Precision::kFp16: return 989.5;
  }
  return 0;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Row {
  std::string model, prec;
  int batch = 0;
  double ms = 0, e2e_ms = 0, tflops = 0, pct_sheet = 0, pct_meas = 0, ips = 0;
  double graph_ms = 0;  // batch 1: the forward with its plan replayed as a CUDA graph (0: not measured)
};

// Per-layer times of one forward: 6 runs of ForwardDevice whose hook synchronises after each layer (so
// launch overhead is included), the first dropped, the median of the other 5.
Status LayerTimes(vgg::Network& net, const vgg::Shape4& in, const float* x, float* y, std::vector<double>* ms) {
  vgg::Backend& be = net.backend();
  std::vector<std::vector<double>> t(net.layers().size());
  for (int k = 0; k < 6; ++k) {
    VGG_RETURN_IF_ERROR(be.synchronize());
    Clock::time_point prev = Clock::now();
    VGG_RETURN_IF_ERROR(net.ForwardDevice(in, x, y, [&](size_t i) -> Status {
      VGG_RETURN_IF_ERROR(be.synchronize());
      const Clock::time_point now = Clock::now();
      if (k > 0) t[i].push_back(std::chrono::duration<double>(now - prev).count());
      prev = now;
      return {};
    }));
  }
  ms->clear();
  for (const auto& v : t) ms->push_back(Median(v) * 1e3);
  return {};
}

void PrintLayers(const VggNet& vn, vgg::Network& net, const vgg::Shape4& in, const std::vector<double>& ms) {
  std::vector<vgg::LayerPlan> plans;
  const Status st = net.Plan(in, &plans);
  const std::vector<vgg::ConvShape> convs = ConvShapes(vn.layers, in);
  vgg::Shape4 s = in;
  size_t ci = 0;
  double sum = 0;
  for (size_t i = 0; i < ms.size(); ++i) {
    sum += ms[i];
    if (vn.layers[i].kind == vgg::LayerSpec::Kind::kConv) {
      const vgg::ConvShape& cs = convs[ci++];
      std::printf("    %-8s %-58s %8.3f ms %7.1f TFLOP/s  %s\n", vn.layer_names[i].c_str(), ShapeStr(cs).c_str(), ms[i],
                  2.0 * double(cs.macs()) / (ms[i] * 1e-3) / 1e12, st.ok() ? plans[i].conv.kernel.c_str() : "?");
    } else {
      std::printf("    %-8s %-58s %8.3f ms\n", vn.layer_names[i].c_str(), Shape4Str(s).c_str(), ms[i]);
    }
    if (st.ok()) s = plans[i].out;
  }
  std::printf("    %-8s %-58s %8.3f ms\n", "sum", "", sum);
}

}  // namespace

int CudaBench(const CudaArgs& args) {
  const vgg::CudaInfo info = vgg::GetCudaInfo();
  if (args.self_test) {
    std::printf("cuda-bench --self-test: the cpu backend (fp32), to test the harness itself\n");
  } else {
    if (info.devices.empty()) {
      std::printf("cuda-bench: no CUDA device: %s\n", info.reason.c_str());
      return 1;
    }
    if (args.device < 0 || args.device >= int(info.devices.size())) {
      std::printf("cuda-bench: no device cuda:%d\n", args.device);
      return 1;
    }
    const vgg::CudaDevice& dev = info.devices[size_t(args.device)];
    std::printf("cuda-bench: cuda:%d %s, cc %d.%d, %.1f GB; CUDA runtime %d\n", dev.index, dev.name.c_str(),
                dev.cc_major, dev.cc_minor, double(dev.total_memory_bytes) / 1e9, info.runtime_version);
    std::printf(
        "datasheet peaks (dense; NVIDIA H200 SXM datasheet, same as H100 SXM): fp32 67, tf32 494.5, bf16/fp16 "
        "989.5 TFLOP/s\n");
  }
  std::vector<double> measured(4, 0.0);
  for (Precision p : args.precisions) {
    if (args.self_test) break;
    double f = 0;
    const Status st = vgg::cuda::MeasurePeakFlops(args.device, p, &f);
    measured[size_t(p)] = f;
    std::printf("measured peak %s (%s loop): %.1f TFLOP/s%s%s\n", vgg::PrecisionName(p),
                p == Precision::kFp32 ? "FFMA" : "mma.sync", f / 1e12, st.ok() ? "" : ": ", st.message.c_str());
  }
  std::printf(
      "\ntimes: median of up to %d runs after %d warm-up, device-resident; e2e adds host upload of the input "
      "and download of the scores\n\n",
      args.runs, args.warmup);

  std::vector<Row> rows;
  int failures = 0;
  const int bmin = *std::min_element(args.batches.begin(), args.batches.end());
  const int bmax = *std::max_element(args.batches.begin(), args.batches.end());
  for (const std::string& model : args.models) {
    const Topology* topo = args.cases->FindTopology(model);
    if (!topo) {
      std::printf("unknown model '%s' (not in %s/topologies.tsv)\n", model.c_str(), args.cases->dir.c_str());
      ++failures;
      continue;
    }
    const VggNet vn = BuildVgg(*topo);
    const NetWeights w = HeWeights(vn.layers, 1);
    for (Precision p : args.precisions) {
      const char* pn = vgg::PrecisionName(p);
      std::unique_ptr<vgg::Backend> be_owned;
      Status st = MakeBackendUnderTest(args, p, &be_owned);
      if (!st.ok()) {
        std::printf("%s %s: %s\n", model.c_str(), pn, st.message.c_str());
        ++failures;
        continue;
      }
      std::shared_ptr<vgg::Backend> be(std::move(be_owned));
      const auto p0 = Clock::now();
      std::unique_ptr<vgg::Network> net;
      vgg::NetworkOptions no;
      no.graphs = false;  // op by op; batch 1 is timed again with graphs below
      st = vgg::Network::Create(be, vn.layers, w.wp(), w.bp(), no, &net);
      if (st.ok()) st = be->synchronize();
      if (!st.ok()) {
        std::printf("%s %s: packing: %s\n", model.c_str(), pn, st.message.c_str());
        ++failures;
        continue;
      }
      std::printf("%s %s: weights packed in %.0f ms (%.0f MB on the device)\n", model.c_str(), pn, Since(p0) * 1e3,
                  double(vgg::cuda::DeviceBytesInUse(*be)) / 1e6);
      for (int batch : args.batches) {
        const vgg::Shape4 in = vn.Input(batch);
        vgg::Shape4 out;
        st = net->OutputShape(in, &out);
        std::vector<float> x(in.size()), y(out.size());
        FillUniform(x.data(), x.size(), 5 + uint64_t(batch), -2.f, 2.f);
        DevBuf xd(*be), yd(*be);
        if (st.ok()) st = xd.Upload(x);
        if (st.ok()) st = yd.Alloc(out.size());
        if (st.ok()) st = be->synchronize();
        std::vector<double> t;
        int runs = args.runs;
        for (int i = 0; st.ok() && i < std::max(1, args.warmup) + runs; ++i) {
          const auto t0 = Clock::now();
          st = net->ForwardDevice(in, xd.p, yd.p);  // the first call also builds the plan
          if (st.ok()) st = be->synchronize();
          const double s = Since(t0);
          if (i == 0) runs = std::max(3, std::min(args.runs, int(3.0 / std::max(s, 1e-6))));  // ~3 s per config
          if (i >= std::max(1, args.warmup)) t.push_back(s);
        }
        std::vector<double> e2e;
        for (int i = 0; st.ok() && i < 3; ++i) {
          const auto t0 = Clock::now();
          st = be->upload(xd.p, x.data(), x.size());
          if (st.ok()) st = net->ForwardDevice(in, xd.p, yd.p);
          if (st.ok()) st = be->download(y.data(), yd.p, y.size());
          if (st.ok()) st = be->synchronize();
          e2e.push_back(Since(t0));
        }
        if (!st.ok()) {
          std::printf("%s %s batch %d: %s\n", model.c_str(), pn, batch, st.message.c_str());
          ++failures;
          break;
        }
        bool finite = true;
        for (float v : y) finite = finite && std::isfinite(v);
        Row r;
        r.model = model;
        r.prec = pn;
        r.batch = batch;
        r.ms = Median(t) * 1e3;
        r.e2e_ms = Median(e2e) * 1e3;
        const double flop = 2.0 * double(NetMacs(vn.layers, in));
        r.tflops = flop / (r.ms * 1e-3) / 1e12;
        r.ips = batch / (r.ms * 1e-3);
        r.pct_sheet = 100.0 * r.tflops / DatasheetTflops(p);
        r.pct_meas = measured[size_t(p)] > 0 ? 100.0 * r.tflops * 1e12 / measured[size_t(p)] : 0;
        // Batch 1 is launch-bound: the same network with its plan replayed as a CUDA graph (the first run with
        // graphs on goes op by op, the second records, the rest replay).
        std::string graph;
        if (batch == 1 && !args.self_test) {
          net->set_graphs(true);
          const vgg::GraphInfo g0 = net->graph_info();
          std::vector<double> tg;
          std::vector<float> yg;
          for (int i = 0; st.ok() && i < std::max(2, args.warmup) + int(t.size()); ++i) {
            const auto t0 = Clock::now();
            st = net->ForwardDevice(in, xd.p, yd.p);
            if (st.ok()) st = be->synchronize();
            if (i >= std::max(2, args.warmup)) tg.push_back(Since(t0));
          }
          if (st.ok()) yg.resize(y.size());
          if (st.ok()) st = be->download(yg.data(), yd.p, yg.size());
          net->set_graphs(false);
          const vgg::GraphInfo g1 = net->graph_info();
          if (!st.ok()) {
            std::printf("%s %s batch 1 with CUDA graphs: %s\n", model.c_str(), pn, st.message.c_str());
            ++failures;
            break;
          }
          if (g1.replays - g0.replays < (long long)tg.size()) {
            graph = ", no CUDA graph: " + (g1.last_error.empty() ? g1.reason : g1.last_error);
          } else {
            r.graph_ms = Median(tg) * 1e3;
            const bool same = std::equal(yg.begin(), yg.end(), y.begin(),
                                         [](float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; });
            graph = Fmt(", CUDA graph %.3f ms", r.graph_ms) + Fmt(" = %.2fx", r.ms / r.graph_ms) +
                    (same ? " (same bits)" : " (OUTPUT DIFFERS FROM OP BY OP)");
            if (!same) ++failures;
          }
        }
        rows.push_back(r);
        std::printf(
            "%-6s %-5s batch %3d: %9.3f ms  %8.1f img/s  %7.1f TFLOP/s  %5.1f%% of datasheet  %5.1f%% of measured"
            "  (e2e %.3f ms, %zu runs%s)%s\n",
            model.c_str(), pn, batch, r.ms, r.ips, r.tflops, r.pct_sheet, r.pct_meas, r.e2e_ms, t.size(), graph.c_str(),
            finite ? "" : "  NON-FINITE OUTPUT");
        std::printf(
            "RESULT vggnet model=%s precision=%s batch=%d ms=%.4f ips=%.2f tflops=%.2f e2e_ms=%.4f "
            "pct_datasheet=%.1f graph_ms=%.4f\n",
            model.c_str(), pn, batch, r.ms, r.ips, r.tflops, r.e2e_ms, r.pct_sheet, r.graph_ms);
        std::fflush(stdout);
        if (!finite) ++failures;

        if (args.layers && model == "vgg16" && (batch == bmin || batch == bmax)) {
          std::printf("  per layer, %s %s batch %d (median of 5, each synchronised: launch overhead included)\n",
                      model.c_str(), pn, batch);
          std::vector<double> ms;
          st = LayerTimes(*net, in, xd.p, yd.p, &ms);
          if (st.ok()) {
            PrintLayers(vn, *net, in, ms);
          } else {
            std::printf("  per layer: %s\n", st.message.c_str());
            ++failures;
          }
        }
      }
    }
  }

  std::printf("\n%-6s %-5s %5s %10s %10s %9s %8s %8s %10s\n", "model", "prec", "batch", "ms", "img/s", "TFLOP/s",
              "%sheet", "%meas", "e2e ms");
  for (const Row& r : rows)
    std::printf("%-6s %-5s %5d %10.3f %10.1f %9.1f %7.1f%% %7.1f%% %10.3f\n", r.model.c_str(), r.prec.c_str(), r.batch,
                r.ms, r.ips, r.tflops, r.pct_sheet, r.pct_meas, r.e2e_ms);
  return failures ? 1 : 0;
}

}  // namespace vggh
