#include "purelm/sample/last_logits.h"

#include "purelm/ops/matmul.h"
#include "purelm/ops/rows.h"

namespace purelm {

std::vector<float> last_logits(const Model& m, const Tensor& h) {
  int64_t B = h.dim(0), T = h.dim(1), D = h.dim(2);
  Tensor last = Tensor::empty({B, D}, h.dtype());
  std::vector<float> row(static_cast<size_t>(D));
  for (int64_t b = 0; b < B; ++b) {
    load_f32(h, (b * T + T - 1) * D, D, row.data());
    store_f32(last, b * D, D, row.data());
  }
  return linear_whole(last, m.output_weight()).to_vector();
}

}  // namespace purelm
