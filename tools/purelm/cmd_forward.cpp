// purelm forward: the verification contract of DESIGN.md section 5. Reads input_ids from a
// safetensors file and writes logits, and with --grad the loss and every parameter's gradient,
// and with --adamw-steps the losses and parameters after that many AdamW steps on the batch.
#include <cstdio>
#include <memory>

#include "purelm/commands.h"
#if PURELM_MESH
#include "purelm/dist/batch.h"
#endif
#include "purelm/io/safetensors.h"
#include "purelm/mesh_options.h"
#include "purelm/models/model.h"
#include "purelm/ops/autograd.h"
#include "purelm/options.h"
#include "purelm/train/objective.h"

namespace purelm::cli {

namespace {

struct ForwardArgs {
  std::string model, input, output, dtype = "f32", quant = "none";
  bool grad = false;
  int adamw_steps = 0;
  AdamWConfig adamw{0.01, 0.9, 0.95, 1e-8, 0.1};
  MeshArgs mesh;
};

Tensor read_ids(const std::string& path) {
  Tensor ids = TensorStore::open_file(path).get("input_ids");
  check(ids.dtype() == DType::I32 && ids.rank() == 2, path, ": input_ids must be I32 [B, T]");
  return ids;
}

void run(const ForwardArgs& a) {
  Model m = load_inference_model(a.model, parse_compute_dtype(a.dtype), a.quant);
  Tensor ids = read_ids(a.input);
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

#if PURELM_MESH
// The same on a mesh: each FSDP rank takes its share of the batch rows, and the leader writes
// the whole results, as one process would.
void run_on(const dist::Mesh& mesh, const ForwardArgs& a) {
  dist::MeshModel mm(mesh, a.model, parse_compute_dtype(a.dtype));
  apply_quant(mm, a.quant);
  Model& m = mm.model();
  Tensor ids = dist::local_rows(read_ids(a.input), mesh.fsdp());
  std::vector<std::pair<std::string, Tensor>> out;
  auto add = [&](std::vector<std::pair<std::string, Tensor>> more) {
    for (auto& t : more) out.push_back(std::move(t));
  };
  {
    NoGrad no_grad;
    Tensor logits = dist::gather_rows(m.logits(ids), mesh.fsdp());
    if (mesh.leader()) out.push_back({"logits", logits});
  }
  if (a.grad || a.adamw_steps > 0) {
    std::vector<Param> params;
    for (auto& [name, t] : mm.make_trainable()) params.push_back({name, t});
    auto grad_of = [&](size_t i) {
      const Tensor& p = params[i].value;
      return p.has_grad() ? p.grad() : Tensor::zeros(p.shape(), DType::F32);
    };
    auto value_of = [&](size_t i) { return params[i].value; };
    Tensor targets = next_token_targets(ids);
    dist::TargetShare share = dist::share_targets(targets, mesh.fsdp());
    auto scalar = [](double v) { return Tensor::from_f32({float(v)}, {1}); };
    auto loss_and_grads = [&] {  // each rank's backward carries its share of the mean
      Tape tape;
      Tensor loss = lm_loss(m, ids, targets);
      tape.backward(loss, scalar(share.weight()));
      mm.finish_grads();
      return dist::global_mean(loss.item(), share, mesh.fsdp());
    };
    if (a.grad) {
      out.push_back({"loss", scalar(loss_and_grads())});
      add(mm.gather("grad.", grad_of));
    }
    if (a.adamw_steps > 0) {
      AdamW opt(params, a.adamw);
      std::vector<float> losses;
      for (int s = 0; s < a.adamw_steps; ++s) {
        opt.zero_grad();
        losses.push_back(float(loss_and_grads()));
        opt.step(a.adamw.lr);
        mm.after_step();
      }
      out.push_back({"adamw_losses", Tensor::from_f32(losses, {int64_t(losses.size())})});
      NoGrad no_grad;
      double final_loss = lm_loss(m, ids, targets).item();
      out.push_back(
          {"adamw_final_loss", scalar(dist::global_mean(final_loss, share, mesh.fsdp()))});
      add(mm.gather("after_adamw.", value_of));
    }
  }
  if (mesh.leader()) save_safetensors(a.output, out);
}
#endif

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
  add_quant_option(cmd, &a->quant);
  add_mesh_options(cmd, &a->mesh);
  cmd->callback([a] {
    check(!parse_quant(a->quant) || (!a->grad && a->adamw_steps == 0),
          "--quant is for inference: it cannot be combined with --grad or --adamw-steps");
#if PURELM_MESH
    if (on_mesh(a->mesh))
      return run_on_mesh(a->mesh, true, [&](const dist::Mesh& mesh) { run_on(mesh, *a); });
#endif
    run(*a);
  });
}

}  // namespace purelm::cli
