// The language-modelling objective on a model, and turning a loaded model into a trainable one.
#pragma once

#include <vector>

#include "purelm/models/model.h"
#include "purelm/train/adamw.h"

namespace purelm {

// Replaces every weight by a float32 master copy that requires a gradient; returns them in the
// order of the family's weights table. Refuses a quantized model (inference only).
std::vector<Param> make_trainable(Model& m);

// targets[b, t] = ids[b, t + 1], and -1 (not counted) at the last position of each row.
Tensor next_token_targets(const Tensor& ids);

// Mean cross-entropy of the model's predictions against targets (I32 [B, T], -1 = skip).
Tensor lm_loss(const Model& m, const Tensor& ids, const Tensor& targets);

}  // namespace purelm
