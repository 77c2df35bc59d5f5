// The benchmark harness behind `purelm bench`: the machine's own limits and the model's speed,
// measured in the same run so that the ratios (bandwidth utilisation, MFU) hold on a shared,
// drifting host.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "purelm/core/dtype.h"

namespace purelm::dist {
class Mesh;
}

namespace purelm::bench {

struct Options {
  std::string model;      // checkpoint folder, HuggingFace repo id, or ARCH:PRESET
  std::string tokenizer;  // tokenizer folder ("" = the model's folder, when it has one)
  std::vector<std::string> tokenizer_texts;  // files to time the tokenizer on (none = skip)
  bool quick = false;  // shorter time budgets (fewer repetitions), same workloads
  bool train = true;
  DType kv_dtype = DType::F32;  // of the decode benchmark's KV cache
  std::optional<DType> quant;   // Q8 or Q4 weights (models/quantize.h); no training step then
  std::vector<int64_t> decode_batches = {1, 8, 32};  // a table row each, as --batch
  std::vector<int64_t> prefill_tokens = {512};       // prompt lengths T, as --prompt
  int64_t decode_context = 128, decode_steps = 16, attention_tokens = 4096;
  int64_t train_batch = 4, train_seq = 256;
};

// Runs every workload and returns the figures as one JSON object; progress goes to stderr.
nlohmann::ordered_json run(const Options& opt);
// The same on a mesh (bench/mesh.cpp): every process runs every workload on its part of the model;
// the report (complete on the leader) adds a "mesh" object with each axis's collectives per step
// and each process's memory. Attention alone and the tokenizer, single-process kernels, are left
// out.
nlohmann::ordered_json run(const Options& opt, const dist::Mesh& mesh);

// The same figures as markdown tables, with the formulas behind them.
std::string format_tables(const nlohmann::ordered_json& report);

}  // namespace purelm::bench
