// Activation recomputation (ops/autograd.h: checkpoint; Model::recompute; purelm train
// --recompute): the replayed layers give bit-identical gradients and training runs, on every
// family, with attention dropout, in bf16, and on an FSDP mesh.
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>

#include "purelm/io/safetensors.h"
#include "purelm/io/text_file.h"
#include "purelm/models/model.h"
#include "purelm/ops/autograd.h"
#include "purelm/ops/ops.h"
#include "purelm/train/objective.h"
#include "testing.h"

namespace purelm::testing {
namespace {

struct LossAndGrads {
  float loss;
  std::vector<std::vector<float>> grads;  // empty for a parameter the batch never reached
};

LossAndGrads run(Model& m, const std::vector<Param>& params, const Tensor& ids, bool recompute) {
  m.recompute = recompute;
  for (const Param& p : params) p.value.zero_grad();
  Tape tape;
  tape.seed(11);  // attention dropout's draws
  Tensor loss = lm_loss(m, ids, next_token_targets(ids));
  tape.backward(loss);
  LossAndGrads r{loss.item(), {}};
  for (const Param& p : params)
    r.grads.push_back(p.value.has_grad() ? p.value.grad().to_vector() : std::vector<float>{});
  return r;
}

class EachFixture : public ::testing::TestWithParam<std::tuple<const char*, DType>> {};

TEST_P(EachFixture, RecomputedGradientsAreBitIdentical) {
  auto [fixture, act] = GetParam();
  const std::string dir = shared("fixtures/") + fixture;
  Model m = load_model(dir, act);
  m.config.attention_dropout = 0.1;  // its masks must be drawn again, the same
  std::vector<Param> params = make_trainable(m);
  Tensor ids = TensorStore::open_file(dir + "/golden.safetensors").get("input_ids");
  LossAndGrads kept = run(m, params, ids, false), replayed = run(m, params, ids, true);
  EXPECT_EQ(replayed.loss, kept.loss);
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_EQ(replayed.grads[i], kept.grads[i]) << params[i].name;
  m.config.attention_dropout = 0;  // else the test could not see a replay with other draws
  EXPECT_NE(run(m, params, ids, false).loss, kept.loss);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, EachFixture,
    ::testing::Combine(::testing::Values("qwen3-tiny", "qwen3-tiny-tied", "llama3-tiny",
                                         "olmo2-tiny", "qwen3moe-tiny", "qwen3moe-tiny-mixed"),
                       ::testing::Values(DType::F32, DType::BF16)),
    [](const auto& info) {
      std::string name = std::get<0>(info.param);
      for (char& ch : name)
        if (ch == '-') ch = '_';
      return name + (std::get<1>(info.param) == DType::BF16 ? "_bf16" : "_f32");
    });

// A checkpoint's input may be read outside it too: both gradients add up.
TEST(Checkpoint, InputUsedOutsideGetsBothGradients) {
  Tensor x = Tensor::from_f32({0.5f, -1.0f, 2.0f, 0.25f, 1.5f, -0.75f}, {2, 3});
  Tensor w = Tensor::from_f32({0.1f, 0.2f, -0.3f, 0.4f, 0.5f, 0.6f, -0.7f, 0.8f, 0.9f}, {3, 3});
  Tensor g = Tensor::from_f32({1.0f, 1.1f, 0.9f}, {3});
  auto body = [w, g](Tensor x) { return linear(rmsnorm(x, g, 1e-6f), w); };
  auto grads = [&](bool recompute) {
    for (const Tensor& t : {x, w, g}) {
      t.set_requires_grad(true);
      t.zero_grad();
    }
    Tape tape;
    Tensor y = add(recompute ? checkpoint(x, body) : body(x), x);
    tape.backward(y, Tensor::from_f32({1, 2, 3, 4, 5, 6}, {2, 3}));
    return std::vector{x.grad().to_vector(), w.grad().to_vector(), g.grad().to_vector()};
  };
  EXPECT_EQ(grads(true), grads(false));
  NoGrad no_grad;  // not recording: a plain call
  EXPECT_FALSE(checkpoint(x, body).requires_grad());
}

std::string write_corpus(const TempDir& tmp) {
  std::ofstream(tmp.path("corpus.txt"))
      << read_text_file(shared("data/tinyshakespeare.txt")).substr(0, 60000);
  return tmp.path("corpus.txt");
}

std::vector<std::string> train_args(const std::string& data, const std::string& out) {
  std::vector<std::string> args = {
      "train", "--data", data, "--out", out, "--tokenizer", shared("models/stories260K")};
  std::istringstream flags(
      "--model qwen3:tiny --steps 4 --batch 2 --seq 32 --grad-accum 2 --warmup 1 --eval-every 2 "
      "--eval-batches 2 --attention-dropout 0.1");
  for (std::string f; flags >> f;) args.push_back(f);
  return args;
}

// step, train_loss, val_loss of each train_log.csv row, as written.
std::vector<std::string> loss_columns(const std::string& csv_path) {
  std::ifstream in(csv_path);
  std::vector<std::string> rows;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    size_t end = 0;
    for (int i = 0; i < 3; ++i) end = line.find(',', end) + 1;
    rows.push_back(line.substr(0, end));
  }
  return rows;
}

void expect_same_run(const std::string& a, const std::string& b) {
  std::vector<std::string> curve = loss_columns(a + "/train_log.csv");
  EXPECT_EQ(curve.size(), 4u);
  EXPECT_EQ(loss_columns(b + "/train_log.csv"), curve);
  for (const char* f : {"/model.safetensors", "/optimizer.safetensors"})
    EXPECT_EQ(read_text_file(b + f), read_text_file(a + f)) << f;
}

// Also when a run is resumed with the flag (it is not part of what a resume must match).
TEST(Train, RecomputeGivesTheSameRun) {
  TempDir tmp;
  const std::string data = write_corpus(tmp);
  std::vector<std::string> kept = train_args(data, tmp.path("kept")),
                           replayed = train_args(data, tmp.path("replayed")),
                           first = train_args(data, tmp.path("resumed")), rest = first;
  replayed.push_back("--recompute");
  first.insert(first.end(), {"--stop-at", "2"});
  rest.insert(rest.end(), {"--resume", "--recompute"});
  for (const auto& args : {kept, replayed, first, rest}) {
    RunResult r = run_cli(args);
    ASSERT_EQ(r.status, 0) << r.err;
  }
  expect_same_run(tmp.path("kept"), tmp.path("replayed"));
  expect_same_run(tmp.path("kept"), tmp.path("resumed"));
}

// Under FSDP the replay reads each layer again, which gathers it again.
TEST(Train, RecomputeOnAnFsdpMeshGivesTheSameRun) {
  if (!PURELM_MESH) GTEST_SKIP() << "built without MPI";
  TempDir tmp;
  const std::string data = write_corpus(tmp);
  std::vector<std::string> kept = train_args(data, tmp.path("kept")),
                           replayed = train_args(data, tmp.path("replayed"));
  for (auto* args : {&kept, &replayed}) args->insert(args->end(), {"--fsdp", "2"});
  replayed.push_back("--recompute");
  for (const auto& args : {kept, replayed}) {
    RunResult r = run_mpi(2, args);
    ASSERT_EQ(r.status, 0) << r.err;
  }
  expect_same_run(tmp.path("kept"), tmp.path("replayed"));
}

}  // namespace
}  // namespace purelm::testing
