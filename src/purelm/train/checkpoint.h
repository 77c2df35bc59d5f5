// Training checkpoints. A checkpoint is a HuggingFace folder that any tool loads (config.json,
// weights in the config's torch_dtype, tokenizer files, generation_config.json) plus what an exact
// resume needs: optimizer.safetensors (AdamW moments exp_avg.<name> / exp_avg_sq.<name>, and the
// float32 master weights master.<name> when the weights file holds a lower precision) and
// trainer_state.json (step, AdamW step, the run's options, its log). The folder also carries
// train_log.csv and loss.svg. Every save replaces the folder atomically (see replace_folder).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "purelm/train/adamw.h"
#include "purelm/train/hf_writer.h"
#include "purelm/train/history.h"

namespace purelm {

struct CheckpointData {
  const Config* config;
  const std::vector<Param>* params;  // float32 masters, in the family's table order
  // AdamW's first and second moments, parallel to params (null: no optimizer.safetensors)
  const std::vector<Tensor>*exp_avg, *exp_avg_sq;
  nlohmann::json state;  // written as trainer_state.json (with "history" added)
  std::vector<LogRow> history;
  FileSet files;  // tokenizer files, generation_config.json, ...
  std::string plot_title;
};

void save_checkpoint(const std::string& dir, const CheckpointData& ck);

// This process's part of parameter i (of the family's table) from its whole value, on a mesh.
using LocalPart = std::function<Tensor(size_t i, const Tensor& whole)>;

// Restores the float32 masters and AdamW's moments and step from a checkpoint written by
// save_checkpoint; `params` must be the trainable parameters of a model of the same config, or
// with `part`, this process's parts of them. Returns trainer_state.json.
nlohmann::json load_checkpoint(const std::string& dir, const std::vector<Param>& params, AdamW& opt,
                               const LocalPart& part = {});

bool has_checkpoint(const std::string& dir);  // a trainer_state.json is there

}  // namespace purelm
