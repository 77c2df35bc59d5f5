// The generation loop: prefill each prompt into its row of one KV cache, then decode all rows
// together, one token per step, each row at its own position, until every row has stopped.
#pragma once

#include <functional>
#include <vector>

#include "purelm/models/model.h"
#include "purelm/sample/sampler.h"

namespace purelm {

struct GenerateOptions {
  int64_t max_tokens = 128;
  SamplerConfig sampler;
  std::vector<int64_t> eos_ids;  // stop a row at any of these (the EOS token is not emitted)
  DType kv_dtype = DType::F32;   // of the KV cache (init_kv)
};

struct GenerateStats {
  int64_t prompt_tokens = 0, generated_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
};

// Logits of the last position of each row of hidden states h [B, T, D] (Model::hidden): [B, V] as
// float32, all that sampling needs of a prompt or of a decode step.
std::vector<float> last_logits(const Model& m, const Tensor& h);

// on_token(row, id) is called as each token is chosen; returning false stops that row.
std::vector<std::vector<int32_t>> generate(
    const Model& m, const std::vector<std::vector<int32_t>>& prompts, const GenerateOptions& opt,
    const std::function<bool(size_t, int32_t)>& on_token = {}, GenerateStats* stats = nullptr);

}  // namespace purelm
