#include "purelm/ops/embedding.h"

#include <vector>

#include "purelm/ops/autograd.h"
#include "purelm/ops/kernels/vec.h"
#include "purelm/ops/rows.h"

namespace purelm {

Tensor embedding(const Tensor& table, const Tensor& ids, DType act) {
  check_float(table, "embedding", "table");
  check(ids.dtype() == DType::I32, "embedding: token ids must be I32");
  check(table.rank() == 2, "embedding: table must be [V, D], got ", to_string(table.shape()));
  int64_t V = table.dim(0), D = table.dim(1), n = ids.numel();
  const int32_t* id = ids.data<int32_t>();
  for (int64_t i = 0; i < n; ++i)
    check(id[i] >= 0 && id[i] < V, "token id ", std::to_string(id[i]),
          " is outside the vocabulary of ", std::to_string(V));
  Shape shape = ids.shape();
  shape.push_back(D);
  Tensor y = Tensor::empty(shape, act);
  std::vector<float> row(static_cast<size_t>(D));
  for (int64_t i = 0; i < n; ++i) {
    load_f32(table, id[i] * D, D, row.data());
    store_f32(y, i * D, D, row.data());
  }
  if (track(y, {&table})) {
    Tape::active()->record([table, ids, y, n, D]() mutable {
      if (!y.has_grad()) return;
      float* dt = table.ensure_grad().data<float>();
      const float* dy = y.grad().data<float>();
      for (int64_t i = 0; i < n; ++i)
        kernels::axpy(1.0f, dy + i * D, dt + ids.data<int32_t>()[i] * D, D);
      y.zero_grad();
    });
  }
  return y;
}

}  // namespace purelm
