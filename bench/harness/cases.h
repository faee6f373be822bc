// The shared case list, test/cases/*.tsv (also read by the jest tests): conv, max-pool and LRN shapes
// selected by tag, and the VGG topologies of the paper's Table 1. The files' header comments define the
// columns; this reader checks every row's field count and numbers and names file and line on error.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "core/shapes.h"

namespace vggh {

using Tags = std::vector<std::string>;

struct ConvCase {
  std::string name;
  Tags tags;
  vgg::ConvShape s;
  bool relu = true, bias = true;
  bool nonfinite = false;  // tag "nonfinite": NaN and ±Inf planted in the input
};

struct PoolCase {
  std::string name;
  Tags tags;
  vgg::PoolShape s;
};

struct LrnCase {
  std::string name;
  Tags tags;
  int N = 1, C = 0, H = 0, W = 0;
  vgg::LrnParams p;
};

struct ConvSpec {
  int channels = 0;
  int kernel = 3;  // 3 (pad 1) or 1 (pad 0)
};

struct Topology {
  std::string name;  // vgg11, vgg11_lrn, vgg13, vgg16_c, vgg16, vgg19
  int in_channels = 3, input_size = 224;
  bool lrn = false;                           // LRN after the first conv
  std::vector<std::vector<ConvSpec>> stages;  // each stage ends in 2x2/2 max pooling
  std::vector<int> fc;                        // hidden FC widths (FC6, FC7)
  int classes = 1000;
};

struct CaseList {
  std::string dir;
  std::vector<ConvCase> conv;
  std::vector<PoolCase> pool;
  std::vector<LrnCase> lrn;
  std::vector<Topology> topologies;

  // The cases carrying any of `tags` (all cases when `tags` is empty), in file order.
  std::vector<ConvCase> Conv(const Tags& tags) const;
  std::vector<PoolCase> Pool(const Tags& tags) const;
  std::vector<LrnCase> Lrn(const Tags& tags) const;
  // nullptr when there is no topology of that name.
  const Topology* FindTopology(const std::string& name) const;
};

// The case directory: `given` (--cases DIR) when not empty, else the first test/cases found walking up
// from the current directory, then from the directory of this executable. Empty when none is found;
// `*searched` then says where it looked.
std::string FindCasesDir(const std::string& given, std::string* searched);

// Reads conv.tsv, pool.tsv, lrn.tsv and topologies.tsv from `dir`. False with a message naming the file
// and line when a file is missing or a row is malformed.
bool LoadCases(const std::string& dir, CaseList* out, std::string* error);

// "a,b,c" → {"a", "b", "c"} (empty items dropped).
std::vector<std::string> SplitList(const std::string& s, char sep = ',');

}  // namespace vggh
