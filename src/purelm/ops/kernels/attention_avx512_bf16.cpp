// Attention's products on pairs of bf16 (AVX512-BF16's vdpbf16ps: exact products, float32 sums)
// for bf16 activations and even heads; the operands are narrowed to bf16 and paired as vdpbf16ps
// reads them. Otherwise, and for a forward tile of a few queries (decode), AVX-512's products on
// float32.
#include <cstring>
#include <vector>

#include "purelm/ops/kernels/avx512_util.h"
#include "purelm/ops/kernels/tile.h"
#include "purelm/ops/kernels/vec.h"

namespace purelm::kernels {

namespace {

using namespace avx512;

// C (+)= A B over pairs of bf16, 4 or 1 rows of C from row i: each step one 32-bit broadcast of A
// per row against four vectors of pairs.
template <int MR>
PURELM_AVX512_BF16 void rows_pairs(int64_t i, int64_t N, int64_t K2, const void* a, int64_t ars,
                                   int64_t acs, const void* b, int64_t ldb, float* c, int64_t ldc,
                                   bool accumulate) {
  const char *ap = static_cast<const char*>(a), *bp = static_cast<const char*>(b);
  for (int64_t j = 0; j < N; j += 64) {
    __mmask16 m[4];
    for (int v = 0; v < 4; ++v) m[v] = mask16(N - j - 16 * v);
    __m512 s[MR][4];
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < 4; ++v)
        s[r][v] = accumulate ? _mm512_maskz_loadu_ps(m[v], c + (i + r) * ldc + j + 16 * v)
                             : _mm512_setzero_ps();
    for (int64_t k = 0; k < K2; ++k) {
      __m512bh w[4];
      for (int v = 0; v < 4; ++v)
        w[v] = (__m512bh)_mm512_maskz_loadu_epi32(m[v], bp + (k * ldb + j + 16 * v) * 4);
      for (int r = 0; r < MR; ++r) {
        int pair;
        std::memcpy(&pair, ap + ((i + r) * ars + k * acs) * 4, 4);
        __m512bh x = (__m512bh)_mm512_set1_epi32(pair);
        for (int v = 0; v < 4; ++v) s[r][v] = _mm512_dpbf16_ps(s[r][v], x, w[v]);
      }
    }
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < 4; ++v)
        _mm512_mask_storeu_ps(c + (i + r) * ldc + j + 16 * v, m[v], s[r][v]);
  }
}

// Operands as pairs: rows of pairs (each row's elements 2p and 2p + 1 in pair p), or pairs down the
// columns (rows 2p and 2p + 1 of a column in pair p). Rounded as the float32 kernels round them.
struct Pairs {
  const void* p;
  int64_t ld;  // in pairs
};
// [rows, cols] at ld as rows of pairs, an odd row padded with a zero.
Pairs row_pairs(const float* p, int64_t rows, int64_t cols, int64_t ld, std::vector<bf16>& buf) {
  const int64_t w = (cols + 1) / 2 * 2;
  buf.resize(size_t(rows * w));
  for (int64_t r = 0; r < rows; ++r) {
    narrow(p + r * ld, &buf[r * w], cols);
    if (w > cols) buf[r * w + cols] = bf16{};
  }
  return {buf.data(), w / 2};
}
// n keys or values of H (even) as rows of pairs: bf16 memory is read in place.
Pairs kv_row_pairs(const KvRows& m, int64_t n, int64_t H, int64_t ld, std::vector<bf16>& buf) {
  if (m.is_bf16) return {m.half(), ld / 2};
  return row_pairs(m.f32(), n, H, ld, buf);
}
// [rows, cols] bf16 at ld as pairs down the columns: [ceil(rows / 2), cols], a missing last row
// zero.
const uint32_t* column_pairs(const bf16* r, int64_t rows, int64_t cols, int64_t ld,
                             std::vector<uint32_t>& buf) {
  buf.resize(size_t((rows + 1) / 2 * cols));
  for (int64_t j = 0; j < rows; j += 2)
    interleave(r + j * ld, j + 1 < rows ? r + (j + 1) * ld : nullptr, &buf[j / 2 * cols], cols);
  return buf.data();
}
const uint32_t* column_pairs(const float* p, int64_t rows, int64_t cols, int64_t ld,
                             std::vector<bf16>& narrowed, std::vector<uint32_t>& buf) {
  const Pairs r = row_pairs(p, rows, cols, ld, narrowed);
  return column_pairs(narrowed.data(), rows, cols, 2 * r.ld, buf);
}
const uint32_t* kv_column_pairs(const KvRows& m, int64_t n, int64_t H, int64_t ld,
                                std::vector<bf16>& narrowed, std::vector<uint32_t>& buf) {
  if (m.is_bf16) return column_pairs(m.half(), n, H, ld, buf);
  return column_pairs(m.f32(), n, H, ld, narrowed, buf);
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

// The queries and dO transposed into pairs once per tile (for the scores and dP^T) and paired down
// their columns (for dK and dV); each block's weights and dS paired by rows and down the columns.
// The scores and dP^T come out transposed ([n, tq]) as attention_rows.cpp's do.
class PairsTile final : public AttentionTile {
 public:
  void reset(int64_t H) { H_ = H; }

  void queries(const float* q, int64_t ldq, int64_t tq) override {
    tq_ = tq;
    few_ = nullptr;
    if (tq < kFewQueries) {
      few_ = &rows_tile(avx512_tiles(), H_, true);
      return few_->queries(q, ldq, tq);
    }
    row_pairs(q, tq, H_, ldq, qrows_);
    transposed_pairs(qrows_, tq, H_, qpairs_);
  }

  void queries_and_grads(const float* q, const float* dO, int64_t ld, int64_t tq) override {
    tq_ = tq;
    few_ = nullptr;
    row_pairs(q, tq, H_, ld, qrows_);  // each narrowed once, then paired both ways
    row_pairs(dO, tq, H_, ld, dorows_);
    transposed_pairs(qrows_, tq, H_, qpairs_);
    transposed_pairs(dorows_, tq, H_, dopairs_);
    column_pairs(qrows_.data(), tq, H_, H_, qcols_);
    column_pairs(dorows_.data(), tq, H_, H_, docols_);
  }

  void scores(const KvBlock& b, float* s) override {
    if (few_) return few_->scores(b, s);
    const Pairs kp = kv_row_pairs(b.k, b.n, H_, b.ld, krows_);
    tile_gemm_pairs(b.n, tq_, H_ / 2, kp.p, kp.ld, 1, qpairs_.data(), tq_, st_, tq_, false);
    turn(b.n, s);
  }

  void add_values(const float* p, const KvBlock& b, float* o) override {
    if (few_) return few_->add_values(p, b, o);
    const Pairs pp = row_pairs(p, tq_, b.n, b.n, prows_);
    const uint32_t* vp = kv_column_pairs(b.v, b.n, H_, b.ld, vrows_, vcols_);
    tile_gemm_pairs(tq_, H_, pp.ld, pp.p, pp.ld, 1, vp, H_, o, H_, true);
  }

  void value_grads(const float* p, const KvBlock& b, float* dv, float* dp) override {
    const int64_t tq2 = (tq_ + 1) / 2;
    const uint32_t* pc = column_pairs(p, tq_, b.n, b.n, prows_, pcols_);
    tile_gemm_pairs(b.n, H_, tq2, pc, 1, b.n, docols_.data(), H_, dv, b.ld, true);
    const Pairs vp = kv_row_pairs(b.v, b.n, H_, b.ld, vrows_);
    tile_gemm_pairs(b.n, tq_, H_ / 2, vp.p, vp.ld, 1, dopairs_.data(), tq_, st_, tq_, false);
    turn(b.n, dp);
  }

  void key_grads(const float* ds, const KvBlock& b, float* dq, int64_t ldq, float* dk) override {
    const int64_t tq2 = (tq_ + 1) / 2;
    const Pairs dsp = row_pairs(ds, tq_, b.n, b.n, dsrows_);
    const uint32_t* kc = kv_column_pairs(b.k, b.n, H_, b.ld, krows_, kcols_);
    tile_gemm_pairs(tq_, H_, dsp.ld, dsp.p, dsp.ld, 1, kc, H_, dq, ldq, true);
    const uint32_t* dc = column_pairs(dsrows_.data(), tq_, b.n, 2 * dsp.ld, dscols_);
    tile_gemm_pairs(b.n, H_, tq2, dc, 1, b.n, qcols_.data(), H_, dk, b.ld, true);
  }

 private:
  // The products of n keys transposed, [n, tq] in st_, into dst as [tq, n].
  void turn(int64_t n, float* dst) const { avx512_tiles().transpose(st_, n, tq_, tq_, dst, n); }

  int64_t H_ = 0, tq_ = 0;
  AttentionTile* few_ = nullptr;  // the float32 tile a forward tile of few queries runs on
  std::vector<bf16> qrows_, dorows_, krows_, vrows_, prows_, dsrows_;
  std::vector<uint32_t> qpairs_, dopairs_, qcols_, docols_, kcols_, vcols_, pcols_, dscols_;
  float st_[kTileQueries * kBlockKeys];
};

}  // namespace

void tile_gemm_pairs(int64_t M, int64_t N, int64_t K2, const void* a, int64_t ars, int64_t acs,
                     const void* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  int64_t i = 0;
  for (; i + 4 <= M; i += 4) rows_pairs<4>(i, N, K2, a, ars, acs, b, ldb, c, ldc, accumulate);
  for (; i < M; ++i) rows_pairs<1>(i, N, K2, a, ars, acs, b, ldb, c, ldc, accumulate);
}

AttentionTile& avx512_bf16_attention(int64_t H, bool round) {
  if (!round || H % 2) return avx512_attention(H, round);
  thread_local PairsTile t;
  t.reset(H);
  return t;
}

}  // namespace purelm::kernels
