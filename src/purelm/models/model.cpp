#include "purelm/models/model.h"

#include <cstring>

#include "purelm/io/hf_folder.h"
#include "purelm/io/safetensors.h"
#include "purelm/models/quantize.h"
#include "purelm/ops/autograd.h"
#include "purelm/ops/matmul.h"
#include "purelm/ops/rope.h"
#include "purelm/ops/rows.h"

namespace purelm {

extern const Family kQwen3, kLlama, kOlmo2, kQwen3Moe;

const Family& family_for(const std::string& model_type) {
  for (const Family* f : {&kQwen3, &kLlama, &kOlmo2, &kQwen3Moe})
    if (model_type == f->model_type) return *f;
  fail("unsupported model_type '", model_type, "' (supported: qwen3, llama, olmo2, qwen3_moe)");
}

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

const Tensor& Model::w(const std::string& name) const {
  if (on_use) on_use(name);
  auto it = weights.find(name);
  check(it != weights.end(), "model has no weight '", name, "'");
  return it->second;
}

const Tensor& Model::layer(int64_t l, const char* name) const {
  return w("model.layers." + std::to_string(l) + "." + name);
}

const Tensor& Model::output_weight() const {
  // A tied model has an "lm_head.weight" only when quantized (models/quantize.h).
  bool tied = config.tie_word_embeddings && !weights.contains("lm_head.weight");
  return w(tied ? "model.embed_tokens.weight" : "lm_head.weight");
}

Tensor Model::logits(const Tensor& ids, KVCache* kv) const {
  return linear_whole(hidden(ids, kv), output_weight());
}

Tensor Model::block(const Tensor& x, std::function<Tensor(Tensor)> body) const {
  return recompute ? checkpoint(x, std::move(body)) : body(x);
}

Model make_model(const Config& c, std::unordered_map<std::string, Tensor> weights, DType act) {
  return make_model(c, std::move(weights), act, family_for(c.model_type).weights(c));
}

Model make_model(const Config& c, std::unordered_map<std::string, Tensor> weights, DType act,
                 const std::vector<WeightInfo>& table) {
  check(act == DType::F32 || act == DType::BF16, "activations compute in f32 or bf16");
  Model m;
  m.config = c;
  m.family = &family_for(c.model_type);
  m.act = act;
  for (const WeightInfo& info : table) {
    auto it = weights.find(info.name);
    check(it != weights.end(), "checkpoint is missing weight '", info.name, "' (", c.model_type,
          " expects shape ", info.shape, ")");
    check(it->second.shape() == info.shape, "weight '", info.name, "' has shape ",
          it->second.shape(), " but config.json implies ", info.shape);
    check(is_float(it->second.dtype()) ||
              (is_quantized(it->second.dtype()) && info.shape.size() == 2),
          "weight '", info.name, "' has dtype ", dtype_name(it->second.dtype()),
          "; weights must be F32, BF16 or F16 (matrices also Q8 or Q4)");
    m.weights[info.name] = it->second;
  }
  m.rope_inv_freq = rope_inv_freq(c.head_dim, c.rope_theta);
  if (c.rope_scaling) {
    const RopeScaling& s = *c.rope_scaling;
    rope_llama3_scale(m.rope_inv_freq, s.factor, s.low_freq_factor, s.high_freq_factor,
                      double(s.original_max_position_embeddings));
  }
  return m;
}

WeightInfo lm_head_info(const Config& c) {
  return {"lm_head.weight", {c.vocab_size, c.hidden_size}, {"vocab", "embed"}};
}

WeightSource checkpoint_weights(const std::string& dir) {
  return [store = TensorStore::open_dir(dir),
          c = load_config(dir + "/config.json")](const WeightInfo& w) {
    Tensor t = store.get(w.name);
    if (t.dtype() == DType::U8) t = stored_quantized(t, w, c);
    check(t.shape() == w.shape, "weight '", w.name, "' has shape ", t.shape(),
          " but config.json implies ", w.shape);
    return t;
  };
}

Model load_model(const std::string& spec, DType act) {
  std::string dir = resolve_model_dir(spec);
  Config c = load_config(dir + "/config.json");
  TensorStore store = TensorStore::open_dir(dir);
  auto get = [&](const WeightInfo& info) {
    Tensor t = store.get(info.name);
    return t.dtype() == DType::U8 ? stored_quantized(t, info, c) : t;
  };
  std::unordered_map<std::string, Tensor> weights;
  for (const WeightInfo& info : family_for(c.model_type).weights(c))
    if (store.contains(info.name)) weights[info.name] = get(info);
  Model m = make_model(c, std::move(weights), act);
  // A tied model's quantized output projection (models/quantize.h).
  if (c.quant && c.tie_word_embeddings && store.contains("lm_head.weight"))
    m.weights["lm_head.weight"] = get(lm_head_info(c));
  m.dir = dir;
  return m;
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
