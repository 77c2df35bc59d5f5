// Quantizing a loaded model's weights for inference (the block formats of core/quant.h).
#pragma once

#include "purelm/models/model.h"

namespace purelm {

// Replaces the weight of every linear layer (attention q/k/v/o, MLP and expert gate/up/down) by
// its Q8 or Q4 form, and the output projection by its Q8 form under either format: the logits
// are the product most sensitive to rounding (llama.cpp keeps its output matrix at higher
// precision too). A tied embedding keeps its table for the lookups and gains the quantized copy as
// "lm_head.weight". Norms, embeddings and the MoE router stay as they are. The model can no longer
// be trained.
void quantize_model(Model& m, DType format);

}  // namespace purelm
