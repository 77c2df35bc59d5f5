#include "purelm/models/family.h"

#include "purelm/core/error.h"

namespace purelm {

// Each model file (models/qwen3.cpp: namespace purelm::qwen3) defines its table and forward.
namespace qwen3 {
std::vector<WeightInfo> weights(const Config& c);
Tensor forward(const Model& m, const Tensor& ids, KVCache* kv);
}  // namespace qwen3
namespace llama {
std::vector<WeightInfo> weights(const Config& c);
Tensor forward(const Model& m, const Tensor& ids, KVCache* kv);
}  // namespace llama
namespace olmo2 {
std::vector<WeightInfo> weights(const Config& c);
Tensor forward(const Model& m, const Tensor& ids, KVCache* kv);
}  // namespace olmo2
namespace qwen3_moe {
std::vector<WeightInfo> weights(const Config& c);
Tensor forward(const Model& m, const Tensor& ids, KVCache* kv);
}  // namespace qwen3_moe

namespace {

using nlohmann::json;

// Qwen3 0.6B..32B as published (Qwen/Qwen3-*/config.json), and toy sizes ("tiny" for tests,
// "small" for quick training runs).
constexpr PresetShape kQwen3Presets[] = {
    {"tiny", 64, 2, 4, 2, 16, 160, 512, true},
    {"small", 192, 4, 6, 2, 32, 576, 512, true},
    {"0.6B", 1024, 28, 16, 8, 128, 3072, 151936, true},
    {"1.7B", 2048, 28, 16, 8, 128, 6144, 151936, true},
    {"4B", 2560, 36, 32, 8, 128, 9728, 151936, true},
    {"8B", 4096, 36, 32, 8, 128, 12288, 151936, false},
    {"14B", 5120, 40, 40, 8, 128, 17408, 151936, false},
    {"32B", 5120, 64, 64, 8, 128, 25600, 151936, false},
};
// The other families only at toy sizes; head_dim is D / N as their configs derive it.
constexpr PresetShape kToyPresets[] = {
    {"tiny", 64, 2, 4, 2, 16, 160, 512, false},
    {"small", 192, 4, 6, 2, 32, 576, 512, false},
};

void qwen3_keys(json& j, const PresetShape& s) {
  j.update({{"max_position_embeddings", 40960},
            {"rms_norm_eps", 1e-6},
            {"rope_theta", 1e6},
            {"use_sliding_window", false},
            {"sliding_window", nullptr},
            {"max_window_layers", s.L}});
}

void qwen3_moe_keys(json& j, const PresetShape& s) {
  qwen3_keys(j, s);
  j.update({{"num_experts", 4},  // of which 2 per token, every layer sparse
            {"num_experts_per_tok", 2},
            {"moe_intermediate_size", s.F / 2},
            {"norm_topk_prob", true},
            {"decoder_sparse_step", 1},
            {"mlp_only_layers", json::array()},
            {"router_aux_loss_coef", 0.001},
            {"output_router_logits", false}});
}

void llama_keys(json& j, const PresetShape&) {
  j.update({{"max_position_embeddings", 131072},
            {"rms_norm_eps", 1e-5},
            {"rope_theta", 5e5},
            {"mlp_bias", false},
            {"pretraining_tp", 1}});
}

void olmo2_keys(json& j, const PresetShape&) {
  j.update({{"max_position_embeddings", 4096}, {"rms_norm_eps", 1e-6}, {"rope_theta", 5e5}});
}

// The families, in the order errors list them. ConfigRules: model_type, HF class, then the
// defaults of head_dim (0: D / N), rope_theta and rms_norm_eps, and whether it has experts.
const Family kFamilies[] = {
    {{"qwen3", "Qwen3ForCausalLM", 128, 1e6, 1e-6},
     kQwen3Presets,
     qwen3_keys,
     qwen3::weights,
     qwen3::forward},
    {{"llama", "LlamaForCausalLM", 0, 10000, 1e-6},
     kToyPresets,
     llama_keys,
     llama::weights,
     llama::forward},
    {{"olmo2", "Olmo2ForCausalLM", 0, 10000, 1e-5},
     kToyPresets,
     olmo2_keys,
     olmo2::weights,
     olmo2::forward},
    {{"qwen3_moe", "Qwen3MoeForCausalLM", 128, 1e6, 1e-6, true},
     kToyPresets,
     qwen3_moe_keys,
     qwen3_moe::weights,
     qwen3_moe::forward},
};

std::span<const ConfigRules* const> config_rules() {
  static const std::vector<const ConfigRules*> rules = [] {
    std::vector<const ConfigRules*> r;
    for (const Family& f : kFamilies) r.push_back(&f.config);
    return r;
  }();
  return rules;
}

}  // namespace

std::span<const Family> families() { return kFamilies; }

const Family* find_family(const std::string& model_type) {
  for (const Family& f : kFamilies)
    if (model_type == f.config.model_type) return &f;
  return nullptr;
}

const Family& family_for(const std::string& model_type) {
  const Family* f = find_family(model_type);
  if (!f) fail("unsupported model_type '", model_type, "' (supported: ", family_names(), ")");
  return *f;
}

std::string family_names() {
  std::string names;
  for (const Family& f : kFamilies)
    names += (names.empty() ? "" : ", ") + std::string(f.config.model_type);
  return names;
}

Config parse_config(const nlohmann::json& j, const std::string& origin) {
  return parse_config(j, origin, config_rules());
}

Config load_config(const std::string& path) { return load_config(path, config_rules()); }

std::vector<WeightInfo> weight_table(const Config& c) {
  std::vector<WeightInfo> t = family_for(c.model_type).weights(c);
  if (c.quant && c.tie_word_embeddings)
    t.push_back({"lm_head.weight", {c.vocab_size, c.hidden_size}, {"vocab", "embed"}});
  return t;
}

}  // namespace purelm
