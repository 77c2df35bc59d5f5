// purelm eval: a model's loss on the held-out end of a text or chat file (the split `purelm
// train` holds out), over every held-out token; e.g. to measure what --quant costs.
#include <cstdio>
#include <memory>

#include "purelm/commands.h"
#include "purelm/options.h"
#include "purelm/train/heldout.h"

namespace purelm::cli {

namespace {

struct EvalArgs {
  std::string model, tokenizer, data, dtype = "f32", quant = "none";
  double val_fraction = 0.1;
  int64_t seq = 128, batch = 16;
};

void run(const EvalArgs& a) {
  Model m = load_inference_model(a.model, parse_compute_dtype(a.dtype), a.quant);
  Tokenizer tok = Tokenizer::load(a.tokenizer.empty() ? m.dir : a.tokenizer);
  Dataset d = load_dataset(a.data, tok, a.val_fraction);
  HeldOutLoss r = heldout_loss(m, d.val, a.seq, a.batch);
  std::printf("held-out: %lld tokens predicted, loss %.4f nats per token, %.4f bits per byte\n",
              (long long)r.targets, r.loss, r.bits_per_byte);
}

}  // namespace

void add_eval(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "Measure a model's loss on held-out data");
  cmd->add_option("--model", a->model, "Checkpoint folder or HuggingFace repo id")->required();
  cmd->add_option("--data", a->data, "Text or chat JSONL file, as given to purelm train")
      ->required();
  cmd->add_option("--tokenizer", a->tokenizer, "Tokenizer folder (default: the model's)");
  cmd->add_option("--val-fraction", a->val_fraction, "Fraction held out (its end), as in train")
      ->capture_default_str();
  cmd->add_option("--seq", a->seq, "Tokens each window predicts")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch", a->batch, "Windows per forward pass")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  add_dtype_option(cmd, &a->dtype);
  add_quant_option(cmd, &a->quant);
  cmd->callback([a] { run(*a); });
}

}  // namespace purelm::cli
