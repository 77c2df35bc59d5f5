#include "purelm/ops/embedding.h"

#include <vector>

#include "purelm/ops/autograd.h"
#include "purelm/ops/kernels/vec.h"
#include "purelm/ops/parallel.h"
#include "purelm/ops/rows.h"

namespace purelm {

Tensor embedding(const Weight& table, const Tensor& ids, DType act) {
  check_float(table, "embedding", "table");
  check(ids.dtype() == DType::I32, "embedding: token ids must be I32");
  check(table.rank() == 2, "embedding: table must be [V, D], got ", table.shape());
  // A vocabulary split over a group: this process holds rows [v0, v0 + V) of all of them, looks
  // up the ids among them, and the group sums the rows (each id has one owner).
  const SplitMark* mark = table.split;
  const bool split = mark && mark->split == Split::Out;
  const int64_t V = table.dim(0), D = table.dim(1), n = ids.numel(),
                v0 = split ? mark->rank * V : 0, all = split ? mark->size * V : V;
  const int32_t* id = ids.data<int32_t>();
  for (int64_t i = 0; i < n; ++i)
    check(id[i] >= 0 && id[i] < all, "token id ", id[i], " is outside the vocabulary of ", all);
  auto mine = [v0, V](int32_t t) { return t >= v0 && t < v0 + V; };
  Shape shape = ids.shape();
  shape.push_back(D);
  Tensor y = Tensor::empty(shape, act);
  std::vector<float> rows(static_cast<size_t>(n * D), 0.0f);
  for (int64_t i = 0; i < n; ++i)
    if (mine(id[i])) load_f32(table, (id[i] - v0) * D, D, &rows[i * D]);
  if (split) mark->over(rows.data(), n * D);
  store_f32(y, 0, n * D, rows.data());
  if (track(y, {&table})) {
    Tape::active()->record(y, [table, ids, y, n, D, v0, mine]() mutable {
      if (!y.has_grad()) return;
      float* dt = table.ensure_grad().data<float>();
      const float* dy = y.grad().data<float>();
      const int32_t* id = ids.data<int32_t>();
      for (int64_t i = 0; i < n; ++i)
        if (mine(id[i])) kernels::axpy(1.0f, dy + i * D, dt + (id[i] - v0) * D, D);
      y.release_grad();
    });
  }
  return y;
}

}  // namespace purelm
