// Properties of the model code beyond the goldens: KV-cache decoding equals the full forward,
// sharded and single-file checkpoints agree, stories260K decodes like llama2.c.
#include "purelm/models/model.h"

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "purelm/io/safetensors.h"
#include "purelm/ops/rows.h"
#include "testing.h"

namespace purelm::testing {
namespace {

class EachFixture : public ::testing::TestWithParam<const char*> {};

// Prefill 3 tokens, then one at a time, then the rest as a chunk: the logits of every position
// with a KV cache stored in `kv_dtype`, against the full forward's.
double cached_decoding_error(const std::string& fixture, DType kv_dtype) {
  std::string dir = shared("fixtures/") + fixture;
  Model m = load_model(dir);
  Tensor ids = TensorStore::open_file(dir + "/golden.safetensors").get("input_ids");
  int64_t B = ids.dim(0), T = ids.dim(1), V = m.config.vocab_size;
  Tensor full = m.logits(ids);
  KVCache kv = init_kv(m.config, B, T, kv_dtype);
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
  return rel_error(Tensor::from_f32(got, {B, T, V}), full);
}

TEST_P(EachFixture, KVCacheDecodingMatchesFullForward) {
  EXPECT_LE(cached_decoding_error(GetParam(), DType::F32), 1e-5);
}

// Keys and values rounded to bf16 move the logits by less than bf16 activations do, which round
// the keys and values and every other activation too.
TEST_P(EachFixture, Bf16KVCacheStaysCloseToFullForward) {
  double e = cached_decoding_error(GetParam(), DType::BF16);
  std::string dir = shared("fixtures/") + GetParam();
  Model m = load_model(dir);
  Tensor ids = TensorStore::open_file(dir + "/golden.safetensors").get("input_ids");
  Tensor full = m.logits(ids);
  m.act = DType::BF16;
  double e_act = rel_error(m.logits(ids), full);
  EXPECT_GT(e, 0.0);  // the cache did round
  EXPECT_LE(e, e_act) << "bf16 activations: " << e_act;
  std::cout << GetParam() << ": bf16 KV cache " << e << ", bf16 activations " << e_act << "\n";
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
