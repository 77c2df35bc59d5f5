// Random initialisation from a family's weights table, as transformers' _init_weights does it:
// Normal(0, initializer_range) for matrices, ones for norm weights, zeros where the table says so.
#pragma once

#include <cstdint>
#include <string>

#include "purelm/models/model.h"
#include "purelm/train/hf_writer.h"

namespace purelm {

// One weight, a pure function of (seed, name): the same whatever order or thread count.
Tensor init_weight(const WeightInfo& w, double std, uint64_t seed, DType dtype);

// The weights of a random init one at a time, each a pure function of (seed, name), so every
// process of a mesh draws the same; in c.torch_dtype.
WeightSource random_weights(const Config& c, uint64_t seed);

// A fresh model in memory, weights in c.torch_dtype.
Model random_model(const Config& c, uint64_t seed, DType act = DType::F32);

// Writes a random checkpoint folder (config.json, weights, generation_config.json and the given
// tokenizer files), one tensor at a time; `progress` reports bytes written.
void write_random_checkpoint(const Config& c, uint64_t seed, const std::string& dir,
                             const FileSet& tokenizer_files,
                             const std::function<void(int64_t, int64_t)>& progress = {});

// initializer_range from the config (0.02 when absent, as transformers defaults it).
double init_std(const Config& c);

// generation_config.json from the config's bos/eos ids.
std::string generation_config_json(const Config& c);

}  // namespace purelm
