// Defaults a checkpoint suggests for generation: generation_config.json (HF), with the EOS ids of
// config.json and the tokenizer added.
#pragma once

#include <string>
#include <vector>

#include "purelm/models/model.h"
#include "purelm/sample/sampler.h"

namespace purelm {

struct GenerationDefaults {
  SamplerConfig sampler;         // greedy unless the file asks for sampling (do_sample)
  std::vector<int64_t> eos_ids;  // every id that ends a sequence
};

// Reads DIR/generation_config.json when present; otherwise greedy decoding.
GenerationDefaults generation_defaults(const Model& m, const std::vector<int64_t>& tokenizer_eos);

}  // namespace purelm
