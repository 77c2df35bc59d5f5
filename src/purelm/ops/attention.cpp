#include "purelm/ops/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>

#include "purelm/core/thread_pool.h"
#include "purelm/ops/autograd.h"
#include "purelm/ops/kernels/isa.h"
#include "purelm/ops/kernels/tile.h"
#include "purelm/ops/kernels/vec.h"
#include "purelm/ops/parallel.h"
#include "purelm/ops/rows.h"

namespace purelm {

namespace {

// A tile of up to kQTile queries of one head meets blocks of kKeyBlock keys: scores, weights and
// their gradients live in kQTile x kKeyBlock scratch, and every product is a kernels::tile_gemm
// against float32 rows (keys and values transposed or copied per block where needed).
constexpr int64_t kQTile = 64, kKeyBlock = 64, kFewQueries = 8;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct Dims {
  int64_t B, T, S, N, K, H;
  bool bf16;           // bf16 activations: the products round to bf16 like linear()'s
  bool pairs = false;  // and run on pairs of bf16 (AVX512-BF16, even H), but for few queries
  int64_t G() const { return N / K; }
  int64_t q_at(int64_t b, int64_t t, int64_t n) const { return ((b * T + t) * N + n) * H; }
  int64_t kv_at(int64_t b, int64_t s, int64_t kh) const { return ((b * S + s) * K + kh) * H; }
  int64_t q_stride() const { return N * H; }
  int64_t kv_stride() const { return K * H; }
};

// Attention dropout (training only): the weight of key j for query position t of row b, head n is
// dropped when a hash of (seed, b, n, t, j) falls below p, and kept ones are scaled by 1 / (1 - p).
// b and n are indices in the whole batch and all heads (ops/parallel.h: shard_place), so a mesh
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
struct KvMemory {
  const void* data;
  bool is_bf16;
};

KvMemory kv_memory(const Tensor& t, std::optional<F32View>& view) {
  if (t.dtype() == DType::BF16) return {t.data<bf16>(), true};
  return {view.emplace(t).data(), false};
}

// Operands of one product as float32 rows, rounded to bf16 when the products are (bf16
// activations, as linear() rounds them). Views memory in place when nothing needs converting.
struct Rows {
  const float* p;
  int64_t ld;
};
Rows as_rows(const float* p, int64_t rows, int64_t cols, int64_t ld, bool round,
             std::vector<float>& buf) {
  if (!round) return {p, ld};
  buf.resize(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r) kernels::round_to_bf16(p + r * ld, &buf[r * cols], cols);
  return {buf.data(), cols};
}
// nb keys or values from `at` (row stride ld) as [nb, H] rows.
Rows kv_block(const KvMemory& m, int64_t at, int64_t nb, int64_t H, int64_t ld, bool round,
              std::vector<float>& buf) {
  if (!m.is_bf16) return as_rows(static_cast<const float*>(m.data) + at, nb, H, ld, round, buf);
  buf.resize(size_t(nb * H));
  for (int64_t j = 0; j < nb; ++j)
    kernels::widen(static_cast<const bf16*>(m.data) + at + j * ld, &buf[j * H], H);
  return {buf.data(), H};
}
// [rows, cols] at ld transposed into t ([cols, rows]), rounded like as_rows.
void transpose(const float* p, int64_t rows, int64_t cols, int64_t ld, bool round, float* t) {
  kernels::transpose(p, rows, cols, ld, t, rows);
  if (round) kernels::round_to_bf16(t, t, rows * cols);
}

// The operands of the products on pairs of bf16 (kernels::tile_gemm_pairs), rounded as as_rows
// rounds them. [rows, cols] at ld as rows of pairs, an odd row padded with a zero; bf16 memory with
// even rows is read in place.
struct Pairs {
  const void* p;
  int64_t ld;  // in pairs
};
Pairs row_pairs(const float* p, int64_t rows, int64_t cols, int64_t ld, std::vector<bf16>& buf) {
  const int64_t w = (cols + 1) / 2 * 2;
  buf.resize(size_t(rows * w));
  for (int64_t r = 0; r < rows; ++r) {
    kernels::narrow(p + r * ld, &buf[r * w], cols);
    if (w > cols) buf[r * w + cols] = bf16{};
  }
  return {buf.data(), w / 2};
}
Pairs kv_row_pairs(const KvMemory& m, int64_t at, int64_t nb, int64_t H, int64_t ld,
                   std::vector<bf16>& buf) {
  if (m.is_bf16) return {static_cast<const bf16*>(m.data) + at, ld / 2};
  return row_pairs(static_cast<const float*>(m.data) + at, nb, H, ld, buf);
}
// [rows, cols] bf16 at ld as pairs down the columns: [ceil(rows / 2), cols], rows 2p and 2p + 1 in
// pair p, a missing last row zero.
const uint32_t* column_pairs(const bf16* r, int64_t rows, int64_t cols, int64_t ld,
                             std::vector<uint32_t>& buf) {
  buf.resize(size_t((rows + 1) / 2 * cols));
  for (int64_t j = 0; j < rows; j += 2)
    kernels::interleave(r + j * ld, j + 1 < rows ? r + (j + 1) * ld : nullptr, &buf[j / 2 * cols],
                        cols);
  return buf.data();
}
const uint32_t* column_pairs(const float* p, int64_t rows, int64_t cols, int64_t ld,
                             std::vector<bf16>& narrowed, std::vector<uint32_t>& buf) {
  const Pairs r = row_pairs(p, rows, cols, ld, narrowed);
  return column_pairs(narrowed.data(), rows, cols, 2 * r.ld, buf);
}
const uint32_t* kv_column_pairs(const KvMemory& m, int64_t at, int64_t nb, int64_t H, int64_t ld,
                                std::vector<bf16>& narrowed, std::vector<uint32_t>& buf) {
  if (m.is_bf16) return column_pairs(static_cast<const bf16*>(m.data) + at, nb, H, ld, buf);
  return column_pairs(static_cast<const float*>(m.data) + at, nb, H, ld, narrowed, buf);
}
// The tile's queries [tq, H], narrowed to bf16 rows, transposed into pairs down the columns:
// qt[p * tq + r] holds q[r, 2p] and q[r, 2p + 1].
void transposed_pairs(const std::vector<bf16>& rows, int64_t tq, int64_t H,
                      std::vector<uint32_t>& qt) {
  qt.resize(size_t(H / 2 * tq));
  for (int64_t r = 0; r < tq; ++r)
    for (int64_t p = 0; p < H / 2; ++p)
      qt[p * tq + r] = uint32_t(rows[r * H + 2 * p].bits) | uint32_t(rows[r * H + 2 * p + 1].bits)
                                                                << 16;
}

// Per-thread buffers of the tile functions, kept between tiles (decode runs thousands of tiny
// tiles per token).
struct Scratch {
  std::vector<float> o, qt, dot, qbuf, dobuf, kbuf, vbuf, pbuf, dsbuf;
  std::vector<bf16> qrows, dorows, krows, vrows, prows, dsrows;
  std::vector<uint32_t> qpairs, dopairs, qcols, docols, kcols, vcols, pcols, dscols;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// The tile of queries [t0, t0 + tq) of row b: query t sees keys [0, pos0 + t].
struct Tile {
  int64_t b, n, t0, tq, pos0;
  int64_t kb;  // the row of k and v that row b reads
  int64_t keys(int64_t r) const { return pos0 + t0 + r + 1; }  // visible to query r of the tile
  int64_t all_keys() const { return keys(tq - 1); }
};

// Scores of the tile's queries against keys [j0, j0 + nb), scaled; entries past a query's last key
// are -inf. A full tile computes them transposed, keys [nb, H] against the queries transposed once
// per tile (`qt`, [H, tq], or `qpairs` for products on pairs), so that neither operand is
// transposed per block (`st`: [nb, tq] scratch); a few queries (decode) would fill few vector
// lanes that way and take dot products.
void scores(const Dims& d, const Tile& tl, Rows qa, const float* qt, const uint32_t* qpairs,
            const KvMemory& k, int64_t j0, int64_t nb, float scale, Scratch& sc, float* st,
            float* s) {
  const int64_t at = d.kv_at(tl.kb, j0, tl.n / d.G());
  const bool few = !qpairs && tl.tq < kFewQueries;
  Rows kb{};
  if (qpairs) {
    const Pairs kp = kv_row_pairs(k, at, nb, d.H, d.kv_stride(), sc.krows);
    kernels::tile_gemm_pairs(nb, tl.tq, d.H / 2, kp.p, kp.ld, 1, qpairs, tl.tq, st, tl.tq, false);
  } else if (!few || !k.is_bf16) {
    kb = kv_block(k, at, nb, d.H, d.kv_stride(), d.bf16, sc.kbuf);
    if (!few) kernels::tile_gemm(nb, tl.tq, d.H, kb.p, kb.ld, 1, qt, tl.tq, st, tl.tq, false);
  }
  if (!few) kernels::transpose(st, nb, tl.tq, tl.tq, s, nb);
  for (int64_t r = 0; r < tl.tq; ++r) {
    int64_t visible = std::clamp<int64_t>(tl.keys(r) - j0, 0, nb);
    float* sr = s + r * nb;
    if (few && k.is_bf16) {  // a few queries against a bf16 KV cache read its keys in place
      const bf16* keys = static_cast<const bf16*>(k.data) + at;
      kernels::dots(qa.p + r * qa.ld, keys, d.kv_stride(), visible, d.H, sr);
    } else if (few) {
      kernels::dots(qa.p + r * qa.ld, kb.p, kb.ld, visible, d.H, sr);
    }
    for (int64_t j = 0; j < visible; ++j) sr[j] *= scale;
    std::fill(sr + visible, sr + nb, kNegInf);
  }
}

// Online softmax over key blocks: out rows of the tile and the log-sum-exp of each query (of the
// weights before dropout, which only masks what reaches the values).
void forward_tile(const Dims& d, const Tile& tl, const float* q, const KvMemory& k,
                  const KvMemory& v, float scale, const Dropout& drop, float* out, float* lse) {
  float s[kQTile * kKeyBlock], st[kQTile * kKeyBlock], m[kQTile], l[kQTile];
  const int64_t H = d.H;
  Scratch& sc = scratch();
  std::vector<float>& o = sc.o;
  o.assign(size_t(tl.tq * H), 0.0f);
  const bool pairs = d.pairs && tl.tq >= kFewQueries;
  if (pairs) {
    row_pairs(q + d.q_at(tl.b, tl.t0, tl.n), tl.tq, H, d.q_stride(), sc.qrows);
    transposed_pairs(sc.qrows, tl.tq, H, sc.qpairs);
  } else if (tl.tq >= kFewQueries) {  // decode's few queries take dot products instead (scores)
    sc.qt.resize(size_t(H * tl.tq));
    transpose(q + d.q_at(tl.b, tl.t0, tl.n), tl.tq, H, d.q_stride(), d.bf16, sc.qt.data());
  }
  const Rows qa = as_rows(q + d.q_at(tl.b, tl.t0, tl.n), tl.tq, H, d.q_stride(), d.bf16, sc.qbuf);
  std::fill(m, m + tl.tq, kNegInf);
  std::fill(l, l + tl.tq, 0.0f);
  for (int64_t j0 = 0; j0 < tl.all_keys(); j0 += kKeyBlock) {
    int64_t nb = std::min(kKeyBlock, tl.all_keys() - j0);
    const int64_t at = d.kv_at(tl.kb, j0, tl.n / d.G());
    if (!pairs && v.is_bf16) {  // values read in place: fetched while the scores are computed
      const char* rows = static_cast<const char*>(v.data) + at * int64_t(sizeof(bf16));
      for (int64_t j = 0; j < nb; ++j)
        for (int64_t b = 0; b < H * int64_t(sizeof(bf16)); b += 64)
          __builtin_prefetch(rows + j * d.kv_stride() * int64_t(sizeof(bf16)) + b);
    }
    scores(d, tl, qa, sc.qt.data(), pairs ? sc.qpairs.data() : nullptr, k, j0, nb, scale, sc, st,
           s);
    for (int64_t r = 0; r < tl.tq; ++r) {
      float* sr = s + r * nb;
      if (tl.keys(r) <= j0) {  // nothing visible in this block: weights 0, state unchanged
        std::fill(sr, sr + nb, 0.0f);
        continue;
      }
      float bm = std::max(m[r], kernels::max_of(sr, nb));
      float correction = std::exp(m[r] - bm);
      l[r] = l[r] * correction + kernels::exp_shifted(sr, nb, bm);
      for (int64_t h = 0; h < H; ++h) o[r * H + h] *= correction;
      m[r] = bm;
      if (drop.on()) drop.apply(tl.b, tl.n, tl.pos0 + tl.t0 + r, j0, sr, nb);
    }
    if (pairs) {
      const Pairs pp = row_pairs(s, tl.tq, nb, nb, sc.prows);
      const uint32_t* vp = kv_column_pairs(v, at, nb, H, d.kv_stride(), sc.vrows, sc.vcols);
      kernels::tile_gemm_pairs(tl.tq, H, pp.ld, pp.p, pp.ld, 1, vp, H, o.data(), H, true);
    } else if (v.is_bf16) {  // read in place
      const Rows pa = as_rows(s, tl.tq, nb, nb, d.bf16, sc.pbuf);
      kernels::tile_gemm(tl.tq, H, nb, pa.p, pa.ld, 1, static_cast<const bf16*>(v.data) + at,
                         d.kv_stride(), o.data(), H, true);
    } else {
      const Rows pa = as_rows(s, tl.tq, nb, nb, d.bf16, sc.pbuf),
                 vb = kv_block(v, at, nb, H, d.kv_stride(), d.bf16, sc.vbuf);
      kernels::tile_gemm(tl.tq, H, nb, pa.p, pa.ld, 1, vb.p, vb.ld, o.data(), H, true);
    }
  }
  for (int64_t r = 0; r < tl.tq; ++r) {
    float* dst = out + d.q_at(tl.b, tl.t0 + r, tl.n);
    for (int64_t h = 0; h < H; ++h) dst[h] = o[r * H + h] / l[r];
    lse[(tl.b * d.T + tl.t0 + r) * d.N + tl.n] = m[r] + std::log(l[r]);
  }
}

// Gradients of one tile: dq of its queries, and dk, dv of the keys it sees (the caller owns the kv
// head, so no other thread writes them). With d.pairs the five products take pairs of bf16: the
// queries and dO transposed into pairs once per tile (for the scores and dP^T) and paired down
// their columns (for dK and dV), each block's weights and dS paired by rows and down the columns.
void backward_tile(const Dims& d, const Tile& tl, const float* q, const KvMemory& k,
                   const KvMemory& v, const float* out, const float* dO, const float* lse,
                   float scale, const Dropout& drop, float* dq, float* dk, float* dv) {
  float p[kQTile * kKeyBlock], dp[kQTile * kKeyBlock], pd[kQTile * kKeyBlock],
      st[kQTile * kKeyBlock], delta[kQTile];
  const int64_t H = d.H, kh = tl.n / d.G(), qs = d.q_stride(), ks = d.kv_stride(), tq = tl.tq,
                tq2 = (tq + 1) / 2;
  const int64_t q0 = d.q_at(tl.b, tl.t0, tl.n);
  for (int64_t r = 0; r < tq; ++r) {  // delta = rowsum(dO * O)
    int64_t at = d.q_at(tl.b, tl.t0 + r, tl.n);
    delta[r] = kernels::dot(dO + at, out + at, H);
  }
  Scratch& sc = scratch();
  Rows qa{}, doa{};
  if (d.pairs) {
    row_pairs(q + q0, tq, H, qs, sc.qrows);  // each narrowed once, then paired both ways
    row_pairs(dO + q0, tq, H, qs, sc.dorows);
    transposed_pairs(sc.qrows, tq, H, sc.qpairs);
    transposed_pairs(sc.dorows, tq, H, sc.dopairs);
    column_pairs(sc.qrows.data(), tq, H, H, sc.qcols);
    column_pairs(sc.dorows.data(), tq, H, H, sc.docols);
  } else {
    sc.qt.resize(size_t(H * tq));
    sc.dot.resize(size_t(H * tq));
    transpose(q + q0, tq, H, qs, d.bf16, sc.qt.data());
    transpose(dO + q0, tq, H, qs, d.bf16, sc.dot.data());
    qa = as_rows(q + q0, tq, H, qs, d.bf16, sc.qbuf);
    doa = as_rows(dO + q0, tq, H, qs, d.bf16, sc.dobuf);
  }
  for (int64_t j0 = 0; j0 < tl.all_keys(); j0 += kKeyBlock) {
    int64_t nb = std::min(kKeyBlock, tl.all_keys() - j0), k0 = d.kv_at(tl.kb, j0, kh);
    scores(d, tl, qa, sc.qt.data(), d.pairs ? sc.qpairs.data() : nullptr, k, j0, nb, scale, sc, st,
           p);
    for (int64_t r = 0; r < tq; ++r)  // P = exp(S - lse): the forward's weights, recomputed
      kernels::exp_shifted(p + r * nb, nb, lse[(tl.b * d.T + tl.t0 + r) * d.N + tl.n]);
    // With dropout mask M: dV += (P M)^T dO and dP = (dO V^T) M, where delta = rowsum(dO * O) is
    // still rowsum(P * dP). Then dS = P (dP - delta) scale;  dQ += dS K;  dK += dS^T Q.
    const float* pv = p;
    if (drop.on()) {
      std::copy(p, p + tq * nb, pd);
      for (int64_t r = 0; r < tq; ++r)
        drop.apply(tl.b, tl.n, tl.pos0 + tl.t0 + r, j0, pd + r * nb, nb);
      pv = pd;
    }
    if (d.pairs) {  // dV, and dP^T = V dO^T as the scores
      const uint32_t* pc = column_pairs(pv, tq, nb, nb, sc.prows, sc.pcols);
      kernels::tile_gemm_pairs(nb, H, tq2, pc, 1, nb, sc.docols.data(), H, dv + k0, ks, true);
      const Pairs vp = kv_row_pairs(v, k0, nb, H, ks, sc.vrows);
      kernels::tile_gemm_pairs(nb, tq, H / 2, vp.p, vp.ld, 1, sc.dopairs.data(), tq, st, tq, false);
    } else {
      const Rows pa = as_rows(pv, tq, nb, nb, d.bf16, sc.pbuf);
      kernels::tile_gemm(nb, H, tq, pa.p, 1, pa.ld, doa.p, doa.ld, dv + k0, ks, true);
      const Rows vb = kv_block(v, k0, nb, H, ks, d.bf16, sc.vbuf);
      kernels::tile_gemm(nb, tq, H, vb.p, vb.ld, 1, sc.dot.data(), tq, st, tq, false);
    }
    kernels::transpose(st, nb, tq, tq, dp, nb);
    if (drop.on())
      for (int64_t r = 0; r < tq; ++r)
        drop.apply(tl.b, tl.n, tl.pos0 + tl.t0 + r, j0, dp + r * nb, nb);
    for (int64_t r = 0; r < tq; ++r)
      for (int64_t j = 0; j < nb; ++j)
        dp[r * nb + j] = p[r * nb + j] * (dp[r * nb + j] - delta[r]) * scale;
    if (d.pairs) {
      const Pairs ds = row_pairs(dp, tq, nb, nb, sc.dsrows);
      const uint32_t* kc = kv_column_pairs(k, k0, nb, H, ks, sc.krows, sc.kcols);
      kernels::tile_gemm_pairs(tq, H, ds.ld, ds.p, ds.ld, 1, kc, H, dq + q0, qs, true);
      const uint32_t* dc = column_pairs(sc.dsrows.data(), tq, nb, 2 * ds.ld, sc.dscols);
      kernels::tile_gemm_pairs(nb, H, tq2, dc, 1, nb, sc.qcols.data(), H, dk + k0, ks, true);
    } else {
      const Rows dsa = as_rows(dp, tq, nb, nb, d.bf16, sc.dsbuf),
                 kb = kv_block(k, k0, nb, H, ks, d.bf16, sc.kbuf);
      kernels::tile_gemm(tq, H, nb, dsa.p, dsa.ld, 1, kb.p, kb.ld, dq + q0, qs, true);
      kernels::tile_gemm(nb, H, tq, dsa.p, 1, dsa.ld, qa.p, qa.ld, dk + k0, ks, true);
    }
  }
}

}  // namespace

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v,
                 const std::vector<int64_t>& pos0, double dropout,
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
  d.pairs = d.bf16 && d.H % 2 == 0 && kernels::has(kernels::kAvx512Bf16);
  check(int64_t(pos0.size()) == d.B, "attention: positions for ", pos0.size(), " rows, batch is ",
        d.B);
  for (int64_t b = 0; b < d.B; ++b)
    check(pos0[b] >= 0 && pos0[b] + d.T <= d.S, "attention: row ", b, " reaches position ",
          pos0[b] + d.T, " beyond the ", d.S, " keys");
  check(dropout >= 0 && dropout < 1, "attention: dropout must be in [0, 1)");
  const float scale = 1.0f / std::sqrt(float(d.H));
  Dropout drop;
  if (dropout > 0 && Tape::active() &&
      (q.requires_grad() || k.requires_grad() || v.requires_grad())) {
    const ShardPlace& at = shard_place();
    drop = {float(dropout), Tape::active()->next_random(), at.row_block * d.B, at.head_block * d.N,
            at.head_blocks * d.N};
  }
  const int64_t tiles = (d.T + kQTile - 1) / kQTile;
  F32View qf(q);
  std::optional<F32View> kf, vf;
  const KvMemory km = kv_memory(k, kf), vm = kv_memory(v, vf);
  // Every element is written by its tile; the backward reads it for delta = rowsum(dO * O).
  std::shared_ptr<float[]> out = std::make_shared_for_overwrite<float[]>(size_t(q.numel()));
  auto lse = std::make_shared<std::vector<float>>(static_cast<size_t>(d.B * d.T * d.N));
  parallel_for(d.B * d.N * tiles, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      int64_t b = i / (d.N * tiles), n = (i / tiles) % d.N, t = i % tiles;
      Tile tl{b,          n,
              t * kQTile, std::min(kQTile, d.T - t * kQTile),
              pos0[b],    kv_rows.empty() ? b : kv_rows[b]};
      forward_tile(d, tl, qf.data(), km, vm, scale, drop, out.get(), lse->data());
    }
  });
  Tensor y = Tensor::empty(q.shape(), q.dtype());
  store_f32(y, 0, y.numel(), out.get());
  if (track(y, {&q, &k, &v})) {
    Tape::active()->record(y, [q, k, v, y, pos0, kv_rows, d, scale, drop, tiles, lse, out]() {
      if (!y.has_grad()) return;
      const float* dO = y.grad().data<float>();
      F32View qf(q);
      std::optional<F32View> kf, vf;
      const KvMemory km = kv_memory(k, kf), vm = kv_memory(v, vf);
      std::vector<float> dq(static_cast<size_t>(q.numel()), 0.0f),
          dk(static_cast<size_t>(k.numel()), 0.0f), dv(static_cast<size_t>(v.numel()), 0.0f);
      // Each task owns one kv head of one row (all its query heads), so dk and dv are written
      // without races.
      parallel_for(d.B * d.K, 1, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          int64_t b = i / d.K, kh = i % d.K;
          for (int64_t n = kh * d.G(); n < (kh + 1) * d.G(); ++n) {
            for (int64_t t = 0; t < tiles; ++t) {
              Tile tl{b,          n,
                      t * kQTile, std::min(kQTile, d.T - t * kQTile),
                      pos0[b],    kv_rows.empty() ? b : kv_rows[b]};
              backward_tile(d, tl, qf.data(), km, vm, out.get(), dO, lse->data(), scale, drop,
                            dq.data(), dk.data(), dv.data());
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
