// purelm forward: the verification contract of DESIGN.md section 5. Reads input_ids from a
// safetensors file and writes logits, and with --grad the loss and every parameter's gradient,
// and with --adamw-steps the losses and parameters after that many AdamW steps on the batch.
#include <cstdio>
#include <memory>

#include "purelm/commands.h"
#include "purelm/io/safetensors.h"
#include "purelm/models/model.h"
#include "purelm/ops/autograd.h"
#include "purelm/options.h"
#include "purelm/train/objective.h"

namespace purelm::cli {

namespace {

struct ForwardArgs {
  std::string model, input, output, dtype = "f32";
  bool grad = false;
  int adamw_steps = 0;
  AdamWConfig adamw{0.01, 0.9, 0.95, 1e-8, 0.1};
};

void run(const ForwardArgs& a) {
  Model m = load_model(a.model, parse_compute_dtype(a.dtype));
  Tensor ids = TensorStore::open_file(a.input).get("input_ids");
  check(ids.dtype() == DType::I32 && ids.rank() == 2, a.input, ": input_ids must be I32 [B, T]");
  std::vector<std::pair<std::string, Tensor>> out;
  {
    NoGrad no_grad;
    out.push_back({"logits", m.logits(ids).to(DType::F32)});
  }
  if (a.grad || a.adamw_steps > 0) {
    std::vector<Param> params = make_trainable(m);
    Tensor targets = next_token_targets(ids);
    auto loss_and_grads = [&] {
      Tape tape;
      Tensor loss = lm_loss(m, ids, targets);
      tape.backward(loss);
      return loss;
    };
    if (a.grad) {
      out.push_back({"loss", loss_and_grads()});
      for (const Param& p : params) out.push_back({"grad." + p.name, p.value.grad().clone()});
    }
    if (a.adamw_steps > 0) {
      AdamW opt(params, a.adamw);
      std::vector<float> losses;
      for (int s = 0; s < a.adamw_steps; ++s) {
        opt.zero_grad();
        losses.push_back(loss_and_grads().item());
        opt.step(a.adamw.lr);
      }
      out.push_back({"adamw_losses", Tensor::from_f32(losses, {int64_t(losses.size())})});
      NoGrad no_grad;
      out.push_back({"adamw_final_loss", lm_loss(m, ids, targets)});
      for (const Param& p : params) out.push_back({"after_adamw." + p.name, p.value});
    }
  }
  save_safetensors(a.output, out);
}

}  // namespace

void add_forward(CLI::App& app) {
  auto a = std::make_shared<ForwardArgs>();
  CLI::App* cmd =
      app.add_subcommand("forward", "Run a batch through a model and write the results")
          ->footer(
              "The verification contract: input_ids I32 [B, T] in; logits F32 [B, T, V] out;\n"
              "--grad adds loss and grad.<name>; --adamw-steps N adds adamw_losses,\n"
              "adamw_final_loss and after_adamw.<name>.");
  cmd->add_option("--model", a->model, "Checkpoint folder or HuggingFace repo id")->required();
  cmd->add_option("--input", a->input, "safetensors file holding input_ids (I32 [B, T])")
      ->required();
  cmd->add_option("--output", a->output, "safetensors file to write")->required();
  add_dtype_option(cmd, &a->dtype);
  cmd->add_flag("--grad", a->grad, "Also write the loss and the gradient of every parameter");
  cmd->add_option("--adamw-steps", a->adamw_steps, "AdamW steps to take on the batch")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--lr", a->adamw.lr, "AdamW learning rate")->capture_default_str();
  cmd->add_option("--beta1", a->adamw.beta1, "AdamW beta1")->capture_default_str();
  cmd->add_option("--beta2", a->adamw.beta2, "AdamW beta2")->capture_default_str();
  cmd->add_option("--eps", a->adamw.eps, "AdamW epsilon")->capture_default_str();
  cmd->add_option("--weight-decay", a->adamw.weight_decay, "AdamW decoupled weight decay")
      ->capture_default_str();
  cmd->callback([a] { run(*a); });
}

}  // namespace purelm::cli
