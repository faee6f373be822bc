#include "cases.h"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>

namespace vggh {
namespace {

namespace fs = std::filesystem;

bool AnyTag(const Tags& have, const Tags& want) {
  if (want.empty()) return true;
  for (const std::string& t : have)
    for (const std::string& w : want)
      if (t == w) return true;
  return false;
}

template <class Case>
std::vector<Case> Select(const std::vector<Case>& all, const Tags& tags) {
  std::vector<Case> out;
  for (const Case& c : all)
    if (AnyTag(c.tags, tags)) out.push_back(c);
  return out;
}

// One data row: its fields and where it came from, for error messages.
struct Row {
  std::vector<std::string> f;
  std::string where;  // "conv.tsv:12"
};

bool ReadRows(const std::string& dir, const std::string& file, size_t columns, std::vector<Row>* rows,
              std::string* error) {
  const fs::path path = fs::path(dir) / file;
  std::ifstream in(path);
  if (!in) {
    *error = path.string() + ": cannot open";
    return false;
  }
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    Row r;
    r.where = path.string() + ":" + std::to_string(n);
    std::stringstream ss(line);
    std::string field;
    while (std::getline(ss, field, '\t')) r.f.push_back(field);
    if (!line.empty() && line.back() == '\t') r.f.push_back("");
    if (r.f.size() != columns) {
      *error =
          r.where + ": " + std::to_string(r.f.size()) + " tab-separated fields, expected " + std::to_string(columns);
      return false;
    }
    rows->push_back(std::move(r));
  }
  return true;
}

bool ParseInt(const std::string& s, int* out) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0 || v < -(1L << 30) || v > (1L << 30)) return false;
  *out = int(v);
  return true;
}

bool Int(const Row& r, size_t i, int* out, std::string* error) {
  if (ParseInt(r.f[i], out)) return true;
  *error = r.where + ": field " + std::to_string(i + 1) + " '" + r.f[i] + "' is not an integer";
  return false;
}

// Item `item` of list field i (a stage's conv width, an FC width) as an integer.
bool ListInt(const Row& r, size_t i, const std::string& item, int* out, std::string* error) {
  if (ParseInt(item, out)) return true;
  *error = r.where + ": field " + std::to_string(i + 1) + " '" + r.f[i] + "': '" + item + "' is not an integer";
  return false;
}

bool Float(const Row& r, size_t i, float* out, std::string* error) {
  const std::string& s = r.f[i];
  char* end = nullptr;
  errno = 0;
  const float v = std::strtof(s.c_str(), &end);
  if (s.empty() || *end != '\0' || errno != 0) {
    *error = r.where + ": field " + std::to_string(i + 1) + " '" + s + "' is not a number";
    return false;
  }
  *out = v;
  return true;
}

// Reads fields [first, first + n) as integers.
bool Ints(const Row& r, size_t first, std::initializer_list<int*> outs, std::string* error) {
  size_t i = first;
  for (int* o : outs)
    if (!Int(r, i++, o, error)) return false;
  return true;
}

bool LoadConv(const std::string& dir, std::vector<ConvCase>* out, std::string* error) {
  std::vector<Row> rows;
  if (!ReadRows(dir, "conv.tsv", 13, &rows, error)) return false;
  for (const Row& r : rows) {
    ConvCase c;
    c.tags = SplitList(r.f[0]);
    c.name = r.f[1];
    vgg::ConvShape& s = c.s;
    int relu = 1, bias = 1;
    if (!Ints(r, 2, {&s.N, &s.C, &s.H, &s.W, &s.K, &s.R, &s.S, &s.stride, &s.pad, &relu, &bias}, error)) return false;
    c.relu = relu != 0;
    c.bias = bias != 0;
    for (const std::string& t : c.tags) c.nonfinite = c.nonfinite || t == "nonfinite";
    if (s.N < 1 || s.C < 1 || s.K < 1 || s.R < 1 || s.S < 1 || s.stride < 1 || s.pad < 0 || s.P() < 1 || s.Q() < 1) {
      *error = r.where + ": '" + c.name + "' is not a valid conv shape";
      return false;
    }
    out->push_back(std::move(c));
  }
  return true;
}

bool LoadPool(const std::string& dir, std::vector<PoolCase>* out, std::string* error) {
  std::vector<Row> rows;
  if (!ReadRows(dir, "pool.tsv", 8, &rows, error)) return false;
  for (const Row& r : rows) {
    PoolCase c;
    c.tags = SplitList(r.f[0]);
    c.name = r.f[1];
    vgg::PoolShape& s = c.s;
    if (!Ints(r, 2, {&s.N, &s.C, &s.H, &s.W, &s.window, &s.stride}, error)) return false;
    if (s.N < 1 || s.C < 1 || s.window < 1 || s.stride < 1 || s.H < s.window || s.W < s.window) {
      *error = r.where + ": '" + c.name + "' is not a valid pooling shape";
      return false;
    }
    out->push_back(std::move(c));
  }
  return true;
}

bool LoadLrn(const std::string& dir, std::vector<LrnCase>* out, std::string* error) {
  std::vector<Row> rows;
  if (!ReadRows(dir, "lrn.tsv", 10, &rows, error)) return false;
  for (const Row& r : rows) {
    LrnCase c;
    c.tags = SplitList(r.f[0]);
    c.name = r.f[1];
    if (!Ints(r, 2, {&c.N, &c.C, &c.H, &c.W, &c.p.size}, error) || !Float(r, 7, &c.p.alpha, error) ||
        !Float(r, 8, &c.p.beta, error) || !Float(r, 9, &c.p.k, error))
      return false;
    if (c.N < 1 || c.C < 1 || c.H < 1 || c.W < 1 || c.p.size < 1) {
      *error = r.where + ": '" + c.name + "' is not a valid LRN case";
      return false;
    }
    out->push_back(std::move(c));
  }
  return true;
}

bool LoadTopologies(const std::string& dir, std::vector<Topology>* out, std::string* error) {
  std::vector<Row> rows;
  if (!ReadRows(dir, "topologies.tsv", 7, &rows, error)) return false;
  for (const Row& r : rows) {
    Topology t;
    t.name = r.f[0];
    int lrn = 0;
    if (!Int(r, 1, &t.in_channels, error) || !Int(r, 2, &t.input_size, error) || !Int(r, 3, &lrn, error) ||
        !Int(r, 6, &t.classes, error))
      return false;
    t.lrn = lrn != 0;
    for (const std::string& stage : SplitList(r.f[4], '/')) {
      std::vector<ConvSpec> convs;
      for (const std::string& conv : SplitList(stage, ',')) {
        const size_t colon = conv.find(':');
        ConvSpec cs;
        if (!ListInt(r, 4, conv.substr(0, colon), &cs.channels, error)) return false;
        if (colon != std::string::npos) {
          const std::string k = conv.substr(colon + 1);
          if (k != "1" && k != "3") {
            *error = r.where + ": conv '" + conv + "': the kernel after ':' must be 1 or 3";
            return false;
          }
          cs.kernel = k == "1" ? 1 : 3;
        }
        convs.push_back(cs);
      }
      if (convs.empty()) {
        *error = r.where + ": empty stage in '" + r.f[4] + "'";
        return false;
      }
      t.stages.push_back(std::move(convs));
    }
    for (const std::string& w : SplitList(r.f[5])) {
      int v = 0;
      if (!ListInt(r, 5, w, &v, error)) return false;
      t.fc.push_back(v);
    }
    if (t.stages.empty() || t.in_channels < 1 || t.input_size < 1 || t.classes < 1) {
      *error = r.where + ": '" + t.name + "' is not a valid topology";
      return false;
    }
    out->push_back(std::move(t));
  }
  return true;
}

// The first `<dir>/test/cases` with a conv.tsv, for `dir` and each of its parents.
std::string WalkUp(fs::path dir) {
  std::error_code ec;
  for (; !dir.empty(); dir = dir.parent_path()) {
    const fs::path c = dir / "test" / "cases";
    if (fs::is_regular_file(c / "conv.tsv", ec)) return c.string();
    if (dir == dir.root_path()) break;
  }
  return std::string();
}

}  // namespace

std::vector<std::string> SplitList(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<ConvCase> CaseList::Conv(const Tags& tags) const { return Select(conv, tags); }
std::vector<PoolCase> CaseList::Pool(const Tags& tags) const { return Select(pool, tags); }
std::vector<LrnCase> CaseList::Lrn(const Tags& tags) const { return Select(lrn, tags); }

const Topology* CaseList::FindTopology(const std::string& name) const {
  for (const Topology& t : topologies)
    if (t.name == name) return &t;
  return nullptr;
}

std::string FindCasesDir(const std::string& given, std::string* searched) {
  if (!given.empty()) {
    *searched = given;
    return given;
  }
  std::error_code ec;
  const fs::path cwd = fs::current_path(ec);
  std::string found = ec ? std::string() : WalkUp(cwd);
  if (!found.empty()) return found;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) found = WalkUp(exe.parent_path());
  *searched = "test/cases above " + (cwd.empty() ? std::string("the current directory") : cwd.string()) +
              (exe.empty() ? std::string() : " and above " + exe.parent_path().string());
  return found;
}

bool LoadCases(const std::string& dir, CaseList* out, std::string* error) {
  CaseList cl;
  cl.dir = dir;
  if (!LoadConv(dir, &cl.conv, error) || !LoadPool(dir, &cl.pool, error) || !LoadLrn(dir, &cl.lrn, error) ||
      !LoadTopologies(dir, &cl.topologies, error))
    return false;
  *out = std::move(cl);
  return true;
}

}  // namespace vggh
