// Training: the schedule, clipping, chat loss masks, and whole runs: resuming gives the curve of an
// uninterrupted run, and what `train` writes loads back in the CLI.
#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "purelm/core/error.h"
#include "purelm/io/text_file.h"
#include "purelm/models/model.h"
#include "purelm/tokenizer/chat_template.h"
#include "purelm/tokenizer/tokenizer.h"
#include "purelm/train/adamw.h"
#include "purelm/train/chat_data.h"
#include "purelm/train/optim.h"
#include "purelm/train/schedule.h"
#include "purelm/train/trainer.h"
#include "testing.h"

namespace purelm {
namespace {

using testing::TempDir;

const std::string kStories = testing::shared("models/stories260K");

TEST(Schedule, WarmupThenCosineToMinimum) {
  LrSchedule s{.lr = 1e-3, .min_lr = 1e-4, .warmup = 10, .total = 110};
  EXPECT_NEAR(s.at(0), 1e-4, 1e-12);
  EXPECT_NEAR(s.at(9), 1e-3, 1e-12);
  EXPECT_NEAR(s.at(109), 1e-4, 1e-12);
  EXPECT_NEAR(s.at(59), 0.5 * (1e-3 + 1e-4), 1e-5);  // half-way through the decay
  for (int64_t i = 10; i < 109; ++i) EXPECT_GE(s.at(i), s.at(i + 1));
}

TEST(Optim, ClipScalesToTheMaxNormAndDecayRulesExcludeNorms) {
  std::vector<Param> ps = {{"model.layers.0.mlp.up_proj.weight", Tensor::zeros({2, 2}, DType::F32)},
                           {"model.norm.weight", Tensor::zeros({2}, DType::F32)},
                           {"model.embed_tokens.weight", Tensor::zeros({2, 2}, DType::F32)}};
  for (auto& p : ps) {
    Tensor& g = p.value.ensure_grad();
    for (int64_t i = 0; i < g.numel(); ++i) g.data<float>()[i] = 3.0f;
  }
  // norm = 3 * sqrt(4 + 2 + 4) = 3 sqrt(10)
  EXPECT_NEAR(clip_grad_norm(ps, 1.0), 3.0 * std::sqrt(10.0), 1e-5);
  EXPECT_NEAR(global_grad_norm(ps), 1.0, 1e-5);
  apply_decay_rules(ps, {"embed_tokens"});
  EXPECT_TRUE(ps[0].decay);
  EXPECT_FALSE(ps[1].decay);
  EXPECT_FALSE(ps[2].decay);
}

TEST(ChatData, OnlyAssistantTokensAreTargets) {
  Tokenizer tok = Tokenizer::load(testing::shared("tokenizers/qwen3"));
  ChatTemplate tmpl(tok.chat_template());
  nlohmann::ordered_json messages = {{{"role", "user"}, {"content", "Name a colour."}},
                                     {{"role", "assistant"}, {"content", "Blue."}},
                                     {{"role", "user"}, {"content", "Another?"}},
                                     {{"role", "assistant"}, {"content", "Green."}}};
  std::string targets;
  for (const TokenSplit& s : {tokenize_conversation(tok, tmpl, messages)}) {
    ASSERT_EQ(s.tokens.size(), s.target.size());
    for (size_t i = 0; i < s.tokens.size(); ++i) {
      if (s.is_target(i)) targets += tok.decode({s.tokens[i]});
    }
  }
  EXPECT_NE(targets.find("Blue."), std::string::npos) << targets;
  EXPECT_NE(targets.find("Green."), std::string::npos) << targets;
  EXPECT_EQ(targets.find("colour"), std::string::npos) << targets;
  EXPECT_EQ(targets.find("Another"), std::string::npos) << targets;
  EXPECT_EQ(targets.find("user"), std::string::npos) << targets;
}

std::string write_corpus(const TempDir& tmp) {
  std::string text = read_text_file(testing::shared("data/tinyshakespeare.txt")).substr(0, 60000);
  std::ofstream(tmp.path("corpus.txt")) << text;
  return tmp.path("corpus.txt");
}

TrainOptions tiny_run(const std::string& data, const std::string& out) {
  TrainOptions o;
  o.model = "qwen3:tiny";  // V = 512, as stories260K's tokenizer
  o.tokenizer = kStories;
  o.data = data;
  o.out = out;
  o.steps = 8;
  o.batch = 2;
  o.seq = 32;
  o.grad_accum = 2;
  o.warmup = 2;
  o.lr = 3e-3;
  o.eval_every = 4;
  o.eval_batches = 2;
  o.seed = 7;
  return o;
}

std::vector<std::string> loss_column(const std::string& csv_path) {
  std::ifstream in(csv_path);
  std::string line;
  std::vector<std::string> losses;
  std::getline(in, line);  // header
  while (std::getline(in, line))
    losses.push_back(line.substr(0, line.find(',', line.find(',') + 1)));
  return losses;
}

std::string bytes_of(const std::string& path) { return read_text_file(path); }

// With attention dropout on, so that its randomness must resume too; the resumed run takes the
// dropout rate from the checkpoint's config.json.
TEST(Train, ResumeContinuesTheSameLossCurve) {
  TempDir tmp;
  const std::string data = write_corpus(tmp);
  TrainOptions whole_run = tiny_run(data, tmp.path("whole"));
  whole_run.attention_dropout = 0.2;
  TrainSummary whole = train(whole_run);
  EXPECT_EQ(whole.steps, 8);
  EXPECT_TRUE(std::isfinite(whole.val_loss));

  TrainOptions first = tiny_run(data, tmp.path("split"));
  first.attention_dropout = 0.2;
  first.stop_at = 3;
  EXPECT_EQ(train(first).steps, 3);
  TrainOptions rest = tiny_run(data, tmp.path("split"));
  rest.resume = true;
  EXPECT_EQ(train(rest).steps, 8);
  train(tiny_run(data, tmp.path("no_dropout")));

  std::vector<std::string> a = loss_column(tmp.path("whole/train_log.csv"));
  std::vector<std::string> b = loss_column(tmp.path("split/train_log.csv"));
  ASSERT_EQ(a.size(), 8u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, loss_column(tmp.path("no_dropout/train_log.csv")));
  EXPECT_EQ(bytes_of(tmp.path("whole/model.safetensors")),
            bytes_of(tmp.path("split/model.safetensors")));
  EXPECT_EQ(bytes_of(tmp.path("whole/optimizer.safetensors")),
            bytes_of(tmp.path("split/optimizer.safetensors")));
}

TEST(Train, CheckpointIsAHuggingFaceFolderThatGenerates) {
  TempDir tmp;
  TrainOptions o = tiny_run(write_corpus(tmp), tmp.path("out"));
  o.steps = 2;
  train(o);
  for (const char* f :
       {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json",
        "train_log.csv", "loss.svg", "optimizer.safetensors"}) {
    EXPECT_TRUE(std::filesystem::exists(tmp.path(std::string("out/") + f))) << f;
  }
  auto r = testing::run_cli({"generate", "--model", tmp.path("out"), "--prompt", "Once upon",
                             "--max-tokens", "5", "--temperature", "0"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(r.out.empty());  // the completion only, streamed
  EXPECT_NE(r.err.find("5 generated"), std::string::npos) << r.err;
}

TEST(Train, FineTunesARealCheckpointAndLowersItsLoss) {
  TempDir tmp;
  TrainOptions o = tiny_run(write_corpus(tmp), tmp.path("ft"));
  o.model = kStories;
  o.tokenizer = "";
  o.steps = 6;
  o.eval_every = 0;
  o.lr = 1e-3;
  TrainSummary s = train(o);
  EXPECT_EQ(s.steps, 6);
  std::vector<std::string> losses = loss_column(tmp.path("ft/train_log.csv"));
  ASSERT_EQ(losses.size(), 6u);
  Model m = load_model(tmp.path("ft"));
  EXPECT_EQ(m.config.vocab_size, 512);
}

// A run stopped before its first evaluation says so rather than printing nan: --stop-at (the
// CLI's summary line and what it writes; tiny_run's settings, so that it resumes), then an
// interrupt before the resumed run's first step.
TEST(Train, StoppedBeforeAnyEvaluationSaysSo) {
  TempDir tmp;
  const std::string data = write_corpus(tmp), out = tmp.path("out");
  std::vector<std::string> args = {
      "train", "--model", "qwen3:tiny", "--tokenizer", kStories, "--data", data, "--out", out};
  for (const char* flag :
       {"--steps=8", "--batch=2", "--seq=32", "--grad-accum=2", "--warmup=2", "--lr=3e-3",
        "--eval-every=4", "--eval-batches=2", "--seed=7", "--stop-at=2"})
    args.push_back(flag);
  testing::RunResult r = testing::run_cli(args);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("done, 2 steps: train loss "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(", no evaluation yet, "), std::string::npos) << r.out;
  const std::regex nan("\\bnan\\b", std::regex::icase);
  for (const std::string& text :
       {r.out, r.err, bytes_of(out + "/train_log.csv"), bytes_of(out + "/loss.svg"),
        bytes_of(out + "/trainer_state.json")})
    EXPECT_FALSE(std::regex_search(text, nan)) << text;

  TrainOptions o = tiny_run(data, out);
  o.resume = true;
  const std::atomic<bool> stop{true};
  TrainSummary s = train(o, &stop);
  EXPECT_TRUE(s.interrupted);
  const std::string line = summary_line(s);
  EXPECT_EQ(line.find("interrupted after 2 steps: train loss "), 0u) << line;
  EXPECT_NE(line.find(", no evaluation yet, "), std::string::npos) << line;
  EXPECT_FALSE(std::regex_search(line, nan)) << line;
}

TEST(Train, BadInputsFailClearly) {
  TempDir tmp;
  TrainOptions o = tiny_run(tmp.path("missing.txt"), tmp.path("out"));
  EXPECT_THROW(train(o), Error);
  o = tiny_run(write_corpus(tmp), tmp.path("out2"));
  o.model = "qwen3:enormous";
  try {
    train(o);
    ADD_FAILURE() << "unknown preset accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("available"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace purelm
