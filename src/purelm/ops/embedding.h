// Token embedding: a row lookup.
#pragma once

#include "purelm/core/tensor.h"
#include "purelm/ops/parallel.h"

namespace purelm {

// table [V, D], ids I32 [...] -> [..., D] in dtype `act`. Out-of-range ids are an error.
Tensor embedding(const Weight& table, const Tensor& ids, DType act);

}  // namespace purelm
