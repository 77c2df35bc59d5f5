// config.json of a HuggingFace checkpoint. What differs between families (their names, defaults
// and extra fields) comes in as data: each family's ConfigRules, owned by models/family.h.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "purelm/core/dtype.h"

namespace purelm {

struct RopeScaling {  // rope_type "llama3" (Llama 3.1 / 3.2)
  double factor = 1, low_freq_factor = 1, high_freq_factor = 4;
  int64_t original_max_position_embeddings = 8192;
};

// What one family's config.json holds beyond the fields every family shares.
struct ConfigRules {
  const char* model_type;
  const char* architecture;    // HF's class, for a config.json that names none
  int64_t head_dim = 0;        // when config.json has none; 0: hidden_size / num_attention_heads
  double rope_theta = 10000;   // when config.json has none
  double rms_norm_eps = 1e-6;  // when config.json has none
  bool experts = false;        // the Qwen3-MoE fields (num_experts, ...)
};

struct Config {
  std::string model_type;           // a family's (models/family.h)
  int64_t vocab_size = 0;           // V
  int64_t hidden_size = 0;          // D
  int64_t intermediate_size = 0;    // F
  int64_t num_hidden_layers = 0;    // L
  int64_t num_attention_heads = 0;  // N
  int64_t num_key_value_heads = 0;  // K
  int64_t head_dim = 0;             // H
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double attention_dropout = 0;  // on the attention weights, in training only (as HF)
  double rope_theta = 10000;
  std::optional<RopeScaling> rope_scaling;
  bool tie_word_embeddings = false;
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  DType torch_dtype = DType::F32;
  // Q8 or Q4 for a checkpoint `purelm quantize` wrote (quantization_config; models/quantize.h).
  std::optional<DType> quant;
  // Qwen3-MoE
  int64_t num_experts = 0;          // E
  int64_t num_experts_per_tok = 0;  // k
  int64_t moe_intermediate_size = 0;
  bool norm_topk_prob = false;
  int64_t decoder_sparse_step = 1;
  std::vector<int64_t> mlp_only_layers;

  nlohmann::json raw;  // the file as read, so a saved checkpoint keeps fields purelm ignores
  const ConfigRules* rules = nullptr;  // its family's (set by parse_config), which outlive it

  bool is_sparse_layer(int64_t l) const;  // does layer l use the experts?
};

// Parses and validates a config.json whose model_type is one of `families`; `origin` (a path) is
// named in every error. (models/family.h has these with every family purelm supports.)
Config parse_config(const nlohmann::json& j, const std::string& origin,
                    std::span<const ConfigRules* const> families);
Config load_config(const std::string& path, std::span<const ConfigRules* const> families);
nlohmann::json config_to_json(const Config& c);  // raw updated with the parsed fields

}  // namespace purelm
