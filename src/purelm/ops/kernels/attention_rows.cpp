// Attention's block products on float32 operands, for every ISA whose products (tile.h) take
// float32: keys and values from float32 memory or widened from a bf16 KV cache (read in place
// where a product allows), every operand rounded to bf16 when the activations are.
#include <algorithm>
#include <vector>

#include "purelm/ops/kernels/tile.h"
#include "purelm/ops/kernels/vec.h"

namespace purelm::kernels {

namespace {

// An operand as float32 rows.
struct Rows {
  const float* p;
  int64_t ld;
};

// A full tile computes its scores transposed, keys [n, H] against the queries transposed once per
// tile ([H, tq]), so that neither operand is transposed per block; likewise dP^T = V dO^T.
class RowsTile final : public AttentionTile {
 public:
  void reset(const TileProducts& p, int64_t H, bool round) {
    p_ = &p;
    H_ = H;
    round_ = round;
  }

  void queries(const float* q, int64_t ldq, int64_t tq) override {
    tq_ = tq;
    forward_ = true;
    if (tq >= kFewQueries) {
      qt_.resize(size_t(H_ * tq));
      transpose(q, tq, H_, ldq, qt_.data());
    }
    qa_ = as_rows(q, tq, H_, ldq, qbuf_);
  }

  void queries_and_grads(const float* q, const float* dO, int64_t ld, int64_t tq) override {
    tq_ = tq;
    forward_ = false;
    qt_.resize(size_t(H_ * tq));
    dot_.resize(size_t(H_ * tq));
    transpose(q, tq, H_, ld, qt_.data());
    transpose(dO, tq, H_, ld, dot_.data());
    qa_ = as_rows(q, tq, H_, ld, qbuf_);
    doa_ = as_rows(dO, tq, H_, ld, dobuf_);
  }

  void scores(const KvBlock& b, float* s) override {
    if (forward_ && b.v.is_bf16) {  // values read in place: fetched while the scores are computed
      const char* rows = static_cast<const char*>(b.v.data);
      for (int64_t j = 0; j < b.n; ++j)
        for (int64_t at = 0; at < H_ * int64_t(sizeof(bf16)); at += 64)
          __builtin_prefetch(rows + j * b.ld * int64_t(sizeof(bf16)) + at);
    }
    const bool few = tq_ < kFewQueries;
    Rows kb{};
    if (!few || !b.k.is_bf16) {
      kb = kv_rows(b.k, b.n, b.ld, kbuf_);
      if (!few) {
        p_->gemm(b.n, tq_, H_, kb.p, kb.ld, 1, qt_.data(), tq_, st_, tq_, false);
        p_->transpose(st_, b.n, tq_, tq_, s, b.n);
        return;
      }
    }
    if (b.k.is_bf16)  // a few queries against a bf16 KV cache read its keys in place
      return p_->key_dots(qa_.p, qa_.ld, tq_, b.k.half(), b.ld, b.n, H_, s);
    for (int64_t r = 0; r < tq_; ++r)
      dots(qa_.p + r * qa_.ld, kb.p, kb.ld, b.visible(r), H_, s + r * b.n);
  }

  void add_values(const float* p, const KvBlock& b, float* o) override {
    const Rows pa = as_rows(p, tq_, b.n, b.n, pbuf_);
    if (b.v.is_bf16)  // read in place
      return p_->gemm_bf16(tq_, H_, b.n, pa.p, pa.ld, 1, b.v.half(), b.ld, o, H_, true);
    const Rows vb = kv_rows(b.v, b.n, b.ld, vbuf_);
    p_->gemm(tq_, H_, b.n, pa.p, pa.ld, 1, vb.p, vb.ld, o, H_, true);
  }

  void value_grads(const float* p, const KvBlock& b, float* dv, float* dp) override {
    const Rows pa = as_rows(p, tq_, b.n, b.n, pbuf_);
    p_->gemm(b.n, H_, tq_, pa.p, 1, pa.ld, doa_.p, doa_.ld, dv, b.ld, true);
    const Rows vb = kv_rows(b.v, b.n, b.ld, vbuf_);
    p_->gemm(b.n, tq_, H_, vb.p, vb.ld, 1, dot_.data(), tq_, st_, tq_, false);
    p_->transpose(st_, b.n, tq_, tq_, dp, b.n);
  }

  void key_grads(const float* ds, const KvBlock& b, float* dq, int64_t ldq, float* dk) override {
    const Rows dsa = as_rows(ds, tq_, b.n, b.n, dsbuf_), kb = kv_rows(b.k, b.n, b.ld, kbuf_);
    p_->gemm(tq_, H_, b.n, dsa.p, dsa.ld, 1, kb.p, kb.ld, dq, ldq, true);
    p_->gemm(b.n, H_, tq_, dsa.p, 1, dsa.ld, qa_.p, qa_.ld, dk, b.ld, true);
  }

 private:
  // [rows, cols] at ld as float32 rows, rounded to bf16 when the products are; in place when
  // nothing needs converting.
  Rows as_rows(const float* p, int64_t rows, int64_t cols, int64_t ld,
               std::vector<float>& buf) const {
    if (!round_) return {p, ld};
    buf.resize(size_t(rows * cols));
    for (int64_t r = 0; r < rows; ++r) round_to_bf16(p + r * ld, &buf[r * cols], cols);
    return {buf.data(), cols};
  }
  // n keys or values as [n, H] rows.
  Rows kv_rows(const KvRows& m, int64_t n, int64_t ld, std::vector<float>& buf) const {
    if (!m.is_bf16) return as_rows(m.f32(), n, H_, ld, buf);
    buf.resize(size_t(n * H_));
    for (int64_t j = 0; j < n; ++j) widen(m.half() + j * ld, &buf[j * H_], H_);
    return {buf.data(), H_};
  }
  // [rows, H] at ld transposed into t ([H, rows]), rounded like as_rows.
  void transpose(const float* p, int64_t rows, int64_t cols, int64_t ld, float* t) const {
    p_->transpose(p, rows, cols, ld, t, rows);
    if (round_) round_to_bf16(t, t, rows * cols);
  }

  const TileProducts* p_ = nullptr;
  int64_t H_ = 0, tq_ = 0;
  bool round_ = false, forward_ = true;
  Rows qa_{}, doa_{};
  std::vector<float> qt_, dot_, qbuf_, dobuf_, kbuf_, vbuf_, pbuf_, dsbuf_;
  float st_[kTileQueries * kBlockKeys];  // products transposed, [n, tq]
};

}  // namespace

AttentionTile& rows_tile(const TileProducts& p, int64_t H, bool round) {
  thread_local RowsTile t;
  t.reset(p, H, round);
  return t;
}

}  // namespace purelm::kernels
