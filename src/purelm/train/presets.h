// Named model shapes for a random initialisation (each family's presets, models/family.h): toy
// sizes ("tiny" for tests, "small" for quick training runs) of every architecture, and the real
// Qwen3 shapes from the published configs.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "purelm/io/config.h"

namespace purelm {

// A complete config (raw filled with the keys HuggingFace expects), vocab_size from the preset:
// the real vocabulary for real shapes, 512 for toys (callers usually set it from the tokenizer).
// Weights are stored in `dtype`. Throws listing the presets when the name is unknown.
Config preset_config(const std::string& arch, const std::string& preset, DType dtype = DType::F32);
bool is_toy_preset(const std::string& preset);  // vocab_size is the tokenizer's business
std::vector<std::string> preset_names(const std::string& arch);

// "qwen3:tiny" -> {"qwen3", "tiny"}; nullopt when `spec` does not have that form (a path or a
// HuggingFace repo id).
std::optional<std::pair<std::string, std::string>> parse_model_preset(const std::string& spec);

}  // namespace purelm
