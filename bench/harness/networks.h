// VGG networks as layer lists, built from the topologies of the case list (test/cases/topologies.tsv):
// 3×3 convs with padding 1 and 1×1 convs with padding 0, stride 1, ReLU; LRN (AlexNet constants) after the
// first conv when the topology asks for it; 2×2/2 max pooling after each stage; FC6 as a conv covering
// pool5 with no padding (7×7 at 224), FC7 and FC8 as 1×1 convs, no ReLU after FC8 (paper §2.1, §3.2).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cases.h"
#include "core/network.h"

namespace vggh {

struct VggNet {
  std::string name;
  std::vector<vgg::LayerSpec> layers;
  std::vector<std::string> layer_names;  // conv1_1 … conv5_3, lrn, pool1 … pool5, fc6, fc7, fc8
  size_t first_fc = 0;                   // index in `layers` of FC6
  int in_channels = 3, input_size = 224;

  vgg::Shape4 Input(int batch) const { return {batch, in_channels, input_size, input_size}; }
};

// The layer list of `t`; FC6's kernel is the side of pool5 for a t.input_size input (7 at 224).
VggNet BuildVgg(const Topology& t);

// Host weights of every conv layer, in layer order.
struct NetWeights {
  std::vector<std::vector<float>> w, b;
  std::vector<const float*> wp() const;
  std::vector<const float*> bp() const;
};
// He-uniform weights U(±sqrt(6/fan_in)) (variance 2/fan_in, He et al. 2015) and biases U(±0.01).
NetWeights HeWeights(const std::vector<vgg::LayerSpec>& layers, uint64_t seed);

// The full conv shape of every conv layer for input `in`, in layer order (kInvalidArgument-free: the
// caller checks the input with Network::OutputShape first).
std::vector<vgg::ConvShape> ConvShapes(const std::vector<vgg::LayerSpec>& layers, const vgg::Shape4& in);
// Multiply-adds of the conv/FC layers for input `in` (FLOPs = 2 × MACs).
int64_t NetMacs(const std::vector<vgg::LayerSpec>& layers, const vgg::Shape4& in);

// Conv (or FC) layers of one shape, for benches that time each distinct shape once.
struct LayerGroup {
  std::string name;  // the layers' names joined: "conv3_2/3", "conv5_1/2/3", "fc6"
  vgg::ConvShape s;
  int count = 1;  // layers of this shape in the network
};
// The conv layers (fc = false) or the FC layers (fc = true) of `net` for input `in`, identical shapes
// grouped, in order of first appearance.
std::vector<LayerGroup> GroupConvLayers(const VggNet& net, const vgg::Shape4& in, bool fc);

}  // namespace vggh
