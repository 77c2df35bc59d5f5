// What the report of one process (run.cpp) and of a mesh (mesh.cpp) share: time budgets, the
// model's description and the workloads that both run.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "bench/bench.h"
#include "bench/machine.h"
#include "bench/workloads.h"

namespace purelm::bench {

// Seconds of timed repetitions per test: enough for a stable best on a shared host, or, with
// --quick, just enough to exercise everything.
struct Budgets {
  double machine, decode, prefill, attention, train, tokenizer;
};
Budgets budgets(bool quick);

// The whole model's shape, and the dtypes its weights and activations run in.
nlohmann::ordered_json model_json(const std::string& spec, const Config& c, DType weights,
                                  DType act);

// r["decode"], a row per o.decode_batches, against lim's all-thread read bandwidth, and
// r["prefills"], a row per o.prefill_tokens, against the matmul peak of the model's operands
// (r["prefill"]: the first of them).
void add_inference(nlohmann::ordered_json& r, const Options& o, const Budgets& b,
                   const MachineLimits& lim, const Model& m, const Place& at = {});

// r["train"]: purelm train's default (f32), then --dtype bf16 without and with --recompute.
void add_training(nlohmann::ordered_json& r, const Options& o, const Budgets& b,
                  const MachineLimits& lim, Model& m, const Place& at = {});

}  // namespace purelm::bench
