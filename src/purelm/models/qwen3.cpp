// Qwen3 (HF Qwen3ForCausalLM): pre-norm decoder, RMSNorm on each query and key head before RoPE,
// SwiGLU MLP, grouped-query attention with an explicit head_dim.
#include "purelm/models/model.h"
#include "purelm/ops/ops.h"

namespace purelm::qwen3 {

std::vector<WeightInfo> weights(const Config& c) {
  int64_t V = c.vocab_size, D = c.hidden_size, F = c.intermediate_size, N = c.num_attention_heads,
          K = c.num_key_value_heads, H = c.head_dim;
  std::vector<WeightInfo> t{{"model.embed_tokens.weight", {V, D}, {"vocab", "embed"}}};
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    t.push_back({p + "input_layernorm.weight", {D}, {"embed"}, Init::Ones});
    t.push_back({p + "self_attn.q_proj.weight", {N * H, D}, {"q_heads", "embed"}});
    t.push_back({p + "self_attn.k_proj.weight", {K * H, D}, {"kv_heads", "embed"}});
    t.push_back({p + "self_attn.v_proj.weight", {K * H, D}, {"kv_heads", "embed"}});
    t.push_back({p + "self_attn.o_proj.weight", {D, N * H}, {"embed", "q_heads"}});
    t.push_back({p + "self_attn.q_norm.weight", {H}, {"head_dim"}, Init::Ones});
    t.push_back({p + "self_attn.k_norm.weight", {H}, {"head_dim"}, Init::Ones});
    t.push_back({p + "post_attention_layernorm.weight", {D}, {"embed"}, Init::Ones});
    t.push_back({p + "mlp.gate_proj.weight", {F, D}, {"mlp", "embed"}});
    t.push_back({p + "mlp.up_proj.weight", {F, D}, {"mlp", "embed"}});
    t.push_back({p + "mlp.down_proj.weight", {D, F}, {"embed", "mlp"}});
  }
  t.push_back({"model.norm.weight", {D}, {"embed"}, Init::Ones});
  if (!c.tie_word_embeddings) t.push_back({"lm_head.weight", {V, D}, {"vocab", "embed"}});
  return t;
}

Tensor forward(const Model& m, const Tensor& ids, KVCache* kv) {
  const Config& c = m.config;
  int64_t B = ids.dim(0), T = ids.dim(1), N = c.num_attention_heads, K = c.num_key_value_heads,
          H = c.head_dim;
  float eps = float(c.rms_norm_eps);
  std::vector<int64_t> pos = start_positions(kv, B);
  Tensor x = embedding(m.w("model.embed_tokens.weight"), ids, m.act);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    x = m.block(x, [=, &m, &c](Tensor x) {  // decoder layer l
      auto w = [&](const char* name) { return m.layer(l, name); };
      Tensor h = rmsnorm(x, w("input_layernorm.weight"), eps);
      Tensor q = reshape(linear(h, w("self_attn.q_proj.weight")), {B, T, N, H});
      Tensor k = reshape(linear(h, w("self_attn.k_proj.weight")), {B, T, K, H});
      Tensor v = reshape(linear(h, w("self_attn.v_proj.weight")), {B, T, K, H});
      q = rope(rmsnorm(q, w("self_attn.q_norm.weight"), eps), m.rope_inv_freq, pos);
      k = rope(rmsnorm(k, w("self_attn.k_norm.weight"), eps), m.rope_inv_freq, pos);
      auto [ks, vs] = cache_kv(kv, l, k, v);
      Tensor a = reshape(attention(q, ks, vs, pos, {c.attention_dropout, m.place}, cache_rows(kv)),
                         {B, T, N * H});
      x = add(x, linear(a, w("self_attn.o_proj.weight")));
      h = rmsnorm(x, w("post_attention_layernorm.weight"), eps);
      Tensor gate = linear(h, w("mlp.gate_proj.weight")), up = linear(h, w("mlp.up_proj.weight"));
      return add(x, linear(swiglu(gate, up), w("mlp.down_proj.weight")));
    });
  }
  advance(kv, T);
  return rmsnorm(x, m.w("model.norm.weight"), eps);
}

}  // namespace purelm::qwen3
