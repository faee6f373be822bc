// cuda-check: a plan's layer program replayed as a CUDA graph (Network with NetworkOptions::graphs) gives the
// same bits as the same network run op by op, in every precision, on a small network that takes every op a
// graph records: conv (tensor-core tiles and the GEMV of batch 1), LRN, max pool, FC-as-conv (a 4×4 conv
// covering the last pool, then 1×1 convs), and the adaptive average pool of the 'torchvision' mode.
// Each path is run three times (op by op, recorded then replayed, replayed), on three inputs (host Forward) or
// into an output filled with NaN first (ForwardDevice), so a replay that queued too little fails (the planted
// fault graph-drops-launch of cuda-fault-check shows it); the recordings and replays counted must be the expected ones
// (a plan whose buffers moved is recorded again). Under the host emulation the graph's launches are the
// emulator's recorded launches (native/cuda/emulation/runtime.cpp), so CI checks this path without a GPU.
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include "compare.h"
#include "cuda_harness.h"
#include "networks.h"

namespace vggh {
namespace {

using vgg::Status;

std::vector<vgg::LayerSpec> SmallNet() {
  std::vector<vgg::LayerSpec> l;
  auto conv = [&](int c, int k, int kernel, int pad, bool relu) {
    vgg::LayerSpec s;
    s.kind = vgg::LayerSpec::Kind::kConv;
    s.in_channels = c;
    s.out_channels = k;
    s.kernel = kernel;
    s.pad = pad;
    s.relu = relu;
    l.push_back(s);
  };
  auto pool = [&] {
    vgg::LayerSpec s;
    s.kind = vgg::LayerSpec::Kind::kMaxPool;
    l.push_back(s);
  };
  conv(3, 16, 3, 1, true);
  vgg::LayerSpec lrn;
  lrn.kind = vgg::LayerSpec::Kind::kLrn;
  l.push_back(lrn);
  pool();
  conv(16, 24, 3, 1, true);
  pool();
  conv(24, 32, 4, 0, true);   // FC6 as a conv over the 4×4 pool output of a 16×16 input
  conv(32, 32, 1, 0, true);   // FC7
  conv(32, 10, 1, 0, false);  // FC8: scores
  return l;
}

// The backend under test with asynchronous launches: cuda-check sets VGGNET_CUDA_SYNC (so that a fault names
// its kernel), which rules graphs out; this check's backend is made without it (a fault names the graph).
Status MakeAsyncBackend(const CudaArgs& args, Precision p, std::unique_ptr<vgg::Backend>* out) {
  const char* v = std::getenv("VGGNET_CUDA_SYNC");
  const std::string saved = v ? v : "";
  unsetenv("VGGNET_CUDA_SYNC");
  const Status st = MakeBackendUnderTest(args, p, out);
  if (v) setenv("VGGNET_CUDA_SYNC", saved.c_str(), 1);
  return st;
}

}  // namespace

void CheckGraphs(const CudaArgs& args, Precision p, Tally& t) {
  const char* pn = vgg::PrecisionName(p);
  std::unique_ptr<vgg::Backend> owned;
  Status st = MakeAsyncBackend(args, p, &owned);
  if (!st.ok()) {
    t.Record(false, std::string("graphs ") + pn + ": MakeCudaBackend: " + st.message);
    return;
  }
  std::shared_ptr<vgg::Backend> be(std::move(owned));
  if (!be->capture_unavailable().empty()) {
    std::printf("  graphs: not checked on %s: %s\n", be->name().c_str(), be->capture_unavailable().c_str());
    return;
  }
  const std::vector<vgg::LayerSpec> layers = SmallNet();
  const NetWeights w = HeWeights(layers, 11);
  vgg::NetworkOptions eager_o, graph_o;
  eager_o.graphs = false;
  std::unique_ptr<vgg::Network> eager, graph;
  st = vgg::Network::Create(be, layers, w.wp(), w.bp(), eager_o, &eager);
  if (st.ok()) st = vgg::Network::Create(be, layers, w.wp(), w.bp(), graph_o, &graph);
  if (!st.ok()) {
    t.Record(false, std::string("graphs ") + pn + ": Network::Create: " + st.message);
    return;
  }
  const vgg::GraphInfo off = eager->graph_info();
  t.Record(
      !off.enabled && graph->graph_info().enabled,
      std::string("graphs ") + pn + ": off when NetworkOptions::graphs is false (" + off.reason + "), on otherwise");

  struct Input {
    vgg::Shape4 in;
    vgg::RunSpec run;
  };
  // Batch 1 (GEMV FC layers) at 16×16; batch 3 at 20×20 (a 2×2 score map: FC layers as tiled convs); batch 2
  // through torchvision's adaptive pool (to 4×4) before FC6, from 24×24.
  vgg::RunSpec adaptive;
  adaptive.adaptive_before = 5;
  adaptive.adaptive_size = 4;
  const Input inputs[] = {{{1, 3, 16, 16}, {}}, {{3, 3, 20, 20}, {}}, {{2, 3, 24, 24}, adaptive}};
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const Input& c : inputs) {
    const std::string what =
        std::string("graphs ") + pn + " " + Shape4Str(c.in) + (c.run.adaptive_before >= 0 ? " (adaptive pool)" : "");
    vgg::Shape4 out;
    st = graph->OutputShape(c.in, c.run, &out);
    if (!st.ok()) {
      t.Record(false, what + ": " + st.message);
      continue;
    }
    // Three inputs, so that an output left over from the previous forward (a replay that queued too little) fails.
    std::vector<std::vector<float>> xs(3, std::vector<float>(c.in.size())),
        wants(3, std::vector<float>(out.size(), nan));
    for (size_t i = 0; st.ok() && i < xs.size(); ++i) {
      FillUniform(xs[i].data(), xs[i].size(), 41 + uint64_t(c.in.n) * 10 + i, -2.f, 2.f);
      st = eager->Forward(c.in, c.run, {xs[i].data()}, {}, {wants[i].data()});
    }
    if (!st.ok()) {
      t.Record(false, what + ": op by op: " + st.message);
      continue;
    }
    // Host forwards: op by op, recorded + replayed, replayed.
    vgg::GraphInfo g0 = graph->graph_info();
    bool same = true;
    for (size_t i = 0; st.ok() && i < xs.size(); ++i) {
      std::vector<float> y(out.size(), nan);
      st = graph->Forward(c.in, c.run, {xs[i].data()}, {}, {y.data()});
      same = same && st.ok() && FirstNotIdentical(y.data(), wants[i].data(), y.size()) == SIZE_MAX;
    }
    vgg::GraphInfo g1 = graph->graph_info();
    t.Record(st.ok() && same && g1.captures - g0.captures == 1 && g1.replays - g0.replays == 2 && g1.last_error.empty(),
             what + ": Forward ×3 (op by op, recorded + replayed, replayed) equals op by op bit for bit; " +
                 std::to_string(g1.captures - g0.captures) + " recording(s), " +
                 std::to_string(g1.replays - g0.replays) + " replay(s) (expected 1, 2)" +
                 (st.ok() ? "" : ": " + st.message) + (g1.last_error.empty() ? "" : "; capture: " + g1.last_error));
    if (c.run.adaptive_before >= 0) continue;  // ForwardDevice runs whole networks only

    // ForwardDevice into an output refilled with NaN each time: other buffers than the recording's, so the
    // first call records again at once, the next ones replay.
    DevBuf xd(*be), yd(*be);
    const std::vector<float> nans(out.size(), nan);
    const std::vector<float>& x = xs[0];
    const std::vector<float>& want = wants[0];
    st = xd.Upload(x);
    if (st.ok()) st = yd.Alloc(out.size());
    same = true;
    for (int i = 0; st.ok() && i < 3; ++i) {
      std::vector<float> y;
      st = be->upload(yd.p, nans.data(), nans.size());
      if (st.ok()) st = graph->ForwardDevice(c.in, xd.p, yd.p);
      if (st.ok()) st = yd.Fetch(out.size(), &y);
      same = same && st.ok() && FirstNotIdentical(y.data(), want.data(), y.size()) == SIZE_MAX;
    }
    g0 = g1;
    g1 = graph->graph_info();
    t.Record(st.ok() && same && g1.captures - g0.captures == 1 && g1.replays - g0.replays == 3,
             what +
                 ": ForwardDevice ×3 on other buffers (recorded again + replayed, replayed, replayed) equals op by "
                 "op bit for bit; " +
                 std::to_string(g1.captures - g0.captures) + " recording(s), " +
                 std::to_string(g1.replays - g0.replays) + " replay(s) (expected 1, 3)" +
                 (st.ok() ? "" : ": " + st.message));
  }
  const vgg::GraphInfo g = graph->graph_info();
  t.Record(g.captured >= 1 && g.last_error.empty(),
           std::string("graphs ") + pn + ": " + std::to_string(g.captured) + " plan(s) hold a recording, " +
               std::to_string(g.captures) + " recordings, " + std::to_string(g.replays) + " replays" +
               (g.last_error.empty() ? "" : "; last capture error: " + g.last_error));
}

}  // namespace vggh
