// Quantizing a loaded model's weights for inference (the block formats of core/quant.h).
#pragma once

#include "purelm/models/model.h"

namespace purelm {

// Replaces the weight of every linear layer (attention q/k/v/o, MLP and expert gate/up/down) by
// its Q8 or Q4 form, and the output projection by its Q8 form under either format: the logits
// are the product most sensitive to rounding (llama.cpp keeps its output matrix at higher
// precision too). A tied embedding keeps its table for the lookups and gains the quantized copy as
// "lm_head.weight". Norms, embeddings and the MoE router stay as they are. The model can no longer
// be trained, and its config names the format (Config::quant).
//
// A quantized checkpoint (purelm quantize, train/hf_writer.h: write_model) stores these weights as
// safetensors U8 tensors of [rows, row_bytes]: each row's blocks exactly as in memory
// (core/quant.h), which load_model maps without a copy; config.json's quantization_config is
// {"quant_method": "purelm", "format": "q8" | "q4"}. A model loaded from one is quantized already:
// quantizing it again to its own format does nothing, and to the other is refused (the float
// weights are gone).
void quantize_model(Model& m, DType format);

// A weight of such a checkpoint (U8 rows of blocks) as the Q8 or Q4 matrix `w` it holds: the row
// length tells the format.
Tensor stored_quantized(const Tensor& t, const WeightInfo& w, const Config& c);

}  // namespace purelm
