// The engine's KV cache of slots and the calls that change it: forwards that append tokens to some
// rows, and truncations. On a mesh every process holds its share of such a cache (its heads) and
// must make the same calls in the same order, so the engine describes each call as a SlotCall,
// which the leader can send to the others (EngineOptions::announce) before it makes it.
#pragma once

#include <cstdint>
#include <vector>

#include "purelm/models/model.h"

namespace purelm {

struct SlotCall {
  enum class Kind : int64_t { Truncate = 0, Forward = 1, Stop = 2 };
  Kind kind = Kind::Stop;          // Stop: no call, the followers of a mesh leave their loop
  std::vector<int64_t> rows = {};  // Truncate: the row; Forward: the rows that take tokens
  std::vector<int32_t> ids = {};   // Forward: rows.size() x n token ids
  int64_t n = 0;                   // Truncate: the positions kept; Forward: tokens per row
  bool logits = false;             // Forward: whether the last positions' logits are wanted

  // As integers, to send to the other processes, and back.
  std::vector<int64_t> encode() const;
  static SlotCall decode(const std::vector<int64_t>& words);
};

class SlotCache {
 public:
  // `slots` rows of `ctx` positions each, at most the model's context.
  SlotCache(const Model& m, int64_t slots, int64_t ctx, DType kv_dtype);
  // Makes the call; a Forward that wants logits returns those of each row's last position
  // [rows, V], the others nothing.
  std::vector<float> run(const SlotCall& c);
  int64_t len(int64_t row) const { return kv_.len[row]; }
  int64_t ctx() const { return ctx_; }

 private:
  const Model& m_;
  int64_t ctx_;
  KVCache kv_;
};

}  // namespace purelm
