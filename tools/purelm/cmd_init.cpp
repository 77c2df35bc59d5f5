// purelm init: write a randomly initialised checkpoint of a named shape as a HuggingFace folder.
#include <cstdio>
#include <memory>

#include "purelm/commands.h"
#include "purelm/models/family.h"
#include "purelm/options.h"
#include "purelm/tokenizer/tokenizer.h"
#include "purelm/train/init.h"
#include "purelm/train/presets.h"

namespace purelm::cli {

namespace {

struct InitArgs {
  std::string arch, preset, out, tokenizer, dtype = "f32";
  uint64_t seed = 0;
  int64_t vocab_size = 0;
};

void run(const InitArgs& a) {
  Config c = preset_config(a.arch, a.preset, a.dtype == "bf16" ? DType::BF16 : DType::F32);
  FileSet files;
  if (!a.tokenizer.empty()) {
    Tokenizer tok = Tokenizer::load(a.tokenizer);
    files = read_tokenizer_files(a.tokenizer);
    files.erase("generation_config.json");
    if (is_toy_preset(a.preset)) c.vocab_size = tok.vocab_size();
    c.bos_token_id = tok.bos_id();
    c.eos_token_ids.clear();
    if (auto eos = tok.eos_id()) c.eos_token_ids.push_back(*eos);
    check(a.vocab_size > 0 || tok.vocab_size() <= c.vocab_size, "the tokenizer has ",
          tok.vocab_size(), " tokens, more than the preset's vocabulary of ", c.vocab_size);
  }
  if (a.vocab_size > 0) c.vocab_size = a.vocab_size;
  int64_t params = 0;
  for (const WeightInfo& w : weight_table(c)) params += numel(w.shape);
  const double gb = double(params) * double(dtype_size(c.torch_dtype)) / 1e9;
  std::fprintf(stderr, "%s:%s: %.3fM parameters (%.2f GB as %s), vocab %lld\n", a.arch.c_str(),
               a.preset.c_str(), double(params) / 1e6, gb, a.dtype.c_str(),
               (long long)c.vocab_size);
  write_random_checkpoint(c, a.seed, a.out, files, write_progress());
  std::printf("%s\n", a.out.c_str());
}

// "qwen3: tiny, small, 0.6B, ...", one line per family.
std::string presets_by_family() {
  std::string out;
  for (const Family& f : families()) {
    std::string names;
    for (const std::string& n : preset_names(f.config.model_type))
      names += (names.empty() ? "" : ", ") + n;
    out += std::string("\n  ") + f.config.model_type + ": " + names;
  }
  return out;
}

}  // namespace

void add_init(CLI::App& app) {
  auto a = std::make_shared<InitArgs>();
  std::vector<std::string> archs;
  for (const Family& f : families()) archs.push_back(f.config.model_type);
  CLI::App* cmd =
      app.add_subcommand("init", "Write a randomly initialised checkpoint (HuggingFace layout)")
          ->footer("Presets:" + presets_by_family() +
                   "\nToy presets take the vocabulary size from --tokenizer (else 512).");
  cmd->add_option("--arch", a->arch, family_names())->required()->check(CLI::IsMember(archs));
  cmd->add_option("--preset", a->preset, "Model shape")->required();
  cmd->add_option("--out", a->out, "Folder to write")->required();
  cmd->add_option("--seed", a->seed, "Random seed")->capture_default_str();
  cmd->add_option("--vocab-size", a->vocab_size,
                  "Vocabulary size (default: the preset's or the tokenizer's)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--dtype", a->dtype, "Weight dtype: f32 or bf16")
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--tokenizer", a->tokenizer, "Folder whose tokenizer files are copied in");
  cmd->callback([a] { run(*a); });
}

}  // namespace purelm::cli
