// Rotary position embedding in HuggingFace's rotate-half layout: element i of a head pairs with
// element i + H/2, rotated by the angle position * inv_freq[i].
#pragma once

#include <vector>

#include "purelm/core/tensor.h"

namespace purelm {

// inv_freq[i] = theta^(-2i/H), i < H/2.
std::vector<double> rope_inv_freq(int64_t H, double theta);
// Llama 3.1 frequency scaling: long wavelengths slowed by `factor`, short ones kept, a smooth
// blend between (HF rope_type "llama3").
void rope_llama3_scale(std::vector<double>& inv_freq, double factor, double low_freq_factor,
                       double high_freq_factor, double original_max_positions);

// x [B, T, heads, H]; row b's token t sits at position pos0[b] + t.
Tensor rope(const Tensor& x, const std::vector<double>& inv_freq, const std::vector<int64_t>& pos0);

}  // namespace purelm
