// The KV cache: its rows, their lengths, and the update each layer makes.
#include "purelm/models/model.h"
#include "purelm/ops/rows.h"

namespace purelm {

KVCache init_kv(const Config& c, int64_t B, int64_t S, DType dtype) {
  check(dtype == DType::F32 || dtype == DType::BF16, "the KV cache is stored in F32 or BF16");
  KVCache kv;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    kv.k.push_back(Tensor::zeros({B, S, c.num_key_value_heads, c.head_dim}, dtype));
    kv.v.push_back(Tensor::zeros({B, S, c.num_key_value_heads, c.head_dim}, dtype));
  }
  kv.len.assign(static_cast<size_t>(B), 0);
  return kv;
}

namespace {

int64_t cache_row(const KVCache& kv, int64_t b) { return kv.rows.empty() ? b : kv.rows[b]; }

}  // namespace

void KVCache::use_rows(std::vector<int64_t> r) {
  std::vector<bool> seen(len.size(), false);
  for (int64_t x : r) {
    check(x >= 0 && x < num_rows() && !seen[x], "KV cache: row ", x, " is out of [0, ", num_rows(),
          ") or chosen twice");
    seen[x] = true;
  }
  rows = std::move(r);
}

void KVCache::truncate(int64_t r, int64_t n) {
  check(r >= 0 && r < num_rows() && n >= 0 && n <= len[r], "KV cache: cannot truncate row ", r,
        " to ", n, " positions");
  len[r] = n;
}

void KVCache::copy_row(const KVCache& from, int64_t from_row, int64_t r) {
  const int64_t n = from.len[from_row], row = k[0].dim(2) * k[0].dim(3), S = capacity();
  check(n <= S && from.k.size() == k.size(), "KV cache: a row of ", n,
        " positions does not fit one of ", S);
  std::vector<float> buf(static_cast<size_t>(n * row));
  for (size_t l = 0; l < k.size(); ++l)
    for (auto [src, dst] : {std::pair{&from.k[l], &k[l]}, std::pair{&from.v[l], &v[l]}}) {
      load_f32(*src, from_row * from.capacity() * row, n * row, buf.data());
      store_f32(*dst, r * S * row, n * row, buf.data());
    }
  len[r] = n;
}

std::vector<int64_t> start_positions(const KVCache* kv, int64_t B) {
  if (!kv) return std::vector<int64_t>(static_cast<size_t>(B), 0);
  const int64_t rows = kv->rows.empty() ? kv->num_rows() : int64_t(kv->rows.size());
  check(rows == B, "KV cache runs on ", rows, " rows, input has batch ", B);
  std::vector<int64_t> pos(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) pos[b] = kv->len[cache_row(*kv, b)];
  return pos;
}

std::vector<int64_t> cache_rows(const KVCache* kv) {
  return kv ? kv->rows : std::vector<int64_t>{};
}

std::pair<Tensor, Tensor> cache_kv(KVCache* kv, int64_t l, const Tensor& k, const Tensor& v) {
  if (!kv) return {k, v};
  int64_t B = k.dim(0), T = k.dim(1), row = k.dim(2) * k.dim(3), S = kv->capacity();
  std::vector<float> buf(static_cast<size_t>(T * row));
  for (int64_t b = 0; b < B; ++b) {
    const int64_t r = cache_row(*kv, b);
    check(kv->len[r] + T <= S, "context full: ", kv->len[r] + T,
          " positions needed, the KV cache holds ", S);
    for (auto [src, dst] : {std::pair{&k, &kv->k[l]}, std::pair{&v, &kv->v[l]}}) {
      load_f32(*src, b * T * row, T * row, buf.data());
      store_f32(*dst, (r * S + kv->len[r]) * row, T * row, buf.data());
    }
  }
  return {kv->k[l], kv->v[l]};
}

void advance(KVCache* kv, int64_t T) {
  if (!kv) return;
  if (kv->rows.empty())
    for (int64_t& n : kv->len) n += T;
  else
    for (int64_t r : kv->rows) kv->len[r] += T;
}

}  // namespace purelm
