// What purelm knows of each model family, in one entry of family.cpp's table: its config.json
// (name, HuggingFace class, defaults), its named shapes for a random init, and its model file's
// weights table and forward. Adding a family is a model file and an entry
// (docs/adding_a_family.md).
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "purelm/core/tensor.h"
#include "purelm/io/config.h"

namespace purelm {

enum class Init { Normal, Ones, Zeros };

// One parameter: its HuggingFace name, shape, logical axes (what a mesh may split) and initializer.
struct WeightInfo {
  std::string name;
  Shape shape;
  std::vector<std::string> axes;
  Init init = Init::Normal;
};

struct Model;
struct KVCache;

// A named shape for a random initialisation (train/presets.h): D, L layers, N query and K kv heads
// of H, MLP width F, vocabulary V, tied embeddings or not.
struct PresetShape {
  const char* name;
  int64_t D, L, N, K, H, F, V;
  bool tied;
};

struct Family {
  ConfigRules config;  // model_type, the class name, the defaults config.json may leave out
  std::span<const PresetShape> presets;
  // The keys a fresh config.json of this family holds beyond the shape (as HF writes a new one).
  void (*preset_keys)(nlohmann::json& j, const PresetShape& s);
  // From the model file (models/<family>.cpp), the math: every parameter of a model of config c,
  // and ids I32 [B, T] -> final hidden states [B, T, D], after the final norm (appends to kv).
  std::vector<WeightInfo> (*weights)(const Config& c);
  Tensor (*forward)(const Model& m, const Tensor& ids, KVCache* kv);
};

std::span<const Family> families();
const Family* find_family(const std::string& model_type);  // nullptr when unsupported
const Family& family_for(const std::string& model_type);   // throws listing the supported ones
std::string family_names();                                // "qwen3, llama, olmo2, qwen3_moe"

// config.json of any supported family (io/config.h, with the families' rules).
Config parse_config(const nlohmann::json& j, const std::string& origin);
Config load_config(const std::string& path);

// Every weight a model of `c` holds, in checkpoint order: the family's table and, when the weights
// are quantized and the embedding tied, the output projection's own quantized copy of it, stored
// as lm_head.weight (models/quantize.h). The loader, the writer, the mesh and quantization all
// iterate this table.
std::vector<WeightInfo> weight_table(const Config& c);

}  // namespace purelm
