#include <cctype>
#include <cstdio>
#include <filesystem>

#include "bench/bench.h"
#include "bench/cost.h"
#include "bench/machine.h"
#include "bench/report.h"
#include "bench/workloads.h"
#include "purelm/models/quantize.h"
#include "purelm/train/init.h"
#include "purelm/train/presets.h"

namespace purelm::bench {

namespace {

// Inference runs in bf16 end to end: a preset is initialised in bf16 (half the memory, and what
// the published checkpoints ship), and activations are bf16 so that matmuls against bf16 weights
// take the bf16 kernels. With `quant`, the linear layers are then quantized.
Model bench_model(const std::string& spec, std::optional<DType> quant) {
  auto preset = parse_model_preset(spec);
  Model m = preset ? random_model(preset_config(preset->first, preset->second, DType::BF16), 0,
                                  DType::BF16)
                   : load_model(spec, DType::BF16);
  if (quant) quantize_model(m, *quant);
  return m;
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& ch : r) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return r;
}

// The tokenizer to time: the one asked for, else the checkpoint's own ("" when there is none).
std::string tokenizer_dir(const Options& o, const Model& m) {
  if (!o.tokenizer.empty()) return o.tokenizer;
  if (!m.dir.empty() && std::filesystem::exists(m.dir + "/tokenizer.json")) return m.dir;
  return "";
}

}  // namespace

Budgets budgets(bool quick) {
  if (quick) return {0.2, 0.2, 0.3, 0.2, 0.3, 0.3};
  return {1.5, 3, 8, 8, 15, 5};
}

nlohmann::ordered_json model_json(const std::string& spec, const Config& c, DType weights,
                                  DType act) {
  const ModelSize s = model_size(c);
  return {{"spec", spec},
          {"model_type", c.model_type},
          {"params", s.params},
          {"matmul_params", s.matmul_params},
          {"weights", lower(dtype_name(weights))},
          {"activations", lower(dtype_name(act))},
          {"D", c.hidden_size},
          {"L", c.num_hidden_layers},
          {"N", c.num_attention_heads},
          {"K", c.num_key_value_heads},
          {"H", c.head_dim},
          {"F", c.intermediate_size},
          {"V", c.vocab_size}};
}

// A matmul-bound workload's GFLOP/s against the instruction peak too, not only against the
// achieved matmul: how far the whole of it, the matmul kernel included, stands from the units.
void add_instruction_peak(nlohmann::ordered_json& w, bool bf16, const MachineLimits& lim) {
  w["of_instruction_peak"] =
      w["gflops"].get<double>() / (bf16 ? lim.bf16_peak_gflops : lim.f32_peak_gflops);
}

void add_inference(nlohmann::ordered_json& r, const Options& o, const Budgets& b,
                   const MachineLimits& lim, const Model& m, const Place& at) {
  r["decode"] = bench_decode(m, o.decode_batches, o.decode_context, o.decode_steps, o.kv_dtype,
                             b.decode, lim.read_gbs_all, at);
  // bf16 activations mean bf16 products whatever the weights' storage (ops/matmul.cpp: linear):
  // quantized weights are decoded for prefill, float32 ones (FSDP's shards) rounded.
  const bool bf16 = m.act == DType::BF16;
  r["prefills"] = nlohmann::ordered_json::array();
  for (int64_t T : o.prefill_tokens) {
    r["prefills"].push_back(bench_prefill(m, T, b.prefill, bf16 ? lim.bf16_gflops : lim.f32_gflops,
                                          bf16 ? "bf16" : "f32", at));
    add_instruction_peak(r["prefills"].back(), bf16, lim);
  }
  // The first length alone, as the report had it before --prompt took several (scripts read it).
  r["prefill"] = r["prefills"].front();
}

void add_training(nlohmann::ordered_json& r, const Options& o, const Budgets& b,
                  const MachineLimits& lim, Model& m, const Place& at) {
  const std::pair<DType, bool> runs[] = {
      {DType::F32, false}, {DType::BF16, false}, {DType::BF16, true}};
  for (auto [act, recompute] : runs) {
    r["train"].push_back(bench_train(m, o.train_batch, o.train_seq, act, recompute, b.train,
                                     act == DType::BF16 ? lim.bf16_gflops : lim.f32_gflops, at));
    add_instruction_peak(r["train"].back(), act == DType::BF16, lim);
  }
}

nlohmann::ordered_json run(const Options& o) {
  const Budgets b = budgets(o.quick);
  std::fprintf(stderr, "bench: machine limits\n");
  const MachineLimits lim = measure_machine(b.machine);
  std::fprintf(stderr, "bench: loading %s\n", o.model.c_str());
  Model m = bench_model(o.model, o.quant);
  nlohmann::ordered_json r = {
      {"machine", machine_json(lim)},
      {"model",
       model_json(o.model, m.config, m.config.quant.value_or(m.output_weight().dtype()), m.act)}};

  add_inference(r, o, b, lim, m);
  r["attention"] = bench_attention(m.config, o.attention_tokens, b.attention, lim.f32_gflops);
  const std::string tok = tokenizer_dir(o, m);
  if (tok.empty())
    std::fprintf(stderr, "bench: no tokenizer (give --tokenizer DIR): skipping it\n");
  else if (o.tokenizer_texts.empty())
    std::fprintf(stderr, "bench: no text to tokenize (give --tokenizer-text FILE): skipping it\n");
  else
    for (const std::string& text : o.tokenizer_texts)
      r["tokenizer"].push_back(bench_tokenizer(tok, text, b.tokenizer));
  if (o.train && m.config.quant)
    std::fprintf(stderr,
                 "bench: quantized weights cannot be trained: skipping the training step\n");
  if (o.train && !m.config.quant) add_training(r, o, b, lim, m);
  return r;
}

}  // namespace purelm::bench
