// `purelm generate`'s loop, as a client of the serving engine: each prompt is a request in its own
// slot of one Engine, which prefills it whole and decodes every running prompt as one batch, on
// the calling thread (a model on a mesh runs its collectives on the thread that set MPI up).
#pragma once

#include <functional>
#include <vector>

#include "purelm/models/model.h"
#include "purelm/sample/sampler.h"

namespace purelm {

struct GenerateOptions {
  int64_t max_tokens = 128;
  SamplerConfig sampler;         // prompt i samples with its own generator, seeded sampler.seed + i
  std::vector<int64_t> eos_ids;  // stop a row at any of these (the EOS token is not emitted)
  DType kv_dtype = DType::F32;   // of the KV cache (init_kv)
};

struct GenerateStats {
  int64_t prompt_tokens = 0, generated_tokens = 0;
  // Until the last prompt's first token, then the rest.
  double prefill_seconds = 0, decode_seconds = 0;
};

// on_token(row, id) is called as each token is chosen; returning false stops that row.
std::vector<std::vector<int32_t>> generate(
    const Model& m, const std::vector<std::vector<int32_t>>& prompts, const GenerateOptions& opt,
    const std::function<bool(size_t, int32_t)>& on_token = {}, GenerateStats* stats = nullptr);

}  // namespace purelm
