#include "purelm/train/presets.h"

#include <algorithm>

#include "purelm/core/error.h"
#include "purelm/models/family.h"

namespace purelm {

namespace {

const char* torch_dtype(DType t) { return t == DType::BF16 ? "bfloat16" : "float32"; }

}  // namespace

bool is_toy_preset(const std::string& preset) { return preset == "tiny" || preset == "small"; }

std::vector<std::string> preset_names(const std::string& arch) {
  std::vector<std::string> names;
  for (const PresetShape& s : family_for(arch).presets) names.push_back(s.name);
  return names;
}

Config preset_config(const std::string& arch, const std::string& preset, DType dtype) {
  const Family* family = find_family(arch);
  check(family != nullptr, "unknown architecture '", arch, "' (supported: ", family_names(), ")");
  check(dtype == DType::F32 || dtype == DType::BF16, "weights are stored as f32 or bf16");
  auto all = family->presets;
  auto it =
      std::find_if(all.begin(), all.end(), [&](const PresetShape& s) { return preset == s.name; });
  if (it == all.end()) {
    std::string names;
    for (const PresetShape& s : all) names += (names.empty() ? "" : ", ") + std::string(s.name);
    fail("unknown preset '", preset, "' for ", arch, " (available: ", names, ")");
  }
  const PresetShape& s = *it;
  nlohmann::json j = {
      {"model_type", arch},
      {"vocab_size", s.V},
      {"hidden_size", s.D},
      {"intermediate_size", s.F},
      {"num_hidden_layers", s.L},
      {"num_attention_heads", s.N},
      {"num_key_value_heads", s.K},
      {"head_dim", s.H},
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
  family->preset_keys(j, s);
  return parse_config(j, arch + ":" + preset);
}

std::optional<std::pair<std::string, std::string>> parse_model_preset(const std::string& spec) {
  size_t colon = spec.find(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string arch = spec.substr(0, colon);
  if (!find_family(arch)) return std::nullopt;
  return std::pair{arch, spec.substr(colon + 1)};
}

}  // namespace purelm
