// The logits sampling needs of a forward: those of each row's last position.
#pragma once

#include <vector>

#include "purelm/models/model.h"

namespace purelm {

// Logits of the last position of each row of hidden states h [B, T, D] (Model::hidden): [B, V] as
// float32, all that sampling needs of a prompt or of a decode step.
std::vector<float> last_logits(const Model& m, const Tensor& h);

}  // namespace purelm
