// Attention's block products behind one contract. ops/attention.cpp owns the algorithm (tiles of
// queries, the online softmax over blocks of keys, dropout); a kernel owns how the products of one
// tile and one block are computed: the layouts of its operands, the instructions, the prefetches.
// One kernel per instruction set, in a table (attention_kernel.cpp) from which the first the
// features in use (isa.h) allow is chosen; adding one is a file and an entry.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>

#include "purelm/core/dtype.h"
#include "purelm/ops/kernels/isa.h"

namespace purelm::kernels {

// The most queries in a tile and keys in a block.
constexpr int64_t kTileQueries = 64, kBlockKeys = 64;

// Keys or values in memory: float32, or bf16 read in place (a bf16 KV cache is never widened
// whole).
struct KvRows {
  const void* data;
  bool is_bf16;
  KvRows at(int64_t i) const {  // from element i on
    if (is_bf16) return {static_cast<const bf16*>(data) + i, true};
    return {static_cast<const float*>(data) + i, false};
  }
  const float* f32() const { return static_cast<const float*>(data); }
  const bf16* half() const { return static_cast<const bf16*>(data); }
};

// A block of keys of one kv head and their values: n rows of H elements, ld elements apart.
// The tile's rows are `group` query heads at each position: row r sees the block's keys
// j < visible0 + r / group (none when that is <= 0).
struct KvBlock {
  KvRows k, v;
  int64_t ld, n, visible0, group = 1;
  int64_t visible(int64_t r) const {
    const int64_t e = visible0 + r / group;
    return e < 0 ? 0 : std::min(e, n);
  }
};

// The products of one thread's tile of tq <= kTileQueries queries of one head (rows of H) against
// blocks of keys of its kv head. With `round` (bf16 activations) every product multiplies operands
// rounded to bf16, as linear() rounds them. The tile keeps what it prepared of the queries between
// calls, and its buffers between tiles (decode runs thousands of tiny tiles per token).
class AttentionTile {
 public:
  virtual ~AttentionTile() = default;
  // Starts a forward tile: the queries q, [tq, H] with rows ldq apart.
  virtual void queries(const float* q, int64_t ldq, int64_t tq) = 0;
  // Starts a backward tile: the queries and the gradient dO of the output, both [tq, H] at ld.
  virtual void queries_and_grads(const float* q, const float* dO, int64_t ld, int64_t tq) = 0;
  // s[r * n + j] = q_r . k_j, unscaled, for each query r and each key j < b.visible(r); the rest
  // of s, up to tq * n, may hold anything.
  virtual void scores(const KvBlock& b, float* s) = 0;
  // Forward: o[r * H + h] += sum_j p[r * n + j] v_j[h].
  virtual void add_values(const float* p, const KvBlock& b, float* o) = 0;
  // Backward: dv_j += sum_r p[r * n + j] dO_r (dv rows b.ld apart) and dp[r * n + j] = dO_r . v_j.
  virtual void value_grads(const float* p, const KvBlock& b, float* dv, float* dp) = 0;
  // Backward: dq_r += sum_j ds[r * n + j] k_j (rows ldq apart), dk_j += sum_r ds[r * n + j] q_r
  // (rows b.ld apart).
  virtual void key_grads(const float* ds, const KvBlock& b, float* dq, int64_t ldq, float* dk) = 0;
};

struct AttentionKernel {
  const char* name;
  Features needs;
  // The calling thread's tile for heads of H elements.
  AttentionTile& (*tile)(int64_t H, bool round);
};

std::span<const AttentionKernel> attention_kernels();  // the table, best first, portable last
const AttentionKernel& attention_kernel();  // the first of the table the features in use allow

}  // namespace purelm::kernels
