#include "purelm/ops/parallel.h"

#include <unordered_map>

namespace purelm {

namespace {
// Only the thread that runs the model reads or writes the marks and the place.
std::unordered_map<const void*, SplitMark>& marks() {
  static std::unordered_map<const void*, SplitMark> m;
  return m;
}
ShardPlace g_place;
}  // namespace

void mark_split(const Tensor& w, SplitMark mark) { marks()[w.id()] = mark; }
void clear_split_marks() { marks().clear(); }

const SplitMark* split_mark(const Tensor& w) {
  if (marks().empty()) return nullptr;
  auto it = marks().find(w.id());
  return it == marks().end() ? nullptr : &it->second;
}

void set_shard_place(const ShardPlace& p) { g_place = p; }
const ShardPlace& shard_place() { return g_place; }

}  // namespace purelm
