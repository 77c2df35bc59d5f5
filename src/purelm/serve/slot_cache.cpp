#include "purelm/serve/slot_cache.h"

#include <algorithm>

#include "purelm/core/error.h"
#include "purelm/sample/last_logits.h"

namespace purelm {

// [kind, logits, n, rows.size(), rows..., ids...]
std::vector<int64_t> SlotCall::encode() const {
  std::vector<int64_t> w = {int64_t(kind), logits ? 1 : 0, n, int64_t(rows.size())};
  w.insert(w.end(), rows.begin(), rows.end());
  w.insert(w.end(), ids.begin(), ids.end());
  return w;
}

SlotCall SlotCall::decode(const std::vector<int64_t>& w) {
  check(w.size() >= 4 && int64_t(w.size()) >= 4 + w[3], "serve: a malformed slot call");
  SlotCall c;
  c.kind = Kind(w[0]);
  c.logits = w[1] != 0;
  c.n = w[2];
  c.rows.assign(w.begin() + 4, w.begin() + 4 + w[3]);
  c.ids.assign(w.begin() + 4 + w[3], w.end());
  return c;
}

SlotCache::SlotCache(const Model& m, int64_t slots, int64_t ctx, DType kv_dtype)
    : m_(m),
      ctx_(std::min(ctx, m.config.max_position_embeddings)),
      kv_(init_kv(m.config, slots, ctx_, kv_dtype)) {}

std::vector<float> SlotCache::run(const SlotCall& c) {
  switch (c.kind) {
    case SlotCall::Kind::Truncate:
      kv_.truncate(c.rows.at(0), c.n);
      return {};
    case SlotCall::Kind::Forward: {
      kv_.use_rows(c.rows);
      Tensor h = m_.hidden(Tensor::from_i32(c.ids, {int64_t(c.rows.size()), c.n}), &kv_);
      if (!c.logits) return {};
      return last_logits(m_, h);
    }
    case SlotCall::Kind::Stop:
      break;
  }
  return {};
}

}  // namespace purelm
