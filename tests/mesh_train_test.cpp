// `mpirun purelm train` on a mesh against one process: with FSDP, tensor parallelism or both,
// with attention dropout, gradient clipping, a resume (on another layout) and a Ctrl-C on one
// process, the loss curve, the weights and the AdamW moments equal one process's to rounding.
#include <cctype>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "purelm/io/safetensors.h"
#include "testing.h"

namespace purelm::testing {
namespace {

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string w; ss >> w;) out.push_back(w);
  return out;
}

std::string write_corpus(const TempDir& tmp) {
  std::ifstream in(shared("data/tinyshakespeare.txt"));
  std::string text(60000, '\0');
  in.read(text.data(), std::streamsize(text.size()));
  std::ofstream(tmp.path("corpus.txt")) << text;
  return tmp.path("corpus.txt");
}

// A short fine-tuning run of stories260K (8 heads, 4 kv heads: TP 2 splits it) writing to `out`.
std::vector<std::string> train_args(const std::string& data, const std::string& out, int steps,
                                    const std::string& extra) {
  std::vector<std::string> args = {"train",  "--model", shared("models/stories260K"),
                                   "--data", data,      "--out",
                                   out,      "--steps", std::to_string(steps)};
  for (std::string& w : words("--batch 4 --seq 32 --grad-accum 2 --lr 1e-3 --warmup 2 "
                              "--eval-every 3 --eval-batches 2 " +
                              extra))
    args.push_back(w);
  return args;
}

// train_log.csv rows as numbers: step, train_loss, val_loss (NaN when empty).
std::vector<std::vector<double>> losses(const std::string& csv) {
  std::ifstream f(csv);
  std::string line;
  std::getline(f, line);  // header
  std::vector<std::vector<double>> rows;
  while (std::getline(f, line)) {
    std::vector<double> row;
    std::stringstream ss(line);
    for (std::string cell; row.size() < 3 && std::getline(ss, cell, ',');)
      row.push_back(cell.empty() ? NAN : std::stod(cell));
    rows.push_back(row);
  }
  return rows;
}

// The mesh's checkpoint folder against one process's: the same loss curve to rounding, and the
// same weights and AdamW moments in an ordinary HuggingFace folder that generates.
void expect_same_run(const std::string& one, const std::string& mesh, size_t steps) {
  auto a = losses(one + "/train_log.csv"), b = losses(mesh + "/train_log.csv");
  ASSERT_EQ(a.size(), steps);
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = 0; j < 3; ++j) {
      if (std::isnan(a[i][j])) {
        EXPECT_TRUE(std::isnan(b[i][j])) << "row " << i;
        continue;
      }
      EXPECT_NEAR(b[i][j], a[i][j], 1e-5 * std::fabs(a[i][j])) << "row " << i << " col " << j;
    }
  for (const char* file : {"/model.safetensors", "/optimizer.safetensors"}) {
    TensorStore x = TensorStore::open_file(one + file), y = TensorStore::open_file(mesh + file);
    ASSERT_EQ(x.names(), y.names());
    for (const std::string& name : x.names())
      EXPECT_LE(rel_error(y.get(name), x.get(name)), 1e-4) << file << " " << name;
  }
  auto r = run_cli({"generate", "--model", mesh, "--prompt", "ROMEO:", "--max-tokens", "4",
                    "--temperature", "0"});
  EXPECT_EQ(r.status, 0) << r.err;
}

struct TrainCase {
  int np;
  const char* mesh;   // the layout
  const char* flags;  // for both runs
};

void PrintTo(const TrainCase& c, std::ostream* os) {
  *os << c.np << " processes " << c.mesh << " " << c.flags;
}

class MeshTraining : public ::testing::TestWithParam<TrainCase> {};

TEST_P(MeshTraining, FollowsTheLossCurveOfOneProcess) {
  const TrainCase& c = GetParam();
  TempDir tmp;
  std::string data = write_corpus(tmp);
  auto r = run_cli(train_args(data, tmp.path("one"), 6, c.flags));
  ASSERT_EQ(r.status, 0) << r.err;
  r = run_mpi(c.np, train_args(data, tmp.path("mesh"), 6, std::string(c.flags) + " " + c.mesh));
  ASSERT_EQ(r.status, 0) << r.err;
  expect_same_run(tmp.path("one"), tmp.path("mesh"), 6);
}

// Dropout masks follow the global batch row and head; --clip 0.05 clips every step, so the
// gradient norm must count a weight every TP rank holds once.
const TrainCase kTrainCases[] = {
    {2, "--fsdp 2", ""},
    {2, "--tp 2", "--clip 0.05"},
    {2, "--fsdp 2", "--attention-dropout 0.1"},
    {4, "--tp 2 --fsdp 2", "--attention-dropout 0.1 --clip 0.05"},
};

INSTANTIATE_TEST_SUITE_P(Layouts, MeshTraining, ::testing::ValuesIn(kTrainCases),
                         [](const auto& info) {
                           std::string s = std::string(info.param.mesh) + info.param.flags;
                           std::string name;
                           for (char ch : s)
                             if (std::isalnum(static_cast<unsigned char>(ch))) name += ch;
                           return name;
                         });

// Stopped under --tp 2 and resumed under --fsdp 2: a checkpoint is an ordinary folder, whatever
// the layout that wrote it, and the run continues as one process's uninterrupted run.
TEST(MeshTrainingResume, ContinuesOnAnotherLayout) {
  TempDir tmp;
  std::string data = write_corpus(tmp);
  const std::string dropout = "--attention-dropout 0.1";
  auto r = run_cli(train_args(data, tmp.path("one"), 6, dropout));
  ASSERT_EQ(r.status, 0) << r.err;
  r = run_mpi(2, train_args(data, tmp.path("mesh"), 6, dropout + " --stop-at 3 --tp 2"));
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(losses(tmp.path("mesh/train_log.csv")).size(), 3u);
  r = run_mpi(2, train_args(data, tmp.path("mesh"), 6, "--resume --fsdp 2"));
  ASSERT_EQ(r.status, 0) << r.err;
  expect_same_run(tmp.path("one"), tmp.path("mesh"), 6);
}

// SIGINT (Ctrl-C) or SIGTERM (what mpirun and schedulers send) to one process only (rank 1, once
// the first checkpoint is on disk): every process stops after the same step, the leader writes one
// checkpoint, all exit with 130; the run resumed under --tp 2 ends as one process's uninterrupted
// run.
TEST(MeshTrainingResume, InterruptOnOneProcessStopsAllAtOneCheckpoint) {
  TempDir tmp;
  std::string data = write_corpus(tmp);
  const int steps = 60;
  auto r = run_cli(train_args(data, tmp.path("one"), steps, ""));
  ASSERT_EQ(r.status, 0) << r.err;
  for (const std::string sig : {"INT", "TERM"}) {
    SCOPED_TRACE("SIG" + sig);
    const std::string out = tmp.path("mesh" + sig), state = out + "/trainer_state.json";
    const std::string interrupt_rank_1 =
        "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then (i=0; until [ -f '" + state +
        "' ] || [ $i -ge 3000 ]; do sleep 0.01; i=$((i + 1)); done; kill -" + sig +
        " $$) >/dev/null 2>&1 </dev/null & fi; exec \"$@\"";
    r = run_mpi(2, train_args(data, out, steps, "--save-every 1 --fsdp 2"), interrupt_rank_1);
    EXPECT_EQ(r.status, 130) << r.err;
    std::ifstream in(state);
    int64_t stopped = nlohmann::json::parse(in).at("step").get<int64_t>();
    EXPECT_LT(stopped, steps);
    EXPECT_EQ(losses(out + "/train_log.csv").size(), size_t(stopped));
    r = run_mpi(2, train_args(data, out, steps, "--resume --tp 2"));
    ASSERT_EQ(r.status, 0) << r.err;
    expect_same_run(tmp.path("one"), out, size_t(steps));
  }
}

}  // namespace
}  // namespace purelm::testing
