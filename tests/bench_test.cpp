// purelm bench: the report holds every figure (no timing thresholds: the host is shared), and the
// FLOP and byte formulas behind MFU and bandwidth utilisation are the ones the tables state.
#include "bench/bench.h"

#include <nlohmann/json.hpp>

#include "bench/cost.h"
#include "purelm/train/init.h"
#include "purelm/train/presets.h"
#include "testing.h"

namespace purelm {
namespace {

const std::vector<std::string> kQuickTiny = {"bench",
                                             "--model",
                                             "qwen3:tiny",
                                             "--quick",
                                             "--tokenizer",
                                             testing::shared("tokenizers/qwen3"),
                                             "--tokenizer-text",
                                             testing::shared("data/tinyshakespeare.txt"),
                                             testing::repo("data/mixed_scripts.txt")};

TEST(Bench, JsonHoldsEveryFigure) {
  std::vector<std::string> args = kQuickTiny;
  args.push_back("--json");
  testing::RunResult r = testing::run_cli(args);
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  for (const char* key : {"read_gbs_1", "read_gbs_all", "f32_gflops", "bf16_gflops",
                          "f32_peak_gflops", "bf16_peak_gflops", "cpu", "cores", "threads"})
    EXPECT_TRUE(j["machine"].contains(key)) << key;
  ASSERT_EQ(j["decode"].size(), 3u);
  for (const char* key : {"batch", "ms_per_step", "tok_s_per_row", "tok_s", "weight_mb_per_step",
                          "kv_mb_per_step", "gbs", "bw_util"})
    for (const auto& row : j["decode"]) EXPECT_TRUE(row.contains(key)) << key;
  EXPECT_EQ(j["decode"][2]["batch"], 32);
  ASSERT_EQ(j["train"].size(), 3u);
  ASSERT_EQ(j["prefills"].size(), 1u);
  EXPECT_EQ(j["prefills"][0]["tokens"], 512);
  EXPECT_EQ(j["prefill"], j["prefills"][0]);  // the first length alone, as scripts read it
  for (const char* key : {"tok_s", "gflops", "mfu", "of_instruction_peak"}) {
    EXPECT_TRUE(j["prefills"][0].contains(key)) << key;
    for (const auto& row : j["train"]) EXPECT_TRUE(row.contains(key)) << key;
  }
  for (const char* key : {"T", "forward_gflops", "forward_backward_gflops", "of_peak_forward"})
    EXPECT_TRUE(j["attention"].contains(key)) << key;
  EXPECT_EQ(j["train"][0]["compute"], "f32");
  EXPECT_EQ(j["train"][1]["compute"], "bf16");
  EXPECT_EQ(j["train"][2]["recompute"], true);
  ASSERT_EQ(j["tokenizer"].size(), 2u);
  for (const char* key : {"file", "mb", "tokens", "mb_s_first", "mb_s", "tok_s"})
    for (const auto& row : j["tokenizer"]) EXPECT_TRUE(row.contains(key)) << key;
  testing::expect_all_positive(j, "");
}

TEST(Bench, TablesWithoutTraining) {
  std::vector<std::string> args = kQuickTiny;
  args.push_back("--no-train");
  args.push_back("--threads=1");
  testing::RunResult r = testing::run_cli(args);
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* heading :
       {"## Machine limits", "## Decode", "## Prefill", "## Attention", "## Tokenizer"})
    EXPECT_NE(r.out.find(heading), std::string::npos) << heading << "\n" << r.out;
  EXPECT_EQ(r.out.find("## Training"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("threads in use: 1;"), std::string::npos) << r.out;
}

// --batch and --prompt, as llama-bench's -b and -p: a row for every shape asked for, in the JSON
// and in the tables, each decode row with a cache of its own B rows.
TEST(Bench, BatchAndPromptGiveARowEach) {
  testing::RunResult r =
      testing::run_cli({"bench", "--model", "qwen3:tiny", "--quick", "--no-train", "--threads=1",
                        "--batch", "1,4", "--prompt", "8,32", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(r.out);
  testing::expect_all_positive(j, "");
  ASSERT_EQ(j["decode"].size(), 2u);
  EXPECT_EQ(j["decode"][0]["batch"], 1);
  EXPECT_EQ(j["decode"][1]["batch"], 4);
  // Every row attends over the same positions, so the KV bytes read grow with B alone.
  EXPECT_DOUBLE_EQ(j["decode"][1]["kv_mb_per_step"].get<double>(),
                   4 * j["decode"][0]["kv_mb_per_step"].get<double>());
  ASSERT_EQ(j["prefills"].size(), 2u);
  EXPECT_EQ(j["prefills"][0]["tokens"], 8);
  EXPECT_EQ(j["prefills"][1]["tokens"], 32);
  // The tables are what the command prints without --json.
  const std::string tables = bench::format_tables(j);
  for (const char* row : {"\n| 1 | ", "\n| 4 | ", "\n| 8 | ", "\n| 32 | "})
    EXPECT_NE(tables.find(row), std::string::npos) << row << "\n" << tables;
}

TEST(Bench, NonsenseShapesFailClearly) {
  for (const auto& [option, value] :
       std::vector<std::pair<std::string, std::string>>{{"--batch", "0"},
                                                        {"--batch", "1,-8"},
                                                        {"--prompt", "512x"},
                                                        {"--prompt", "2.5"},
                                                        {"--prompt", ""}}) {
    testing::RunResult r =
        testing::run_cli({"bench", "--model", "qwen3:tiny", "--quick", option, value});
    EXPECT_NE(r.status, 0) << option << " " << value;
    EXPECT_NE(r.err.find("must be positive whole numbers"), std::string::npos)
        << option << " " << value << ": " << r.err;
  }
}

TEST(BenchCost, FormulasMatchTheArithmeticByHand) {
  Config c = preset_config("qwen3", "0.6B", DType::BF16);
  const double D = 1024, F = 3072, N = 16, K = 8, H = 128, L = 28, V = 151936;
  const double layer = D * N * H * 2 + D * K * H * 2 + 3 * D * F + 2 * D + 2 * H;
  bench::ModelSize s = bench::model_size(c);
  EXPECT_EQ(double(s.params), V * D + L * layer + D);  // tied: one V x D matrix
  EXPECT_DOUBLE_EQ(s.matmul_params, L * layer + D + V * D);
  const double T = 512;
  EXPECT_DOUBLE_EQ(bench::forward_flops(c, 512),
                   2 * s.matmul_params * T + 2 * 2 * T * T / 2 * N * H * L);
  EXPECT_DOUBLE_EQ(bench::train_flops(c, 4, 256), 3 * 4 * bench::forward_flops(c, 256));
  EXPECT_DOUBLE_EQ(bench::prefill_flops(c, 512),
                   2 * (L * layer + D) * T + 2 * D * V + 2 * 2 * T * T / 2 * N * H * L);
  EXPECT_DOUBLE_EQ(bench::kv_bytes_per_position(c, DType::F32), 2 * L * K * H * 4);
}

TEST(BenchCost, DecodeReadsEveryWeightAndExpertsByTheirRoutedShare) {
  Config c = preset_config("qwen3_moe", "tiny", DType::F32);  // untied, 4 experts, 2 per token
  Model m = random_model(c, 0);
  double all = 0, experts = 0, embed = 0;
  for (const auto& [name, w] : m.weights) {
    all += double(w.nbytes());
    if (name.find(".mlp.experts.") != std::string::npos) experts += double(w.nbytes());
  }
  embed = double(m.w("model.embed_tokens.weight").nbytes());
  const double row = embed / double(c.vocab_size);
  EXPECT_DOUBLE_EQ(bench::decode_weight_bytes(m, 1), all - embed + row - experts / 2);
  // With 8 rows, each expert is missed with probability (1/2)^8.
  EXPECT_NEAR(bench::decode_weight_bytes(m, 8), all - embed + 8 * row - experts * std::pow(0.5, 8),
              1e-6 * all);
}

}  // namespace
}  // namespace purelm
