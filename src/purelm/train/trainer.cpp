#include "purelm/train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "purelm/io/hf_folder.h"
#include "purelm/ops/autograd.h"
#include "purelm/train/checkpoint.h"
#include "purelm/train/data.h"
#include "purelm/train/init.h"
#include "purelm/train/objective.h"
#include "purelm/train/optim.h"
#include "purelm/train/presets.h"
#include "purelm/train/progress.h"
#include "purelm/train/schedule.h"
#include "purelm/train/step.h"

namespace purelm {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kTrainStream = 0, kEvalStream = 1;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void validate(const TrainOptions& o) {
  check(o.steps > 0 && o.batch > 0 && o.seq > 0 && o.grad_accum > 0,
        "--steps, --batch, --seq and --grad-accum must be positive");
  check(o.lr > 0 && o.min_lr >= 0 && o.min_lr <= o.lr, "need 0 <= --min-lr <= --lr and --lr > 0");
  check(o.warmup >= 0 && o.eval_every >= 0 && o.eval_batches >= 0 && o.save_every >= 0 &&
            o.stop_at >= 0,
        "--warmup, --eval-every, --eval-batches, --save-every and --stop-at must not be negative");
  check(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1,
        "--beta1 and --beta2 must be in [0, 1)");
  check(o.weight_decay >= 0 && o.clip >= 0, "--weight-decay and --clip must not be negative");
}

// The model and tokenizer a run starts from: the checkpoint being resumed, a fresh random model
// (ARCH:PRESET), or a checkpoint to fine-tune. `files` are what every checkpoint carries along.
// The model is built by the processes that train it, from `config` and `source`.
struct Start {
  Tokenizer tok;
  FileSet files;
  std::string description;
  Config config;
  WeightSource source;
};

Start start_from(const TrainOptions& o, bool resumed) {
  auto preset = parse_model_preset(o.model);
  std::string model_dir = resumed ? o.out : preset ? "" : resolve_model_dir(o.model);
  std::string tok_dir = resumed ? o.out : !o.tokenizer.empty() ? o.tokenizer : model_dir;
  check(!tok_dir.empty(), "a fresh model (", o.model, ") needs --tokenizer DIR");
  Start s{Tokenizer::load(tok_dir), read_tokenizer_files(tok_dir), "", Config{}, {}};
  if (tok_dir != model_dir) {  // generation_config.json belongs to the model, not the tokenizer
    s.files.erase("generation_config.json");
    if (!model_dir.empty()) {
      FileSet from_model = read_tokenizer_files(model_dir);
      if (from_model.count("generation_config.json"))
        s.files["generation_config.json"] = from_model["generation_config.json"];
    }
  }
  if (!model_dir.empty()) {
    s.config = load_config(model_dir + "/config.json");
    s.source = checkpoint_weights(model_dir);
    s.description = (resumed ? "resuming " : "fine-tuning ") + model_dir;
  } else {
    Config c = preset_config(preset->first, preset->second, DType::F32);
    if (is_toy_preset(preset->second)) c.vocab_size = s.tok.vocab_size();
    c.bos_token_id = s.tok.bos_id();
    c.eos_token_ids.clear();
    if (auto eos = s.tok.eos_id()) c.eos_token_ids.push_back(*eos);
    s.source = random_weights(c, o.seed);
    s.config = c;
    s.description = "fresh " + o.model;
  }
  if (o.attention_dropout) {
    check(*o.attention_dropout >= 0 && *o.attention_dropout < 1,
          "--attention-dropout must be in [0, 1)");
    s.config.attention_dropout = *o.attention_dropout;
  }
  check(s.tok.vocab_size() <= s.config.vocab_size, "the tokenizer has ", s.tok.vocab_size(),
        " tokens but the model's vocabulary only ", s.config.vocab_size);
  return s;
}

// Mean loss over the held-out batches (the same batches at every evaluation), weighted by targets.
double evaluate(const Model& m, const TokenSplit& val, const TrainOptions& o,
                const DataParallel& dp) {
  NoGrad no_grad;
  double sum = 0, counted = 0;
  for (int64_t j = 0; j < o.eval_batches; ++j) {
    Batch whole = sample_batch(val, o.batch, o.seq, o.seed, kEvalStream, uint64_t(j));
    if (whole.counted == 0) continue;  // the same decision on every process
    Batch b = local_batch(whole, dp);
    sum += double(lm_loss(m, b.ids, b.targets).item()) * double(b.counted);
    counted += double(b.counted);
  }
  sum = dp.sum(sum);
  counted = dp.sum(counted);
  return counted > 0 ? sum / counted : NAN;
}

void check_resumable(const nlohmann::json& state, const TrainOptions& o, const Dataset& d) {
  const nlohmann::json& run = state.at("run");
  for (const char* key : {"seed", "batch", "seq", "grad_accum"})
    check(run.at(key) == options_to_json(o).at(key), "--resume: --", key,
          " differs from the checkpoint's (", run.at(key).dump(),
          "); the run would not continue the same way");
  check(state.at("data").at("train_tokens").get<size_t>() == d.train.tokens.size(),
        "--resume: the training data differs from the checkpoint's (", d.train.tokens.size(),
        " tokens, the checkpoint saw ", state.at("data").at("train_tokens").dump(), ")");
}

}  // namespace

nlohmann::json options_to_json(const TrainOptions& o) {
  return {{"model", o.model},
          {"data", o.data},
          {"out", o.out},
          {"tokenizer", o.tokenizer},
          {"steps", o.steps},
          {"batch", o.batch},
          {"seq", o.seq},
          {"grad_accum", o.grad_accum},
          {"lr", o.lr},
          {"min_lr", o.min_lr},
          {"warmup", o.warmup},
          {"weight_decay", o.weight_decay},
          {"beta1", o.beta1},
          {"beta2", o.beta2},
          {"eps", o.eps},
          {"clip", o.clip},
          {"eval_every", o.eval_every},
          {"eval_batches", o.eval_batches},
          {"val_fraction", o.val_fraction},
          {"attention_dropout",
           o.attention_dropout ? nlohmann::json(*o.attention_dropout) : nlohmann::json(nullptr)},
          {"save_every", o.save_every},
          {"dtype", o.act == DType::BF16 ? "bf16" : "f32"},
          {"recompute", o.recompute},
          {"seed", o.seed},
          {"no_decay", o.no_decay}};
}

std::string summary_line(const TrainSummary& s) {
  auto figure = [](const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return std::string(buf);
  };
  // A figure never measured (a run stopped before its first step or evaluation; bits per byte of
  // chat data) is left out, not printed as nan.
  std::vector<std::string> parts;
  if (!std::isnan(s.train_loss)) parts.push_back(figure("train loss %.4f", s.train_loss));
  parts.push_back(std::isnan(s.val_loss) ? "no evaluation yet"
                                         : figure("val loss %.4f", s.val_loss));
  if (!std::isnan(s.val_bpb)) parts.push_back(figure("val bpb %.4f", s.val_bpb));
  parts.push_back(format_duration(s.seconds));
  parts.push_back(figure("%.0f tok/s", s.tokens_per_s));
  std::string line =
      (s.interrupted ? "interrupted after " : "done, ") + std::to_string(s.steps) + " steps:";
  for (size_t i = 0; i < parts.size(); ++i) line += (i ? ", " : " ") + parts[i];
  return line;
}

TrainSummary train(const TrainOptions& o, const std::atomic<bool>* stop, DataParallel* mesh) {
  validate(o);
  const bool resumed = o.resume && has_checkpoint(o.out);
  std::error_code ec;
  check(resumed || !fs::exists(fs::path(o.out) / "config.json", ec), "'", o.out,
        "' already holds a checkpoint: pass --resume to continue it, or choose another --out");
  if (o.resume && !resumed)
    std::fprintf(stderr, "no checkpoint in %s yet: starting a new run\n", o.out.c_str());

  SingleProcess alone;
  DataParallel& dp = mesh ? *mesh : alone;
  Start s = start_from(o, resumed);
  Model& m = dp.build(s.config, s.source, o.act);
  m.recompute = o.recompute;
  std::vector<Param> params = dp.make_trainable();
  std::vector<int> ranks;  // as the model uses them: mesh shards are flat
  int64_t parameters = 0;  // of the whole model
  for (const WeightInfo& w : weight_table(s.config)) {
    ranks.push_back(int(w.shape.size()));
    parameters += numel(w.shape);
  }
  apply_decay_rules(params, o.no_decay, ranks);
  const AdamWConfig adamw{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay};
  AdamW opt(params, adamw);

  std::fprintf(stderr, "tokenizing %s\n", o.data.c_str());
  Dataset d = load_dataset(o.data, s.tok, o.val_fraction);
  check(d.train.tokens.size() >= 2, o.data, ": too little training data (", d.train.tokens.size(),
        " tokens)");
  const bool can_eval = d.val.tokens.size() >= 2 && o.eval_batches > 0;

  int64_t step = 0;
  std::vector<LogRow> history;
  double elapsed_before = 0;
  if (resumed) {
    nlohmann::json state =
        load_checkpoint(o.out, params, opt,
                        [&dp](size_t i, const Tensor& whole) { return dp.local_part(i, whole); });
    dp.after_step();
    check_resumable(state, o, d);
    step = state.at("step").get<int64_t>();
    elapsed_before = state.at("elapsed_s").get<double>();
    history = history_from_json(state.at("history"));
  }
  std::fprintf(stderr,
               "%s: %s, %.2fM parameters; data: %zu train / %zu val tokens; %lld x %lld x %lld "
               "tokens per step\n",
               s.description.c_str(), m.config.model_type.c_str(), double(parameters) / 1e6,
               d.train.tokens.size(), d.val.tokens.size(), (long long)o.grad_accum,
               (long long)o.batch, (long long)o.seq);

  const LrSchedule schedule{o.lr, o.min_lr, o.warmup, o.steps};
  const Clock::time_point start = Clock::now();
  auto checkpoint = [&] {
    nlohmann::json state = {
        {"step", step},
        {"adamw_step", opt.steps()},
        {"elapsed_s", elapsed_before + seconds_since(start)},
        {"rng",
         {{"sampler", "splitmix64(seed, stream, step * grad_accum + micro_batch)"},
          {"seed", o.seed},
          {"next_step", step}}},
        {"data",
         {{"path", o.data},
          {"train_tokens", d.train.tokens.size()},
          {"val_tokens", d.val.tokens.size()},
          {"val_bytes", d.val.bytes},
          {"windows_drawn", step * o.grad_accum * o.batch}}},
        {"run", options_to_json(o)}};
    std::string title = "purelm train: " + o.model + " on " + fs::path(o.data).filename().string();
    std::vector<Param> whole = dp.gather_params(params);  // the leader gets the model whole
    std::vector<Tensor> m1 = dp.gather_moments(opt.m()), m2 = dp.gather_moments(opt.v());
    if (!dp.leader()) return;
    save_checkpoint(o.out, {&s.config, &whole, &m1, &m2, state, history, s.files, title});
  };
  auto eval_row = [&](LogRow& row) {
    row.val_loss = evaluate(m, d.val, o, dp);
    if (!d.chat && d.val.bytes > 0)
      row.val_bpb =
          row.val_loss / std::log(2.0) * double(d.val.tokens.size()) / double(d.val.bytes);
  };

  Progress progress(step, o.steps);
  TrainSummary sum;
  int64_t tokens_this_run = 0;
  double step_seconds = 0;
  const int64_t first = step;
  while (step < o.steps) {
    // A signal to any process stops all at this step.
    if (dp.any(stop && stop->load())) {
      sum.interrupted = true;
      break;
    }
    const Clock::time_point t0 = Clock::now();
    const double lr = schedule.at(step);
    std::vector<Batch> micro;
    int64_t counted = 0, tokens = 0;
    for (int64_t i = 0; i < o.grad_accum; ++i) {
      micro.push_back(sample_batch(d.train, o.batch, o.seq, o.seed, kTrainStream,
                                   uint64_t(step * o.grad_accum + i)));
      counted += micro.back().counted;
      tokens += micro.back().ids.numel();
    }
    check(counted > 0, o.data, ": no training targets in the batches of step ", step + 1);
    const double loss = train_step(m, dp, opt, micro, lr, o.clip,
                                   o.seed * 0x9E3779B97F4A7C15ull + uint64_t(step * o.grad_accum));
    ++step;
    const double dt = seconds_since(t0);
    step_seconds += dt;
    tokens_this_run += tokens;

    LogRow row{step, loss, NAN, NAN, lr, double(tokens) / dt, 0};
    if (can_eval && ((o.eval_every > 0 && step % o.eval_every == 0) || step == o.steps)) {
      eval_row(row);
      char buf[128];
      std::snprintf(buf, sizeof buf, "eval at step %lld: val loss %.4f", (long long)step,
                    row.val_loss);
      std::string note = buf;
      if (!std::isnan(row.val_bpb)) note += ", val bpb " + std::to_string(row.val_bpb);
      progress.note(note);
    }
    row.elapsed_s = elapsed_before + seconds_since(start);
    history.push_back(row);
    progress.update(step, row.train_loss, lr, double(tokens_this_run) / step_seconds);
    if (o.save_every > 0 && step % o.save_every == 0 && step < o.steps) {
      checkpoint();
      progress.note("saved " + o.out + " at step " + std::to_string(step));
    }
    if (o.stop_at > 0 && step >= o.stop_at) break;
  }
  progress.finish();
  if (step > first) checkpoint();

  sum.steps = step;
  sum.seconds = seconds_since(start);
  sum.tokens_per_s = step_seconds > 0 ? double(tokens_this_run) / step_seconds : 0;
  for (const LogRow& r : history) {
    if (!std::isnan(r.train_loss)) sum.train_loss = r.train_loss;
    if (!std::isnan(r.val_loss)) sum.val_loss = r.val_loss, sum.val_bpb = r.val_bpb;
  }
  return sum;
}

}  // namespace purelm
