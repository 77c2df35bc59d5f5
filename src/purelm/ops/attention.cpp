#include "purelm/ops/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>

#include "purelm/core/thread_pool.h"
#include "purelm/ops/autograd.h"
#include "purelm/ops/kernels/attention_kernel.h"
#include "purelm/ops/kernels/vec.h"
#include "purelm/ops/parallel.h"
#include "purelm/ops/rows.h"

namespace purelm {

namespace {

// A tile of up to kQTile queries of one head meets blocks of kKeyBlock keys; the kernel of the
// instruction set in use (kernels/attention_kernel.h) computes the products of each block.
constexpr int64_t kQTile = kernels::kTileQueries, kKeyBlock = kernels::kBlockKeys;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct Dims {
  int64_t B, T, S, N, K, H;
  bool bf16;  // bf16 activations: the products round to bf16 like linear()'s
  int64_t G() const { return N / K; }
  int64_t q_at(int64_t b, int64_t t, int64_t n) const { return ((b * T + t) * N + n) * H; }
  int64_t kv_at(int64_t b, int64_t s, int64_t kh) const { return ((b * S + s) * K + kh) * H; }
  int64_t q_stride() const { return N * H; }
  int64_t kv_stride() const { return K * H; }
};

// Attention dropout (training only): the weight of key j for query position t of row b, head n is
// dropped when a hash of (seed, b, n, t, j) falls below p, and kept ones are scaled by 1 / (1 - p).
// b and n are indices in the whole batch and all heads (ops/parallel.h: ShardPlace), so a mesh
// drops what one process would. The backward pass recomputes the mask from the hash.
struct Dropout {
  float p = 0;
  uint64_t seed = 0;
  int64_t row0 = 0, head0 = 0, heads = 0;  // this process's first row and head; all heads
  bool on() const { return p > 0; }
  // Applies the mask to the weights w[0, nb) of keys j0 .. j0 + nb - 1.
  void apply(int64_t b, int64_t n, int64_t t, int64_t j0, float* w, int64_t nb) const {
    uint64_t h = seed ^ ((uint64_t((row0 + b) * heads + head0 + n) << 32) | uint64_t(t));
    h = (h ^ (h >> 33)) * 0xFF51AFD7ED558CCDull;
    h = (h ^ (h >> 33)) * 0xC4CEB9FE1A85EC53ull;
    kernels::hash_dropout(w, nb, uint32_t(h ^ (h >> 32)), j0, uint32_t(double(p) * 4294967296.0),
                          1.0f / (1.0f - p));
  }
};

// Keys or values: float32, or bf16 read in place (a bf16 KV cache is never widened whole).
kernels::KvRows kv_memory(const Tensor& t, std::optional<F32View>& view) {
  if (t.dtype() == DType::BF16) return {t.data<bf16>(), true};
  return {view.emplace(t).data(), false};
}

// The tile of queries [t0, t0 + tq) of row b and query heads [n0, n0 + heads), which share one kv
// head: a tile of grouped-query attention reads each key once for all the heads it serves. Its
// row r is position t0 + r / heads of head n0 + r % heads; query t sees keys [0, pos0 + t].
struct Tile {
  int64_t b, n0, heads, t0, tq, pos0;
  int64_t kb;  // the row of k and v that row b reads
  int64_t rows() const { return tq * heads; }
  int64_t t(int64_t r) const { return t0 + r / heads; }
  int64_t n(int64_t r) const { return n0 + r % heads; }
  int64_t keys(int64_t r) const { return pos0 + t(r) + 1; }  // visible to row r of the tile
  int64_t all_keys() const { return keys(rows() - 1); }
  // Keys and values [j0, j0 + kKeyBlock) of the tile's kv head, as far as any query sees.
  kernels::KvBlock block(const Dims& d, const kernels::KvRows& k, const kernels::KvRows& v,
                         int64_t j0) const {
    const int64_t at = d.kv_at(kb, j0, n0 / d.G());
    return {k.at(at),     v.at(at), d.kv_stride(), std::min(kKeyBlock, all_keys() - j0),
            keys(0) - j0, heads};
  }
};

// The tile's scaled scores against a block: s = q k^T / sqrt(H), -inf past each query's last key.
void scores(kernels::AttentionTile& kt, const kernels::KvBlock& b, int64_t rows, float scale,
            float* s) {
  kt.scores(b, s);
  for (int64_t r = 0; r < rows; ++r) {
    float* sr = s + r * b.n;
    for (int64_t j = 0; j < b.visible(r); ++j) sr[j] *= scale;
    std::fill(sr + b.visible(r), sr + b.n, kNegInf);
  }
}

// The tile's queries as rows of H: in place when they are evenly spaced (one head per tile, or one
// position), else gathered into `buf`.
const float* tile_queries(const Dims& d, const Tile& tl, const float* q, std::vector<float>& buf,
                          int64_t& ld) {
  ld = tl.heads == 1 ? d.q_stride() : d.H;
  if (tl.heads == 1 || tl.tq == 1) return q + d.q_at(tl.b, tl.t0, tl.n0);
  buf.resize(size_t(tl.rows() * d.H));
  for (int64_t r = 0; r < tl.rows(); ++r) {
    const float* src = q + d.q_at(tl.b, tl.t(r), tl.n(r));
    std::copy(src, src + d.H, &buf[r * d.H]);
  }
  return buf.data();
}

// Online softmax over key blocks: out rows of the tile and the log-sum-exp of each query (of the
// weights before dropout, which only masks what reaches the values).
void forward_tile(const Dims& d, const Tile& tl, const float* q, const kernels::KvRows& k,
                  const kernels::KvRows& v, float scale, const Dropout& drop,
                  const kernels::AttentionKernel& kernel, float* out, float* lse) {
  float s[kQTile * kKeyBlock], m[kQTile], l[kQTile];
  const int64_t H = d.H, rows = tl.rows();
  thread_local std::vector<float> o, gathered;
  o.assign(size_t(rows * H), 0.0f);
  kernels::AttentionTile& kt = kernel.tile(H, d.bf16);
  int64_t ldq = 0;
  const float* qt = tile_queries(d, tl, q, gathered, ldq);
  kt.queries(qt, ldq, rows);
  std::fill(m, m + rows, kNegInf);
  std::fill(l, l + rows, 0.0f);
  for (int64_t j0 = 0; j0 < tl.all_keys(); j0 += kKeyBlock) {
    const kernels::KvBlock b = tl.block(d, k, v, j0);
    scores(kt, b, rows, scale, s);
    for (int64_t r = 0; r < rows; ++r) {
      float* sr = s + r * b.n;
      if (tl.keys(r) <= j0) {  // nothing visible in this block: weights 0, state unchanged
        std::fill(sr, sr + b.n, 0.0f);
        continue;
      }
      float bm = std::max(m[r], kernels::max_of(sr, b.n));
      float correction = std::exp(m[r] - bm);
      l[r] = l[r] * correction + kernels::exp_shifted(sr, b.n, bm);
      for (int64_t h = 0; h < H; ++h) o[r * H + h] *= correction;
      m[r] = bm;
      if (drop.on()) drop.apply(tl.b, tl.n(r), tl.pos0 + tl.t(r), j0, sr, b.n);
    }
    kt.add_values(s, b, o.data());
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* dst = out + d.q_at(tl.b, tl.t(r), tl.n(r));
    for (int64_t h = 0; h < H; ++h) dst[h] = o[r * H + h] / l[r];
    lse[(tl.b * d.T + tl.t(r)) * d.N + tl.n(r)] = m[r] + std::log(l[r]);
  }
}

// Gradients of one tile: dq of its queries, and dk, dv of the keys it sees (the caller owns the kv
// head, so no other thread writes them).
void backward_tile(const Dims& d, const Tile& tl, const float* q, const kernels::KvRows& k,
                   const kernels::KvRows& v, const float* out, const float* dO, const float* lse,
                   float scale, const Dropout& drop, const kernels::AttentionKernel& kernel,
                   float* dq, float* dk, float* dv) {
  float p[kQTile * kKeyBlock], dp[kQTile * kKeyBlock], pd[kQTile * kKeyBlock], delta[kQTile];
  const int64_t H = d.H, tq = tl.tq, q0 = d.q_at(tl.b, tl.t0, tl.n0);
  for (int64_t r = 0; r < tq; ++r) {  // delta = rowsum(dO * O)
    int64_t at = d.q_at(tl.b, tl.t0 + r, tl.n0);
    delta[r] = kernels::dot(dO + at, out + at, H);
  }
  kernels::AttentionTile& kt = kernel.tile(H, d.bf16);
  kt.queries_and_grads(q + q0, dO + q0, d.q_stride(), tq);
  for (int64_t j0 = 0; j0 < tl.all_keys(); j0 += kKeyBlock) {
    const kernels::KvBlock b = tl.block(d, k, v, j0);
    const int64_t nb = b.n, k0 = d.kv_at(tl.kb, j0, tl.n0 / d.G());
    scores(kt, b, tq, scale, p);
    for (int64_t r = 0; r < tq; ++r)  // P = exp(S - lse): the forward's weights, recomputed
      kernels::exp_shifted(p + r * nb, nb, lse[(tl.b * d.T + tl.t0 + r) * d.N + tl.n0]);
    // With dropout mask M: dV += (P M)^T dO and dP = (dO V^T) M, where delta = rowsum(dO * O) is
    // still rowsum(P * dP). Then dS = P (dP - delta) scale;  dQ += dS K;  dK += dS^T Q.
    const float* pv = p;
    if (drop.on()) {
      std::copy(p, p + tq * nb, pd);
      for (int64_t r = 0; r < tq; ++r)
        drop.apply(tl.b, tl.n0, tl.pos0 + tl.t0 + r, j0, pd + r * nb, nb);
      pv = pd;
    }
    kt.value_grads(pv, b, dv + k0, dp);
    if (drop.on())
      for (int64_t r = 0; r < tq; ++r)
        drop.apply(tl.b, tl.n0, tl.pos0 + tl.t0 + r, j0, dp + r * nb, nb);
    for (int64_t r = 0; r < tq; ++r)
      for (int64_t j = 0; j < nb; ++j)
        dp[r * nb + j] = p[r * nb + j] * (dp[r * nb + j] - delta[r]) * scale;
    kt.key_grads(dp, b, dq + q0, d.q_stride(), dk + k0);
  }
}

}  // namespace

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v,
                 const std::vector<int64_t>& pos0, const AttentionDropout& dropout,
                 const std::vector<int64_t>& kv_rows) {
  check_float(q, "attention", "q");
  check_float(k, "attention", "k");
  check_float(v, "attention", "v");
  check(q.rank() == 4 && k.rank() == 4 && k.shape() == v.shape() &&
            (kv_rows.empty() ? q.dim(0) == k.dim(0) : int64_t(kv_rows.size()) == q.dim(0)) &&
            q.dim(3) == k.dim(3) && k.dim(2) > 0 && q.dim(2) % k.dim(2) == 0,
        "attention: shapes q ", q.shape(), ", k ", k.shape(), ", v ", v.shape(),
        " are not [B, T, N, H], [B, S, K, H] with N a multiple of K");
  Dims d{q.dim(0), q.dim(1), k.dim(1), q.dim(2), k.dim(2), q.dim(3), q.dtype() == DType::BF16};
  for (int64_t r : kv_rows)
    check(r >= 0 && r < k.dim(0), "attention: kv row ", r, " is not one of k's ", k.dim(0));
  check(int64_t(pos0.size()) == d.B, "attention: positions for ", pos0.size(), " rows, batch is ",
        d.B);
  for (int64_t b = 0; b < d.B; ++b)
    check(pos0[b] >= 0 && pos0[b] + d.T <= d.S, "attention: row ", b, " reaches position ",
          pos0[b] + d.T, " beyond the ", d.S, " keys");
  check(dropout.p >= 0 && dropout.p < 1, "attention: dropout must be in [0, 1)");
  const float scale = 1.0f / std::sqrt(float(d.H));
  Dropout drop;
  if (dropout.p > 0 && Tape::active() &&
      (q.requires_grad() || k.requires_grad() || v.requires_grad())) {
    const ShardPlace& at = dropout.at;
    drop = {float(dropout.p), Tape::active()->next_random(), at.row_block * d.B,
            at.head_block * d.N, at.head_blocks * d.N};
  }
  const int64_t tiles = (d.T + kQTile - 1) / kQTile;
  F32View qf(q);
  std::optional<F32View> kf, vf;
  const kernels::KvRows km = kv_memory(k, kf), vm = kv_memory(v, vf);
  const kernels::AttentionKernel& kernel = kernels::attention_kernel();
  // Every element is written by its tile; the backward reads it for delta = rowsum(dO * O).
  std::shared_ptr<float[]> out = std::make_shared_for_overwrite<float[]>(size_t(q.numel()));
  auto lse = std::make_shared<std::vector<float>>(static_cast<size_t>(d.B * d.T * d.N));
  // The forward's tiles take the G query heads of a kv head together; its positions per tile
  // shrink to keep the rows within kQTile.
  const int64_t heads = d.G() <= kQTile ? d.G() : 1, tq = kQTile / heads,
                ftiles = (d.T + tq - 1) / tq, groups = d.N / heads;
  parallel_for(d.B * groups * ftiles, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      int64_t b = i / (groups * ftiles), g = (i / ftiles) % groups, t = i % ftiles;
      Tile tl{b,
              g * heads,
              heads,
              t * tq,
              std::min(tq, d.T - t * tq),
              pos0[b],
              kv_rows.empty() ? b : kv_rows[b]};
      forward_tile(d, tl, qf.data(), km, vm, scale, drop, kernel, out.get(), lse->data());
    }
  });
  Tensor y = Tensor::empty(q.shape(), q.dtype());
  store_f32(y, 0, y.numel(), out.get());
  if (track(y, {&q, &k, &v})) {
    Tape::active()->record(
        y, [q, k, v, y, pos0, kv_rows, d, scale, drop, tiles, lse, out, kernel]() {
          if (!y.has_grad()) return;
          const float* dO = y.grad().data<float>();
          F32View qf(q);
          std::optional<F32View> kf, vf;
          const kernels::KvRows km = kv_memory(k, kf), vm = kv_memory(v, vf);
          std::vector<float> dq(static_cast<size_t>(q.numel()), 0.0f),
              dk(static_cast<size_t>(k.numel()), 0.0f), dv(static_cast<size_t>(v.numel()), 0.0f);
          // Each task owns one kv head of one row (all its query heads), so dk and dv are written
          // without races.
          parallel_for(d.B * d.K, 1, [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) {
              int64_t b = i / d.K, kh = i % d.K;
              for (int64_t n = kh * d.G(); n < (kh + 1) * d.G(); ++n) {
                for (int64_t t = 0; t < tiles; ++t) {
                  Tile tl{b,
                          n,
                          1,
                          t * kQTile,
                          std::min(kQTile, d.T - t * kQTile),
                          pos0[b],
                          kv_rows.empty() ? b : kv_rows[b]};
                  backward_tile(d, tl, qf.data(), km, vm, out.get(), dO, lse->data(), scale, drop,
                                kernel, dq.data(), dk.data(), dv.data());
                }
              }
            }
          });
          accumulate_grad(q, dq.data());
          accumulate_grad(k, dk.data());
          accumulate_grad(v, dv.data());
          y.release_grad();
        });
  }
  return y;
}

}  // namespace purelm
