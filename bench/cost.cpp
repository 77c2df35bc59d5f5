#include "bench/cost.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace purelm::bench {

namespace {

bool is_embedding(const std::string& name) {
  return name == "model.embed_tokens.weight" || name == "lm_head.weight";
}

bool is_expert(const std::string& name) { return name.find(".mlp.experts.") != std::string::npos; }

double routed_share(const Config& c) {
  return double(c.num_experts_per_tok) / double(c.num_experts);
}

}  // namespace

ModelSize model_size(const Config& c) {
  ModelSize s;
  s.matmul_params = double(c.vocab_size) * double(c.hidden_size);  // the LM head
  for (const WeightInfo& w : family_for(c.model_type).weights(c)) {
    const int64_t n = numel(w.shape);
    s.params += n;
    if (!is_embedding(w.name))
      s.matmul_params += double(n) * (is_expert(w.name) ? routed_share(c) : 1);
  }
  return s;
}

double attention_flops(const Config& c, int64_t T) {
  return 2.0 * 2.0 * double(T) * double(T) / 2.0 * double(c.num_attention_heads) *
         double(c.head_dim) * double(c.num_hidden_layers);
}

double forward_flops(const Config& c, int64_t T) {
  return 2.0 * model_size(c).matmul_params * double(T) + attention_flops(c, T);
}

double prefill_flops(const Config& c, int64_t T) {
  return forward_flops(c, T) -
         2.0 * double(c.hidden_size) * double(c.vocab_size) * double(std::max<int64_t>(T - 1, 0));
}

double train_flops(const Config& c, int64_t B, int64_t T) {
  return 3.0 * double(B) * forward_flops(c, T);
}

double decode_weight_bytes(const Model& m, int64_t B) {
  const Config& c = m.config;
  const double hit = c.num_experts > 0 ? 1 - std::pow(1 - routed_share(c), double(B)) : 1;
  double bytes = 0;
  const Tensor& head = m.output_weight();
  for (const auto& [name, w] : m.weights) {
    const double size = double(w.nbytes());  // quantized weights count their blocks' bytes
    if (name == "model.embed_tokens.weight" && w.raw() != head.raw())
      bytes += size / double(w.dim(0)) * double(B);
    else
      bytes += size * (is_expert(name) ? hit : 1);
  }
  return bytes;
}

double kv_bytes_per_position(const Config& c, DType kv_dtype) {
  return 2.0 * double(c.num_hidden_layers) * double(c.num_key_value_heads) * double(c.head_dim) *
         double(dtype_size(kv_dtype));
}

}  // namespace purelm::bench
