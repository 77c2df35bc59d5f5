// purelm train-tokenizer: learn a byte-level BPE tokenizer from a text file, saved in HF format.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "purelm/commands.h"
#include "purelm/core/error.h"
#include "purelm/tokenizer/bpe_trainer.h"
#include "purelm/tokenizer/tokenizer.h"

namespace purelm::cli {

namespace {

struct TrainTokenizerArgs {
  std::string data, out = "tokenizer";
  int vocab_size = 1024, min_frequency = 2;
  std::vector<std::string> special = {"<|endoftext|>"};
};

void run(const TrainTokenizerArgs& a) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(clock::now() - t0).count(); };
  std::ifstream f(a.data, std::ios::binary);
  check(f.good(), "cannot read ", a.data);
  std::ostringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();

  BpeTrainerOptions opts;
  opts.vocab_size = a.vocab_size;
  opts.min_frequency = a.min_frequency;
  opts.special_tokens = a.special;
  int last = -1;
  opts.on_progress = [&](int done, int total) {
    if (done * 100 / total != last || done == total) {
      last = done * 100 / total;
      std::fprintf(stderr, "\rtrain-tokenizer: merges %d/%d", done, total);
    }
  };
  BpeModel model = train_bpe(text, opts);
  const double train_s = seconds();
  std::fprintf(stderr, "\n");
  save_bpe_tokenizer(model, opts, a.out);

  // Read back through the loader: the summary then also proves the files encode the text.
  Tokenizer tok = Tokenizer::load(a.out);
  const size_t n_tokens = tok.encode(text, false).size();
  std::printf("vocab size      %d (256 bytes + %zu merged + %zu special)\n", tok.vocab_size(),
              model.tokens.size() - 256, a.special.size());
  std::printf("merges          %zu%s\n", model.merges.size(),
              int(model.tokens.size() + a.special.size()) < a.vocab_size
                  ? " (stopped early: no pair left at --min-frequency)"
                  : "");
  std::printf("bytes per token %.3f (%zu bytes -> %zu tokens)\n",
              n_tokens ? double(text.size()) / double(n_tokens) : 0.0, text.size(), n_tokens);
  std::printf("time            %.2f s training, %.2f s total\n", train_s, seconds());
  std::printf("saved           %s/tokenizer.json, tokenizer_config.json\n", a.out.c_str());
}

}  // namespace

void add_train_tokenizer(CLI::App& app) {
  auto a = std::make_shared<TrainTokenizerArgs>();
  CLI::App* cmd = app.add_subcommand(
      "train-tokenizer", "Train a byte-level BPE tokenizer (HF tokenizer.json) on a text file");
  cmd->add_option("--data", a->data, "Training text, read whole as UTF-8")->required();
  cmd->add_option("--vocab-size", a->vocab_size,
                  "Total vocabulary: 256 bytes + merges + special tokens")
      ->capture_default_str();
  cmd->add_option("--out", a->out, "Output folder for tokenizer.json and tokenizer_config.json")
      ->capture_default_str();
  cmd->add_option("--special", a->special,
                  "Special tokens, appended after the merges; the first is eos/pad")
      ->capture_default_str();
  cmd->add_option("--min-frequency", a->min_frequency, "Never merge a pair seen fewer times")
      ->capture_default_str();
  cmd->callback([a] { run(*a); });
}

}  // namespace purelm::cli
