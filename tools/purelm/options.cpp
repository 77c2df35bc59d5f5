#include "purelm/options.h"

#include <unistd.h>

#include <cstdio>

#include "purelm/core/error.h"
#include "purelm/models/quantize.h"

namespace purelm::cli {

namespace {

constexpr int64_t kProgressBytes = 1 << 30;  // writes at least this large report their progress

}  // namespace

SamplerConfig SamplerFlags::over(SamplerConfig d) const {
  d.temperature = temperature.value_or(d.temperature);
  d.top_k = top_k.value_or(d.top_k);
  d.top_p = top_p.value_or(d.top_p);
  d.min_p = min_p.value_or(d.min_p);
  d.repetition_penalty = repetition_penalty.value_or(d.repetition_penalty);
  d.seed = seed;
  return d;
}

void add_sampler_flags(CLI::App* cmd, SamplerFlags* f) {
  auto set = [](auto* field) { return [field](auto v) { *field = v; }; };
  cmd->add_option_function<float>("--temperature", set(&f->temperature),
                                  "Sampling temperature; 0 = greedy (default: the checkpoint's)");
  cmd->add_option_function<int64_t>("--top-k", set(&f->top_k),
                                    "Keep the k most likely tokens (0 = off)");
  cmd->add_option_function<float>("--top-p", set(&f->top_p),
                                  "Nucleus sampling threshold (1 = off)");
  cmd->add_option_function<float>("--min-p", set(&f->min_p),
                                  "Drop tokens below min-p times the top probability (0 = off)");
  cmd->add_option_function<float>("--repetition-penalty", set(&f->repetition_penalty),
                                  "HF-style repetition penalty (1 = off)");
  cmd->add_option("--seed", f->seed, "Random seed, for reproducible sampling")
      ->capture_default_str();
}

void add_dtype_option(CLI::App* cmd, std::string* dtype) {
  cmd->add_option("--dtype", *dtype, "Compute dtype of activations: f32 or bf16")
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->capture_default_str();
}

DType parse_compute_dtype(const std::string& s) { return s == "bf16" ? DType::BF16 : DType::F32; }

void add_kv_cache_option(CLI::App* cmd, std::string* dtype) {
  cmd->add_option("--kv-cache", *dtype,
                  "Storage of the KV cache: f32, or bf16 (half the memory and decode reads)")
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->capture_default_str();
}

void add_quant_option(CLI::App* cmd, std::string* quant) {
  cmd->add_option("--quant", *quant,
                  "Quantize the linear layers at load time (inference only): none, q8 (8.5 bits "
                  "per weight) or q4 (4.5 bits; the output projection stays q8)")
      ->check(CLI::IsMember({"none", "q8", "q4"}))
      ->capture_default_str();
}

std::optional<DType> parse_quant(const std::string& s) {
  if (s == "q8") return DType::Q8;
  if (s == "q4") return DType::Q4;
  return std::nullopt;
}

void apply_quant(Model& m, const std::string& quant) {
  std::optional<DType> q = parse_quant(quant);
  if (!q) return;
  quantize_model(m, *q);  // nothing to do for a checkpoint quantized to this format
  std::fprintf(stderr, "[weights quantized to %s]\n", quant.c_str());
}

Model load_inference_model(const std::string& spec, DType act, const std::string& quant) {
  Model m = load_model(spec, act);
  apply_quant(m, quant);
  return m;
}

// On a terminal one line redrawn at each percent; into a log a line at each tenth.
std::function<void(int64_t, int64_t)> write_progress() {
  const bool tty = ::isatty(::fileno(stderr)) != 0;
  return [tty, last = -1](int64_t done, int64_t total) mutable {
    const int percent = total > 0 ? int(100 * done / total) : 100;
    const int mark = tty ? percent : percent / 10 * 10;
    if (total < kProgressBytes || mark == last) return;
    last = mark;
    std::fprintf(stderr, "%swriting weights: %3d%% (%.2f / %.2f GB)%s", tty ? "\r" : "", mark,
                 double(done) / 1e9, double(total) / 1e9, !tty || done == total ? "\n" : "");
    std::fflush(stderr);
  };
}

}  // namespace purelm::cli
