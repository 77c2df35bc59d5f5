// purelm train: train a fresh model (--model ARCH:PRESET) or fine-tune a checkpoint on plain text
// or chat conversations, writing HuggingFace checkpoints. Ctrl-C (SIGINT, or SIGUSR1, or SIGTERM as
// schedulers send before a kill) finishes the current step, saves a checkpoint and exits with 130;
// rerunning the command with --resume continues exactly. On a mesh, a signal to any one process
// stops all of them after the same step: mpirun forwards SIGUSR1, and turns its own Ctrl-C into a
// SIGTERM to every process (then a SIGKILL after odls_base_sigkill_timeout seconds).
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>

#include "purelm/commands.h"
#if PURELM_MESH
#include "purelm/dist/train_mesh.h"
#endif
#include "purelm/mesh_options.h"
#include "purelm/options.h"
#include "purelm/train/trainer.h"

namespace purelm::cli {

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_interrupt(int) {
  g_stop.store(true);
  const char msg[] =
      "\ninterrupted: finishing this step and saving a checkpoint (Ctrl-C again to abort)\n";
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
}

void run(const TrainOptions& o, const MeshArgs& mesh) {
  struct sigaction sa = {};
  sa.sa_handler = on_interrupt;
  sa.sa_flags = SA_RESETHAND | SA_RESTART;  // a second signal kills as usual
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  TrainSummary s;
#if PURELM_MESH
  if (on_mesh(mesh)) {  // all processes on the FSDP axis unless --tp says otherwise
    run_on_mesh(mesh, false, [&](const dist::Mesh& m) {
      dist::TrainMesh dp(m);
      s = train(o, &g_stop, &dp);
    });
  } else {
    s = train(o, &g_stop);
  }
#else
  (void)mesh;
  s = train(o, &g_stop);
#endif
  std::printf("%s\n", summary_line(s).c_str());
  if (s.interrupted) throw CLI::RuntimeError(130);
}

}  // namespace

void add_train(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  auto dtype = std::make_shared<std::string>("f32");
  auto mesh = std::make_shared<MeshArgs>();
  CLI::App* cmd =
      app.add_subcommand("train", "Train or fine-tune a model on text or chat data")
          ->footer(
              "--model ARCH:PRESET (e.g. qwen3:tiny, qwen3:small, qwen3:0.6B) starts from a random "
              "init;\n"
              "a folder or HF repo id fine-tunes it. Data: .txt (plain text) or .jsonl\n"
              "({\"messages\": [...]} per line; loss on assistant tokens only). --out gets a\n"
              "HuggingFace folder plus optimizer.safetensors, trainer_state.json, train_log.csv, "
              "loss.svg.");
  cmd->add_option("--model", o->model, "Checkpoint folder, HF repo id, or ARCH:PRESET")->required();
  cmd->add_option("--data", o->data, "Training data: .txt or .jsonl")->required();
  cmd->add_option("--out", o->out, "Checkpoint folder to write")->required();
  cmd->add_option("--tokenizer", o->tokenizer, "Tokenizer folder (default: the model's)");
  cmd->add_option("--steps", o->steps, "Optimizer steps in total")->capture_default_str();
  cmd->add_option("--batch", o->batch, "Sequences per micro-batch")->capture_default_str();
  cmd->add_option("--seq", o->seq, "Tokens per sequence")->capture_default_str();
  cmd->add_option("--grad-accum", o->grad_accum, "Micro-batches per step")->capture_default_str();
  cmd->add_option("--lr", o->lr, "Peak learning rate")->capture_default_str();
  cmd->add_option("--min-lr", o->min_lr, "Learning rate at the end of the cosine decay")
      ->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "Linear warmup steps")->capture_default_str();
  cmd->add_option("--weight-decay", o->weight_decay, "AdamW decoupled weight decay")
      ->capture_default_str();
  cmd->add_option("--beta1", o->beta1, "AdamW beta1")->capture_default_str();
  cmd->add_option("--beta2", o->beta2, "AdamW beta2")->capture_default_str();
  cmd->add_option("--eps", o->eps, "AdamW epsilon")->capture_default_str();
  cmd->add_option("--attention-dropout", o->attention_dropout,
                  "Dropout on the attention weights while training (default: the config's "
                  "attention_dropout; written into the checkpoint's config)");
  cmd->add_option("--clip", o->clip, "Clip the global gradient norm to this (0 = off)")
      ->capture_default_str();
  cmd->add_option("--eval-every", o->eval_every, "Evaluate every N steps (0 = only at the end)")
      ->capture_default_str();
  cmd->add_option("--eval-batches", o->eval_batches, "Held-out batches per evaluation")
      ->capture_default_str();
  cmd->add_option("--val-fraction", o->val_fraction, "Fraction of the data held out (its end)")
      ->capture_default_str();
  cmd->add_option("--save-every", o->save_every, "Checkpoint every N steps (0 = only at the end)")
      ->capture_default_str();
  add_dtype_option(cmd, dtype.get());
  cmd->add_flag("--recompute", o->recompute,
                "Keep only each layer's input through the forward and re-run the layer in the "
                "backward: less memory for about a third more time, the same gradients");
  cmd->add_option("--seed", o->seed, "Seed of the init and of the batches")->capture_default_str();
  cmd->add_flag("--resume", o->resume, "Continue from the checkpoint in --out (if there is one)");
  cmd->add_option("--no-decay", o->no_decay,
                  "Name patterns exempt from weight decay, e.g. embed_tokens,lm_head "
                  "(1-D tensors never decay)")
      ->delimiter(',');
  cmd->add_option("--stop-at", o->stop_at,
                  "End this run after step N with a checkpoint, as if interrupted");
  add_mesh_options(cmd, mesh.get());
  cmd->callback([o, dtype, mesh] {
    o->act = parse_compute_dtype(*dtype);
    run(*o, *mesh);
  });
}

}  // namespace purelm::cli
