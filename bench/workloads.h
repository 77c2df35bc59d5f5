// The workloads `purelm bench` times, each returning its row(s) of the report as JSON. `budget` is
// the seconds of timed repetitions (harness.h: best_seconds).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/harness.h"
#include "purelm/models/model.h"
#include "purelm/train/data_parallel.h"

namespace purelm::bench {

// Where a workload runs: one process holding the whole model (the default), or one process of a
// mesh. There the model is this process's part (a TP slice, FSDP-sharded), `full` is the whole
// model's config (the FLOPs are counted on it), `groups` TP groups (one per FSDP rank) run at once,
// each on its own rows, `agree` keeps the processes' repetitions in step, and `dp` splits a
// training batch and its gradients over the mesh.
struct Place {
  const Config* full = nullptr;
  int groups = 1;
  Agree agree;
  DataParallel* dp = nullptr;
  const Config& whole(const Model& m) const { return full ? *full : m.config; }  // FLOPs count this
};

// One token per row per step for each batch size, after `context` tokens of prompt; each step's
// bytes (weights + KV cache read) over its time, against the read bandwidth `read_gbs`.
// The KV cache is stored in `kv_dtype`. On a mesh each group decodes B rows of its own (tok/s total
// counts every group) and the bytes are what this process reads, against its `read_gbs`.
nlohmann::ordered_json bench_decode(const Model& m, const std::vector<int64_t>& batches,
                                    int64_t context, int64_t steps, DType kv_dtype, double budget,
                                    double read_gbs, const Place& at = {});

// One prompt of T tokens into an empty cache and the logits of its last position, as generate
// prefills (cost.h: prefill_flops); MFU against
// `peak_gflops`, the measured matmul peak for the operands' dtype named `peak`. On a mesh each
// group takes a prompt of its own, and `peak_gflops` is the sum over the processes.
nlohmann::ordered_json bench_prefill(const Model& m, int64_t T, double budget, double peak_gflops,
                                     const char* peak, const Place& at = {});

// Attention alone for one layer's heads (c's N, K, H) over T float32 positions, B = 1: the forward,
// and forward + backward, in GFLOP/s and against the float32 matmul peak `peak_gflops`. Its
// FLOPs are all matmuls (scores, weighted values), so a kernel that keeps up with the model's
// other matmuls runs near that peak.
nlohmann::ordered_json bench_attention(const Config& c, int64_t T, double budget,
                                       double peak_gflops);

// Forward, backward and AdamW on B x T tokens, as `purelm train --dtype [--recompute]` takes a
// step with activations (and matmul products) in `act`. Turns m's weights into float32 master
// copies, so it runs last. MFU against the matmul peak of `act`, of the model's FLOPs (cost.h:
// train_flops), so the recomputed forward lowers it. On a mesh the B rows are split over the FSDP
// ranks, as purelm train splits its batches, and `peak_gflops` is the sum over the processes.
nlohmann::ordered_json bench_train(Model& m, int64_t B, int64_t T, DType act, bool recompute,
                                   double budget, double peak_gflops, const Place& at = {});

// Encoding a text file on one thread (one row of the tokenizer table): the first pass, and the best
// pass once the tokenizer's word cache is warm.
nlohmann::ordered_json bench_tokenizer(const std::string& tokenizer_dir,
                                       const std::string& text_path, double budget);

}  // namespace purelm::bench
