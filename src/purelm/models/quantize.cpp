#include "purelm/models/quantize.h"

#include <vector>

#include "purelm/core/thread_pool.h"

namespace purelm {

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

void quantize_model(Model& m, DType format) {
  check(is_quantized(format), "quantize_model: ", dtype_name(format), " is not a quantized format");
  check(!m.on_use, "quantized weights cannot be FSDP-sharded: FSDP gathers float weights");
  if (m.config.quant) {
    check(*m.config.quant == format, "the checkpoint is quantized to ", dtype_name(*m.config.quant),
          " already; ", dtype_name(format), " needs the float checkpoint it came from");
    return;
  }
  // The table of the quantized model names what changes: each projection, and the output
  // projection (a tied model's gains its own entry, a copy of the embedding).
  Config q = m.config;
  q.quant = format;
  std::vector<std::pair<std::string, DType>> jobs;
  for (const WeightInfo& w : weight_table(q)) {
    if (w.name == "lm_head.weight")
      jobs.push_back({w.name, DType::Q8});
    else if (ends_with(w.name, "_proj.weight"))
      jobs.push_back({w.name, format});
  }
  const Tensor& embed = m.weights.at("model.embed_tokens.weight");
  std::vector<Tensor> done(jobs.size());
  parallel_for(int64_t(jobs.size()), 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      auto it = m.weights.find(jobs[i].first);
      done[i] = (it == m.weights.end() ? embed : it->second).to(jobs[i].second);
    }
  });
  for (size_t i = 0; i < jobs.size(); ++i) m.weights[jobs[i].first] = done[i];
  m.config.quant = format;
}

Tensor stored_quantized(const Tensor& t, const WeightInfo& w, const Config& c) {
  check(c.quant.has_value(), "weight '", w.name,
        "' is stored as U8, but config.json has no quantization_config");
  const int64_t K = w.shape.back(), rows = numel(w.shape) / K;
  for (DType f : {DType::Q8, DType::Q4})
    if (t.shape() == Shape{rows, int64_t(row_bytes(f, K))}) return t.bytes_as(f, w.shape);
  fail("weight '", w.name, "' has ", t.shape(), " bytes, which are neither Q8 nor Q4 rows of ",
       w.shape);
}

}  // namespace purelm
