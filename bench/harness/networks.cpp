#include "networks.h"

#include <algorithm>
#include <cmath>

#include "data.h"

namespace vggh {

using vgg::LayerSpec;
using vgg::Shape4;

VggNet BuildVgg(const Topology& t) {
  VggNet net;
  net.name = t.name;
  net.in_channels = t.in_channels;
  net.input_size = t.input_size;
  int c = t.in_channels, side = t.input_size;
  auto conv = [&](int k, int kernel, int pad, bool relu, std::string name) {
    LayerSpec l;
    l.kind = LayerSpec::Kind::kConv;
    l.in_channels = c;
    l.out_channels = k;
    l.kernel = kernel;
    l.stride = 1;
    l.pad = pad;
    l.relu = relu;
    net.layers.push_back(l);
    net.layer_names.push_back(std::move(name));
    c = k;
  };
  for (size_t si = 0; si < t.stages.size(); ++si) {
    const std::string stage = std::to_string(si + 1);
    for (size_t li = 0; li < t.stages[si].size(); ++li) {
      const ConvSpec& cs = t.stages[si][li];
      conv(cs.channels, cs.kernel, cs.kernel == 3 ? 1 : 0, true, "conv" + stage + "_" + std::to_string(li + 1));
      if (t.lrn && si == 0 && li == 0) {
        LayerSpec l;
        l.kind = LayerSpec::Kind::kLrn;  // LrnParams' defaults are the AlexNet constants
        net.layers.push_back(l);
        net.layer_names.push_back("lrn");
      }
    }
    LayerSpec p;
    p.kind = LayerSpec::Kind::kMaxPool;
    net.layers.push_back(p);
    net.layer_names.push_back("pool" + stage);
    side = (side - p.window) / p.pool_stride + 1;
  }
  net.first_fc = net.layers.size();
  int fc = 6;
  conv(t.fc.empty() ? t.classes : t.fc[0], std::max(side, 1), 0, !t.fc.empty(), "fc" + std::to_string(fc++));
  for (size_t i = 1; i < t.fc.size(); ++i) conv(t.fc[i], 1, 0, true, "fc" + std::to_string(fc++));
  if (!t.fc.empty()) conv(t.classes, 1, 0, false, "fc" + std::to_string(fc++));
  return net;
}

std::vector<const float*> NetWeights::wp() const {
  std::vector<const float*> r;
  for (const auto& v : w) r.push_back(v.data());
  return r;
}

std::vector<const float*> NetWeights::bp() const {
  std::vector<const float*> r;
  for (const auto& v : b) r.push_back(v.data());
  return r;
}

NetWeights HeWeights(const std::vector<LayerSpec>& layers, uint64_t seed) {
  NetWeights nw;
  uint64_t i = 0;
  for (const LayerSpec& l : layers) {
    if (l.kind != LayerSpec::Kind::kConv) continue;
    const size_t fan_in = size_t(l.in_channels) * l.kernel * l.kernel;
    nw.w.emplace_back(size_t(l.out_channels) * fan_in);
    nw.b.emplace_back(size_t(l.out_channels));
    const float a = float(std::sqrt(6.0 / double(fan_in)));
    FillUniform(nw.w.back().data(), nw.w.back().size(), seed * 1000 + 2 * i, -a, a);
    FillUniform(nw.b.back().data(), nw.b.back().size(), seed * 1000 + 2 * i + 1, -0.01f, 0.01f);
    ++i;
  }
  return nw;
}

namespace {
// Calls f(layer index, conv shape) for every conv layer.
template <class F>
void ForEachConv(const std::vector<LayerSpec>& layers, const Shape4& in, F&& f) {
  Shape4 s = in;
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerSpec& l = layers[i];
    if (l.kind == LayerSpec::Kind::kConv) {
      const vgg::ConvShape cs{s.n, s.c, s.h, s.w, l.out_channels, l.kernel, l.kernel, l.stride, l.pad};
      f(i, cs);
      s = {s.n, l.out_channels, cs.P(), cs.Q()};
    } else if (l.kind == LayerSpec::Kind::kMaxPool) {
      s = {s.n, s.c, (s.h - l.window) / l.pool_stride + 1, (s.w - l.window) / l.pool_stride + 1};
    }
  }
}

bool SameShape(const vgg::ConvShape& a, const vgg::ConvShape& b) {
  return a.N == b.N && a.C == b.C && a.H == b.H && a.W == b.W && a.K == b.K && a.R == b.R && a.S == b.S &&
         a.stride == b.stride && a.pad == b.pad;
}

// "conv3_2" joined to "conv3_3" gives "conv3_2/3"; names without a shared "<prefix>_" are joined whole.
std::string JoinName(const std::string& group, const std::string& name) {
  const size_t us = name.find('_');
  if (us != std::string::npos && group.compare(0, us + 1, name, 0, us + 1) == 0)
    return group + "/" + name.substr(us + 1);
  return group + "/" + name;
}
}  // namespace

std::vector<vgg::ConvShape> ConvShapes(const std::vector<LayerSpec>& layers, const Shape4& in) {
  std::vector<vgg::ConvShape> out;
  ForEachConv(layers, in, [&](size_t, const vgg::ConvShape& cs) { out.push_back(cs); });
  return out;
}

int64_t NetMacs(const std::vector<LayerSpec>& layers, const Shape4& in) {
  int64_t macs = 0;
  ForEachConv(layers, in, [&](size_t, const vgg::ConvShape& cs) { macs += cs.macs(); });
  return macs;
}

std::vector<LayerGroup> GroupConvLayers(const VggNet& net, const Shape4& in, bool fc) {
  std::vector<LayerGroup> groups;
  ForEachConv(net.layers, in, [&](size_t i, const vgg::ConvShape& cs) {
    if ((i >= net.first_fc) != fc) return;
    for (LayerGroup& g : groups)
      if (SameShape(g.s, cs)) {
        g.name = JoinName(g.name, net.layer_names[i]);
        ++g.count;
        return;
      }
    groups.push_back({net.layer_names[i], cs, 1});
  });
  return groups;
}

}  // namespace vggh
