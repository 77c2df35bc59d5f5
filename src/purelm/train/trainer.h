// The training loop: AdamW on float32 master weights, linear warmup + cosine learning rate,
// gradient accumulation, global-norm clipping, periodic evaluation on held-out data, and
// checkpoints that resume exactly (the batches are a pure function of (seed, step)).
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "purelm/core/dtype.h"
#include "purelm/train/data_parallel.h"

namespace purelm {

struct TrainOptions {
  std::string model;      // checkpoint folder, HuggingFace repo id, or ARCH:PRESET (fresh model)
  std::string data;       // .txt (plain text) or .jsonl (chat conversations)
  std::string out;        // the checkpoint folder
  std::string tokenizer;  // folder; default: the model's
  int64_t steps = 1000, batch = 8, seq = 256, grad_accum = 1;
  double lr = 1e-3, min_lr = 1e-4;
  int64_t warmup = 100;
  double weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95, eps = 1e-8, clip = 1.0;  // clip 0: off
  int64_t eval_every = 100, eval_batches = 20;  // eval_every 0: only at the end
  double val_fraction = 0.1;
  std::optional<double> attention_dropout;  // overrides the config's (HF attention_dropout)
  int64_t save_every = 0;                   // 0: only at the end (and when interrupted)
  DType act = DType::F32;                   // dtype of activations
  bool recompute = false;  // re-run each layer's forward in the backward instead of keeping it
  uint64_t seed = 0;
  bool resume = false;                // continue from the checkpoint in `out` if there is one
  std::vector<std::string> no_decay;  // name substrings exempt from weight decay
  int64_t stop_at = 0;                // end the run (with a checkpoint) after this step, 0: never
};

struct TrainSummary {
  int64_t steps = 0;                                       // done, in total over all resumed runs
  double train_loss = NAN, val_loss = NAN, val_bpb = NAN;  // the latest measured
  double seconds = 0, tokens_per_s = 0;                    // this run's
  bool interrupted = false;
};

// Trains, writing checkpoints to o.out. Setting *stop (e.g. from a SIGINT handler) ends the run
// after the current step with a checkpoint. Progress goes to stderr. With `mesh`, this process is
// one of a mesh that trains together (each on its rows of every batch); its leader writes.
// Without, it trains alone (a SingleProcess).
TrainSummary train(const TrainOptions& o, const std::atomic<bool>* stop = nullptr,
                   DataParallel* mesh = nullptr);

std::string summary_line(const TrainSummary& s);
nlohmann::json options_to_json(const TrainOptions& o);

}  // namespace purelm
