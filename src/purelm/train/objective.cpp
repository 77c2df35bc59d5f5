#include "purelm/train/objective.h"

#include "purelm/ops/ops.h"

namespace purelm {

std::vector<Param> make_trainable(Model& m) {
  std::vector<Param> params;
  for (const WeightInfo& info : weight_table(m.config)) {
    Tensor& w = m.weights.at(info.name);
    check(!is_quantized(w.dtype()), "weight '", info.name, "' is quantized (",
          dtype_name(w.dtype()), "): quantized models are for inference only");
    w = w.to(DType::F32);
    w.set_requires_grad(true);
    params.push_back({info.name, w});
  }
  return params;
}

Tensor next_token_targets(const Tensor& ids) {
  check(ids.rank() == 2 && ids.dtype() == DType::I32, "token ids must be I32 [B, T]");
  int64_t B = ids.dim(0), T = ids.dim(1);
  Tensor t = Tensor::empty({B, T}, DType::I32);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < T; ++i)
      t.data<int32_t>()[b * T + i] = i + 1 < T ? ids.data<int32_t>()[b * T + i + 1] : -1;
  return t;
}

Tensor lm_loss(const Model& m, const Tensor& ids, const Tensor& targets) {
  Tensor h = m.hidden(ids);
  int64_t D = m.config.hidden_size;
  return cross_entropy_head(reshape(h, {h.numel() / D, D}), m.output_weight(),
                            targets.view({targets.numel()}));
}

}  // namespace purelm
