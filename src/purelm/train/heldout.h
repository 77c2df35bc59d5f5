// The loss of a model over a whole held-out token split, deterministic and independent of the
// training loop's sampling: for comparing variants of one model (e.g. quantized weights).
#pragma once

#include "purelm/models/model.h"
#include "purelm/train/data.h"

namespace purelm {

struct HeldOutLoss {
  double loss = 0;           // mean cross-entropy, nats per target token
  int64_t targets = 0;       // tokens predicted
  double bits_per_byte = 0;  // loss in bits times the split's tokens per byte (NaN without bytes)
};

// Consecutive windows of T + 1 tokens, B at a time, each predicting its last T tokens from the
// ones before (the tail shorter than a window is left out). Needs no gradients: it reads only
// the logits, so it runs on quantized models too.
HeldOutLoss heldout_loss(const Model& m, const TokenSplit& s, int64_t T, int64_t B);

}  // namespace purelm
