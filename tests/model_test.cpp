// Properties of the model code beyond the goldens: KV-cache decoding equals the full forward,
// sharded and single-file checkpoints agree, stories260K decodes like llama2.c.
#include "purelm/models/model.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "purelm/io/safetensors.h"
#include "purelm/ops/rows.h"
#include "testing.h"

namespace purelm::testing {
namespace {

class EachFixture : public ::testing::TestWithParam<const char*> {};

TEST_P(EachFixture, KVCacheDecodingMatchesFullForward) {
  std::string dir = shared("fixtures/") + GetParam();
  Model m = load_model(dir);
  Tensor ids = TensorStore::open_file(dir + "/golden.safetensors").get("input_ids");
  int64_t B = ids.dim(0), T = ids.dim(1), V = m.config.vocab_size;
  Tensor full = m.logits(ids);
  // Prefill 3 tokens, then one at a time, then the rest as a chunk.
  KVCache kv = init_kv(m.config, B, T);
  std::vector<float> got(static_cast<size_t>(B * T * V));
  auto run = [&](int64_t t0, int64_t n) {
    std::vector<int32_t> chunk;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = t0; t < t0 + n; ++t) chunk.push_back(ids.data<int32_t>()[b * T + t]);
    std::vector<float> z = m.logits(Tensor::from_i32(chunk, {B, n}), &kv).to_vector();
    for (int64_t b = 0; b < B; ++b)
      std::copy(z.begin() + b * n * V, z.begin() + (b + 1) * n * V, got.begin() + (b * T + t0) * V);
  };
  run(0, 3);
  for (int64_t t = 3; t < 8; ++t) run(t, 1);
  run(8, T - 8);
  EXPECT_LE(rel_error(Tensor::from_f32(got, {B, T, V}), full), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, EachFixture,
                         ::testing::Values("qwen3-tiny", "qwen3-tiny-tied", "llama3-tiny",
                                           "olmo2-tiny", "qwen3moe-tiny", "qwen3moe-tiny-mixed"));

TEST(Model, ShardedCheckpointGivesIdenticalLogits) {
  Tensor ids =
      TensorStore::open_file(shared("fixtures/qwen3-tiny/golden.safetensors")).get("input_ids");
  std::vector<float> a = load_model(shared("fixtures/qwen3-tiny")).logits(ids).to_vector();
  std::vector<float> b = load_model(shared("fixtures/qwen3-tiny-sharded")).logits(ids).to_vector();
  EXPECT_EQ(a, b);
}

TEST(Model, Stories260KGreedyMatchesLlama2c) {
  std::ifstream f(shared("models/stories260K/goldens.jsonl"));
  std::string line;
  int cases = 0;
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line);
    std::string prompt, expected;
    for (int id : j["prompt_ids"]) prompt += (prompt.empty() ? "" : ",") + std::to_string(id);
    for (int id : j["generated_ids"])
      expected += (expected.empty() ? "" : ",") + std::to_string(id);
    auto r = run_cli({"generate", "--model", shared("models/stories260K"), "--prompt-ids", prompt,
                      "--max-tokens", std::to_string(j["generated_ids"].size()), "--temperature",
                      "0", "--print-ids"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, expected + "\n") << j["prompt"];
    ++cases;
  }
  EXPECT_EQ(cases, 4);
}

TEST(Model, MissingWeightIsNamed) {
  Config c = load_config(shared("fixtures/qwen3-tiny/config.json"));
  std::unordered_map<std::string, Tensor> w;
  try {
    make_model(c, w);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.embed_tokens.weight"), std::string::npos)
        << e.what();
  }
}

TEST(Model, UnknownFamilyListsSupported) {
  try {
    family_for("gpt2");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("qwen3, llama, olmo2, qwen3_moe"), std::string::npos);
  }
}

}  // namespace
}  // namespace purelm::testing
