// One optimizer step, as `purelm train` takes it and `purelm bench` times it.
#pragma once

#include <cstdint>
#include <vector>

#include "purelm/models/model.h"
#include "purelm/train/adamw.h"
#include "purelm/train/data.h"
#include "purelm/train/data_parallel.h"

namespace purelm {

// Zeroes the gradients, runs the forward and backward of this process's rows of each micro-batch
// (weighted so that the loss is the mean over all their targets), lets the group finish the
// gradients, clips their global norm to `clip` (0: no clipping) and updates opt's parameters at
// learning rate `lr`. Micro-batch i seeds its dropout with dropout_seed + i. Returns the step's
// loss over the whole batch (every process's rows). The micro-batches must hold a target.
double train_step(Model& m, DataParallel& dp, AdamW& opt, const std::vector<Batch>& micro,
                  double lr, double clip, uint64_t dropout_seed);

// This process's rows of a batch, with their targets counted.
Batch local_batch(Batch b, const DataParallel& dp);

}  // namespace purelm
