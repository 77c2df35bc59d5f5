// Qwen3-MoE (HF Qwen3MoeForCausalLM): Qwen3 whose sparse layers replace the MLP by E experts; a
// router picks k per token (softmax over all, top-k, optionally renormalised) and their SwiGLU
// outputs are summed with those weights. No shared expert, no load-balancing loss.
#include "purelm/models/model.h"
#include "purelm/ops/ops.h"

namespace purelm::qwen3_moe {

std::vector<WeightInfo> weights(const Config& c) {
  int64_t V = c.vocab_size, D = c.hidden_size, N = c.num_attention_heads, K = c.num_key_value_heads,
          H = c.head_dim;
  std::vector<WeightInfo> t{{"model.embed_tokens.weight", {V, D}, {"vocab", "embed"}}};
  auto mlp = [&](const std::string& p, int64_t F) {
    t.push_back({p + "gate_proj.weight", {F, D}, {"mlp", "embed"}});
    t.push_back({p + "up_proj.weight", {F, D}, {"mlp", "embed"}});
    t.push_back({p + "down_proj.weight", {D, F}, {"embed", "mlp"}});
  };
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
    if (!c.is_sparse_layer(l)) {
      mlp(p + "mlp.", c.intermediate_size);
      continue;
    }
    t.push_back({p + "mlp.gate.weight", {c.num_experts, D}, {"experts", "embed"}});
    for (int64_t e = 0; e < c.num_experts; ++e)
      mlp(p + "mlp.experts." + std::to_string(e) + ".", c.moe_intermediate_size);
  }
  t.push_back({"model.norm.weight", {D}, {"embed"}, Init::Ones});
  if (!c.tie_word_embeddings) t.push_back({"lm_head.weight", {V, D}, {"vocab", "embed"}});
  return t;
}

namespace {

Tensor swiglu_mlp(const Model& m, const std::string& p, const Tensor& x) {
  Tensor gate = linear(x, m.w(p + "gate_proj.weight")), up = linear(x, m.w(p + "up_proj.weight"));
  return linear(swiglu(gate, up), m.w(p + "down_proj.weight"));
}

Tensor sparse_mlp(const Model& m, int64_t l, const Tensor& h) {
  const Config& c = m.config;
  int64_t D = c.hidden_size, M = h.numel() / D, k = c.num_experts_per_tok;
  std::string p = "model.layers." + std::to_string(l) + ".mlp.";
  Tensor x = reshape(h, {M, D});
  Routing r = route_topk(linear(x, m.w(p + "gate.weight")), k, c.norm_topk_prob);
  Tensor slot_weights = reshape(r.weights, {M * k, 1});
  std::vector<ExpertBatch> groups = group_by_expert(r, c.num_experts);
  std::vector<Tensor> parts(groups.size());
  std::vector<std::vector<int32_t>> rows(groups.size());
  for (size_t e = 0; e < groups.size(); ++e) {
    if (groups[e].tokens.empty()) continue;
    Tensor y =
        swiglu_mlp(m, p + "experts." + std::to_string(e) + ".", gather_rows(x, groups[e].tokens));
    parts[e] = scale_rows(y, gather_rows(slot_weights, groups[e].slots));
    rows[e] = groups[e].tokens;
  }
  return reshape(combine_rows(parts, rows, M, h.dtype()), h.shape());
}

}  // namespace

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
      std::string p = "model.layers." + std::to_string(l) + ".mlp.";
      return add(x, c.is_sparse_layer(l) ? sparse_mlp(m, l, h) : swiglu_mlp(m, p, h));
    });
  }
  advance(kv, T);
  return rmsnorm(x, m.w("model.norm.weight"), eps);
}

}  // namespace purelm::qwen3_moe
