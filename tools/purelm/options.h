// Flags shared by several commands.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "purelm/core/dtype.h"
#include "purelm/ids.h"
#include "purelm/models/model.h"
#include "purelm/sample/sampler.h"

namespace purelm::cli {

// --dtype f32|bf16: the dtype activations are computed in.
void add_dtype_option(CLI::App* cmd, std::string* dtype);
DType parse_compute_dtype(const std::string& s);
// --kv-cache f32|bf16: the storage of the KV cache (parsed by parse_compute_dtype too).
void add_kv_cache_option(CLI::App* cmd, std::string* dtype);

// --quant none|q8|q4: quantize the linear layers' weights at load time, for inference.
void add_quant_option(CLI::App* cmd, std::string* quant);
std::optional<DType> parse_quant(const std::string& s);  // nullopt for "none"
// Quantizes m as --quant asks (nothing for "none"), saying so on stderr.
void apply_quant(Model& m, const std::string& quant);
// A checkpoint (folder or repo id) loaded for inference on this process: activations in `act`,
// weights quantized as --quant says.
Model load_inference_model(const std::string& spec, DType act, const std::string& quant);

// The sampling flags of every command that samples (--temperature, --top-k, --top-p, --min-p,
// --repetition-penalty, --seed). A flag the user gives overrides the checkpoint's default
// (generation_config.json); the others keep it.
struct SamplerFlags {
  std::optional<float> temperature, top_p, min_p, repetition_penalty;
  std::optional<int64_t> top_k;
  uint64_t seed = 0;
  SamplerConfig over(SamplerConfig defaults) const;
};
void add_sampler_flags(CLI::App* cmd, SamplerFlags* f);

// A progress line on stderr for write_weights, for writes of a gigabyte or more.
std::function<void(int64_t, int64_t)> write_progress();

}  // namespace purelm::cli
