#include "purelm/train/data_parallel.h"

#include "purelm/train/objective.h"

namespace purelm {

Model& SingleProcess::build(const Config& c, const std::function<Tensor(const WeightInfo&)>& source,
                            DType act) {
  std::unordered_map<std::string, Tensor> weights;
  for (const WeightInfo& w : weight_table(c)) weights[w.name] = source(w);
  built_ = make_model(c, std::move(weights), act);
  model_ = &built_;
  return built_;
}

std::vector<Param> SingleProcess::make_trainable() {
  check(model_ != nullptr, "SingleProcess: no model to train (build one first)");
  return purelm::make_trainable(*model_);
}

}  // namespace purelm
