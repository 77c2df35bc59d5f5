// `mpirun purelm bench` on a mesh: the leader's report holds the usual rows and the mesh's
// own (each axis's collectives per step, each process's memory), every figure positive and finite,
// and the bytes match what the split implies (docs/mesh.md: bytes per step, per process).
#include <algorithm>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/cost.h"
#include "purelm/train/presets.h"
#include "testing.h"

namespace purelm {
namespace {

nlohmann::json bench_on_mesh(int np, const std::vector<std::string>& layout) {
  std::vector<std::string> args = {"bench", "--model", "qwen3:tiny", "--quick", "--json"};
  args.insert(args.end(), layout.begin(), layout.end());
  testing::RunResult r = testing::run_mpi(np, args);
  EXPECT_EQ(r.status, 0) << r.err;
  return nlohmann::json::parse(r.out);  // printed once, by the leader
}

// The rows every mesh report of np processes has: a collectives row per workload for each of
// `axes`.
void expect_mesh_rows(const nlohmann::json& j, int np, const std::vector<std::string>& axes) {
  testing::expect_all_positive(j, "");
  EXPECT_FALSE(j.contains("attention"));  // single-process kernels
  EXPECT_FALSE(j.contains("tokenizer"));
  ASSERT_EQ(j["decode"].size(), 3u);
  ASSERT_EQ(j["train"].size(), 3u);
  ASSERT_EQ(j["prefills"].size(), 1u);
  EXPECT_TRUE(j["prefills"][0].contains("mfu"));
  const nlohmann::json& m = j["mesh"];
  EXPECT_EQ(m["processes"], np);
  EXPECT_EQ(m["threads_per_process"], std::max(1u, std::thread::hardware_concurrency() / np));
  // decode at 3 batch sizes, prefill, 3 training runs: one row each per split axis
  const size_t n = axes.size();
  ASSERT_EQ(m["collectives"].size(), 7 * n);
  for (size_t i = 0; i < m["collectives"].size(); ++i) {
    const auto& c = m["collectives"][i];
    EXPECT_EQ(c["axis"], axes[i % n]);
    EXPECT_LE(c["collective_ms"].get<double>(), c["step_ms"].get<double>());
  }
  EXPECT_EQ(m["collectives"][0]["workload"], "decode B = 1");
  EXPECT_EQ(m["collectives"][3 * n]["workload"], "prefill T = 512");
  EXPECT_EQ(m["collectives"][6 * n]["workload"], "train 4 x 256 bf16 recompute");
  ASSERT_EQ(m["memory"].size(), size_t(np));
  for (const auto& p : m["memory"])
    EXPECT_DOUBLE_EQ(p["adamw_mb"].get<double>(), 2 * p["param_mb"].get<double>());
}

TEST(BenchMesh, TensorParallel) {
  nlohmann::json j = bench_on_mesh(2, {"--tp", "2"});
  expect_mesh_rows(j, 2, {"tp"});
  EXPECT_EQ(j["mesh"]["tp"], 2);
  // Two all-reduces of M x D floats per layer forward and two in the backward (one per block
  // input: q, k and v sum their parts of it once, gate and up once), each sending half of its
  // bytes (M = B T = 1024: TP ranks see every row), and the vocabulary's: the embedding's
  // rows (forward) and the loss's dh (backward), M x D each, and two floats per token for the
  // loss, as docs/mesh.md counts them; the norm weights' gradients add a few hundred bytes.
  Config c = preset_config("qwen3", "tiny");
  const double M = 4 * 256, D = double(c.hidden_size), L = double(c.num_hidden_layers),
               V = double(c.vocab_size);
  const double f32_step = j["mesh"]["collectives"][4]["mb_sent"].get<double>() * 1e6;
  EXPECT_NEAR(f32_step, (4 * L + 2) * 2 * 4 * M * D / 2 + 8 * M, 0.01 * f32_step);
  // Decode: one token per row per step, B = 1: the two forward all-reduces, the embedding's, and
  // the gather of the other half of the logits.
  const double decode = j["mesh"]["collectives"][0]["mb_sent"].get<double>() * 1e6;
  EXPECT_NEAR(decode, (2 * L + 1) * 2 * 4 * D / 2 + 4 * V / 2, 0.01 * decode);
  // Every weight but the norms is split in two.
  const double whole = 4.0 * double(bench::model_size(c).params) / 1e6;
  for (const auto& p : j["mesh"]["memory"]) EXPECT_LT(p["param_mb"].get<double>(), 0.55 * whole);
}

// --batch and --prompt as on one process: a row, and a collectives row, for every shape.
TEST(BenchMesh, BatchAndPromptGiveARowEach) {
  nlohmann::json j =
      bench_on_mesh(2, {"--tp", "2", "--no-train", "--batch", "2,5", "--prompt", "16,32"});
  testing::expect_all_positive(j, "");
  ASSERT_EQ(j["decode"].size(), 2u);
  ASSERT_EQ(j["prefills"].size(), 2u);
  const nlohmann::json& c = j["mesh"]["collectives"];
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[1]["workload"], "decode B = 5");
  EXPECT_EQ(c[2]["workload"], "prefill T = 16");
  EXPECT_EQ(c[3]["workload"], "prefill T = 32");
}

TEST(BenchMesh, FullyShardedDataParallel) {
  nlohmann::json j = bench_on_mesh(2, {"--fsdp", "2"});
  expect_mesh_rows(j, 2, {"fsdp"});
  EXPECT_EQ(j["mesh"]["fsdp"], 2);
  // Each process keeps half of every float32 parameter (shards padded to an even count).
  Config c = preset_config("qwen3", "tiny");
  const double half = 4.0 * double(bench::model_size(c).params) / 2 / 1e6;
  for (const auto& p : j["mesh"]["memory"]) EXPECT_NEAR(p["param_mb"].get<double>(), half, 1e-3);
  // Two groups decode their own rows: tok/s counts both.
  for (const auto& d : j["decode"])
    EXPECT_DOUBLE_EQ(d["tok_s"].get<double>(),
                     2 * d["batch"].get<double>() * d["tok_s_per_row"].get<double>());
}

TEST(BenchMesh, BothAxes) {
  nlohmann::json j = bench_on_mesh(4, {"--tp", "2", "--fsdp", "2"});
  expect_mesh_rows(j, 4, {"tp", "fsdp"});
  // Each TP rank of a training step sees the rows of its FSDP rank: half of the batch.
  Config c = preset_config("qwen3", "tiny");
  const double M = 4 * 256 / 2, D = double(c.hidden_size), L = double(c.num_hidden_layers);
  const double f32_step = j["mesh"]["collectives"][8]["mb_sent"].get<double>() * 1e6;
  EXPECT_EQ(j["mesh"]["collectives"][8]["workload"], "train 4 x 256 f32");
  EXPECT_NEAR(f32_step, (4 * L + 2) * 2 * 4 * M * D / 2 + 8 * M, 0.01 * f32_step);
}

// --quant on a TP mesh: each rank quantizes its slices (the tiny preset's 80 MLP columns into
// blocks of 32, 32 and 16), and keeps bf16 norms and embedding rows, Q4 projections and a Q8 head.
TEST(BenchMesh, QuantizedTensorParallel) {
  nlohmann::json j = bench_on_mesh(2, {"--tp", "2", "--quant", "q4", "--no-train"});
  testing::expect_all_positive(j, "");
  EXPECT_EQ(j["model"]["weights"], "q4");
  EXPECT_FALSE(j.contains("train"));
  ASSERT_EQ(j["decode"].size(), 3u);
  Config c = preset_config("qwen3", "tiny");
  const int64_t D = c.hidden_size, H = c.head_dim, F = c.intermediate_size / 2,
                Nh = c.num_attention_heads / 2 * H, Kh = c.num_key_value_heads / 2 * H,
                V = c.vocab_size / 2;
  auto q4 = [&](int64_t rows, int64_t cols) { return double(rows) * row_bytes(DType::Q4, cols); };
  const double layer = q4(Nh + 2 * Kh + 2 * F, D) + q4(D, Nh) + q4(D, F) + 2.0 * (2 * D + 2 * H);
  const double bytes = double(V * D * 2) + double(V) * row_bytes(DType::Q8, D) +
                       double(c.num_hidden_layers) * layer + 2.0 * D;
  ASSERT_EQ(j["mesh"]["memory"].size(), 2u);
  for (const auto& p : j["mesh"]["memory"])
    EXPECT_DOUBLE_EQ(p["param_mb"].get<double>(), bytes / 1e6);
}

}  // namespace
}  // namespace purelm
