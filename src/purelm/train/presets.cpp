#include "purelm/train/presets.h"

#include <algorithm>
#include <span>

#include "purelm/core/error.h"

namespace purelm {

namespace {

struct PresetShape {
  const char* name;
  int64_t D, L, N, K, H, F, V;
  bool tied;
};

// Qwen3 0.6B..32B as published (Qwen/Qwen3-*/config.json).
constexpr PresetShape kQwen3[] = {
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
constexpr PresetShape kToys[] = {
    {"tiny", 64, 2, 4, 2, 16, 160, 512, false},
    {"small", 192, 4, 6, 2, 32, 576, 512, false},
};

const char* const kArchs[] = {"qwen3", "llama", "olmo2", "qwen3_moe"};

std::span<const PresetShape> shapes(const std::string& arch) {
  if (arch == "qwen3") return kQwen3;
  return kToys;
}

const char* torch_dtype(DType t) { return t == DType::BF16 ? "bfloat16" : "float32"; }

}  // namespace

bool is_toy_preset(const std::string& preset) { return preset == "tiny" || preset == "small"; }

std::vector<std::string> preset_names(const std::string& arch) {
  std::vector<std::string> names;
  for (const PresetShape& s : shapes(arch)) names.push_back(s.name);
  return names;
}

Config preset_config(const std::string& arch, const std::string& preset, DType dtype) {
  check(std::find(std::begin(kArchs), std::end(kArchs), arch) != std::end(kArchs),
        "unknown architecture '", arch, "' (supported: qwen3, llama, olmo2, qwen3_moe)");
  check(dtype == DType::F32 || dtype == DType::BF16, "weights are stored as f32 or bf16");
  auto all = shapes(arch);
  auto it =
      std::find_if(all.begin(), all.end(), [&](const PresetShape& s) { return preset == s.name; });
  if (it == all.end()) {
    std::string names;
    for (const PresetShape& s : all) names += (names.empty() ? "" : ", ") + std::string(s.name);
    fail("unknown preset '", preset, "' for ", arch, " (available: ", names, ")");
  }
  const PresetShape& s = *it;
  const bool qwen = arch == "qwen3" || arch == "qwen3_moe";
  nlohmann::json j = {
      {"model_type", arch},
      {"vocab_size", s.V},
      {"hidden_size", s.D},
      {"intermediate_size", s.F},
      {"num_hidden_layers", s.L},
      {"num_attention_heads", s.N},
      {"num_key_value_heads", s.K},
      {"head_dim", qwen ? s.H : s.D / s.N},
      {"max_position_embeddings", qwen              ? 40960
                                  : arch == "llama" ? 131072
                                                    : 4096},
      {"rms_norm_eps", arch == "llama" ? 1e-5 : 1e-6},
      {"rope_theta", qwen ? 1e6 : 5e5},
      {"rope_scaling", nullptr},
      {"tie_word_embeddings", s.tied},
      {"torch_dtype", torch_dtype(dtype)},
      {"hidden_act", "silu"},
      {"initializer_range", 0.02},
      {"attention_bias", false},
      {"attention_dropout", 0.0},
      {"use_cache", true},
      {"transformers_version", "4.51.0"},
  };
  if (qwen) {
    j["use_sliding_window"] = false;
    j["sliding_window"] = nullptr;
    j["max_window_layers"] = s.L;
  }
  if (arch == "llama") {
    j["mlp_bias"] = false;
    j["pretraining_tp"] = 1;
  }
  if (arch == "qwen3_moe") {  // 4 experts of which 2 per token, every layer sparse
    j["num_experts"] = 4;
    j["num_experts_per_tok"] = 2;
    j["moe_intermediate_size"] = s.F / 2;
    j["norm_topk_prob"] = true;
    j["decoder_sparse_step"] = 1;
    j["mlp_only_layers"] = nlohmann::json::array();
    j["router_aux_loss_coef"] = 0.001;
    j["output_router_logits"] = false;
  }
  return parse_config(j, arch + ":" + preset);
}

std::optional<std::pair<std::string, std::string>> parse_model_preset(const std::string& spec) {
  size_t colon = spec.find(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string arch = spec.substr(0, colon);
  if (std::find(std::begin(kArchs), std::end(kArchs), arch) == std::end(kArchs))
    return std::nullopt;
  return std::pair{arch, spec.substr(colon + 1)};
}

}  // namespace purelm
