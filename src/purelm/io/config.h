// config.json of a HuggingFace checkpoint, for the families purelm supports.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "purelm/core/dtype.h"

namespace purelm {

struct RopeScaling {  // rope_type "llama3" (Llama 3.1 / 3.2)
  double factor = 1, low_freq_factor = 1, high_freq_factor = 4;
  int64_t original_max_position_embeddings = 8192;
};

struct Config {
  std::string model_type;           // qwen3 | llama | olmo2 | qwen3_moe
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

  bool is_sparse_layer(int64_t l) const;  // qwen3_moe: does layer l use the experts?
};

// Parses and validates; `origin` (a path) is named in every error.
Config parse_config(const nlohmann::json& j, const std::string& origin);
Config load_config(const std::string& path);
nlohmann::json config_to_json(const Config& c);  // raw updated with the parsed fields

}  // namespace purelm
