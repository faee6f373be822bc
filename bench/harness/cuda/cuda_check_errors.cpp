// cuda-check: error paths of the CUDA backend. Out of memory is kDevice naming cudaMalloc, and the backend
// keeps working after it; a missing workspace and weights packed by another backend are
// kInvalidArgument, not a crash; a device index that does not exist is kInvalidArgument.
#include <cstdio>

#include "compare.h"
#include "cuda_extras/cuda_extras.h"
#include "cuda_harness.h"

namespace vggh {

using vgg::Status;

void CheckErrors(vgg::Backend& be, const CudaArgs& args, Tally& t) {
  {
    float* p = nullptr;
    const size_t before = vgg::cuda::DeviceBytesInUse(be);
    const Status st = be.alloc(size_t(1) << 40, &p);  // 4.4 TB
    // Expected: "cudaMalloc(4398.0 GB) failed: cudaErrorMemoryAllocation: out of memory".
    const bool ok = st.code == vgg::Code::kDevice && st.message.find("cudaMalloc(") != std::string::npos &&
                    st.message.find(" failed: cuda") != std::string::npos && p == nullptr &&
                    vgg::cuda::DeviceBytesInUse(be) == before;
    t.Record(ok, "out of memory: alloc(2^40 floats) -> kDevice \"" + st.message + "\"");
    if (p) be.release(p);
    ConvCase c;
    c.name = "after out of memory: conv still works";
    c.s = vgg::ConvShape{2, 32, 9, 9, 48, 3, 3, 1, 1};
    const ConvData d = MakeConvData(c, args.threads);
    std::vector<float> y;
    vgg::ConvPlan plan;
    const Status rs = RunConv(be, c, d, be.choose_conv_algorithm(c.s, vgg::ConvAlgorithm::kAuto), &y, &plan);
    const Diff df = rs.ok() ? Compare(y.data(), d.ref.data(), y.size()) : Diff{};
    t.Record(rs.ok() && df.nonfinite_bad == 0 && df.rel_l2 <= 1e-2, "after out of memory: conv2d " + ShapeStr(c.s) +
                                                                        " rel_l2 " + Fmt("%.3g", df.rel_l2) +
                                                                        (rs.ok() ? "" : " " + rs.message));
  }
  {
    const vgg::ConvShape s{1, 512, 7, 7, 512, 3, 3, 1, 1};  // split-K at 132 SMs: needs a workspace
    std::vector<float> w(size_t(512) * 512 * 9, 0.01f);
    std::unique_ptr<vgg::PackedConv> pc;
    vgg::ConvPlan plan;
    Status st = be.pack_conv(s, be.choose_conv_algorithm(s, vgg::ConvAlgorithm::kAuto), w.data(), nullptr, &pc);
    if (st.ok()) st = be.plan_conv(s, *pc, &plan);
    DevBuf xb(be), yb(be);
    if (st.ok()) st = xb.Alloc(size_t(512) * 49);
    if (st.ok()) st = yb.Alloc(size_t(512) * 49);
    const Status cs = st.ok() ? be.conv2d(s, plan, *pc, true, xb.p, yb.p, nullptr) : st;
    t.Record(plan.workspace_floats == 0 ? cs.ok() : cs.code == vgg::Code::kInvalidArgument,
             "conv2d without its workspace (" + std::to_string(plan.workspace_floats) + " floats needed) -> " +
                 (cs.ok() ? std::string("ok") : cs.message));
    auto ref = vgg::MakeReferenceBackend();
    std::unique_ptr<vgg::PackedConv> foreign;
    Status fs = ref->pack_conv(s, vgg::ConvAlgorithm::kDirect, w.data(), nullptr, &foreign);
    if (fs.ok()) fs = be.conv2d(s, plan, *foreign, true, xb.p, yb.p, nullptr);
    t.Record(fs.code == vgg::Code::kInvalidArgument,
             "conv2d with weights packed by the reference backend -> " + fs.message);
    be.synchronize();
  }
  {
    vgg::CudaOptions o;
    o.device = 99;
    std::unique_ptr<vgg::Backend> b2;
    const Status st = vgg::MakeCudaBackend(o, &b2);
    t.Record(st.code == vgg::Code::kInvalidArgument, "MakeCudaBackend(device 99) -> " + st.message);
  }
}

}  // namespace vggh
