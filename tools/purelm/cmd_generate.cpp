// purelm generate: continue prompts with a model.
#include <cstdio>
#include <memory>

#include "purelm/commands.h"
#include "purelm/models/model.h"
#include "purelm/options.h"
#include "purelm/sample/generate.h"

namespace purelm::cli {

namespace {

struct GenerateArgs {
  std::string model, prompt_ids, dtype = "f32";
  int64_t max_tokens = 128;
  SamplerConfig sampler;
  bool print_ids = false, ignore_eos = false;
};

void run(const GenerateArgs& a) {
  Model m = load_model(a.model, parse_compute_dtype(a.dtype));
  check(!a.prompt_ids.empty(), "give a prompt: --prompt-ids 1,2,3");
  GenerateOptions opt;
  opt.max_tokens = a.max_tokens;
  opt.sampler = a.sampler;
  if (!a.ignore_eos) opt.eos_ids = m.config.eos_token_ids;
  GenerateStats st;
  auto out = generate(m, {parse_ids(a.prompt_ids)}, opt, {}, &st);
  if (a.print_ids) {
    std::printf("%s\n", join_ids(out[0]).c_str());
    return;
  }
  std::printf("%s\n", join_ids(out[0]).c_str());
  std::fprintf(stderr, "prompt %lld tokens, generated %lld tokens; prefill %.1f tok/s, decode %.1f tok/s\n",
               (long long)st.prompt_tokens, (long long)st.generated_tokens,
               double(st.prompt_tokens) / std::max(st.prefill_seconds, 1e-9),
               double(st.generated_tokens) / std::max(st.decode_seconds, 1e-9));
}

}  // namespace

void add_generate(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  a->sampler.temperature = 0;
  CLI::App* cmd = app.add_subcommand("generate", "Continue a prompt with a model");
  cmd->add_option("--model", a->model, "Checkpoint folder or HuggingFace repo id")->required();
  cmd->add_option("--prompt-ids", a->prompt_ids, "Prompt as comma-separated token ids");
  cmd->add_option("--max-tokens", a->max_tokens, "Most tokens to generate")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--temperature", a->sampler.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", a->sampler.top_k, "Keep the k most likely tokens (0 = off)");
  cmd->add_option("--top-p", a->sampler.top_p, "Nucleus sampling threshold (1 = off)");
  cmd->add_option("--min-p", a->sampler.min_p, "Drop tokens below min-p x the top probability (0 = off)");
  cmd->add_option("--repetition-penalty", a->sampler.repetition_penalty, "HF-style penalty (1 = off)");
  cmd->add_option("--seed", a->sampler.seed, "Random seed for sampling")->capture_default_str();
  cmd->add_flag("--print-ids", a->print_ids, "Print only the new token ids, comma-separated");
  cmd->add_flag("--ignore-eos", a->ignore_eos, "Do not stop at the end-of-sequence token");
  add_dtype_option(cmd, &a->dtype);
  cmd->callback([a] { run(*a); });
}

}  // namespace purelm::cli
