#include "purelm/dist/batch.h"

namespace purelm::dist {

Tensor local_rows(const Tensor& batch, const Group& fsdp) {
  int64_t B = batch.dim(0), P = fsdp.size();
  check(B % P == 0, "--fsdp ", P, " does not divide the batch of ", B,
        " rows: each FSDP rank takes an equal share");
  return batch.narrow(fsdp.rank() * (B / P), B / P).clone();
}

Tensor gather_rows(const Tensor& mine, const Group& fsdp) {
  Tensor f = mine.to(DType::F32);
  Shape shape = f.shape();
  shape[0] *= fsdp.size();
  Tensor all = fsdp.rank() == 0 ? Tensor::empty(shape, DType::F32) : Tensor();
  fsdp.gather(f.data<float>(), all.defined() ? all.data<float>() : nullptr, f.numel());
  return all;
}

TargetShare share_targets(const Tensor& targets, const Group& fsdp) {
  TargetShare s;
  for (int64_t i = 0; i < targets.numel(); ++i) s.local += targets.data<int32_t>()[i] >= 0;
  double total = double(s.local);
  fsdp.all_reduce_sum(&total, 1);
  s.total = int64_t(total);
  return s;
}

double global_mean(double local_mean, const TargetShare& s, const Group& fsdp) {
  double sum = s.local ? local_mean * double(s.local) : 0.0;
  fsdp.all_reduce_sum(&sum, 1);
  return s.total ? sum / double(s.total) : 0.0;
}

}  // namespace purelm::dist
