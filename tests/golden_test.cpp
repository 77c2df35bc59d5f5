// Every fixture of ../shared/fixtures against its float64 goldens, through the command line as
// DESIGN.md section 5 specifies: logits, loss, gradients, AdamW steps, greedy continuations.
#include <cmath>

#include "purelm/io/config.h"
#include "purelm/io/safetensors.h"
#include "purelm/models/family.h"
#include "testing.h"

namespace purelm::testing {
namespace {

const char* kFixtures[] = {"qwen3-tiny", "qwen3-tiny-tied", "qwen3-tiny-sharded", "llama3-tiny",
                           "olmo2-tiny", "qwen3moe-tiny",   "qwen3moe-tiny-mixed"};

class Golden : public ::testing::TestWithParam<const char*> {
 protected:
  std::string dir() const { return shared("fixtures/") + GetParam(); }
  std::string golden_path() const { return dir() + "/golden.safetensors"; }
  bool moe() const { return std::string(GetParam()).find("moe") != std::string::npos; }
};

TEST_P(Golden, LogitsLossGradientsAndAdamW) {
  TempDir tmp;
  auto r = run_cli(golden_forward_args(dir(), tmp.path("out.safetensors")));
  ASSERT_EQ(r.status, 0) << r.err;
  expect_forward_matches_golden(tmp.path("out.safetensors"), dir());
}

TEST_P(Golden, LogitsInBf16Compute) {
  TempDir tmp;
  auto r = run_cli({"forward", "--model", dir(), "--input", golden_path(), "--output",
                    tmp.path("out.safetensors"), "--dtype", "bf16"});
  ASSERT_EQ(r.status, 0) << r.err;
  double err = rel_error(TensorStore::open_file(tmp.path("out.safetensors")).get("logits"),
                         TensorStore::open_file(golden_path()).get("logits"));
  EXPECT_LE(err, moe() ? 5e-2 : 3e-2);
  EXPECT_GT(err, 0.0);  // bf16 activations really are rounded
}

TEST_P(Golden, GreedyContinuation) {
  TensorStore want = TensorStore::open_file(golden_path());
  Tensor prompt = want.get("greedy_prompt"), tokens = want.get("greedy_tokens");
  std::string ids, expected;
  Config c = load_config(dir() + "/config.json");
  for (int64_t i = 0; i < prompt.numel(); ++i)
    ids += (i ? "," : "") + std::to_string(prompt.data<int32_t>()[i]);
  for (int64_t i = 0; i < tokens.numel(); ++i) {
    int32_t t = tokens.data<int32_t>()[i];
    if (std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), t) != c.eos_token_ids.end())
      break;
    expected += (i ? "," : "") + std::to_string(t);
  }
  auto r = run_cli({"generate", "--model", dir(), "--prompt-ids", ids, "--max-tokens",
                    std::to_string(tokens.numel()), "--temperature", "0", "--print-ids"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, expected + "\n");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Golden, ::testing::ValuesIn(kFixtures), [](const auto& info) {
  std::string s = info.param;
  for (char& c : s)
    if (c == '-') c = '_';
  return s;
});

}  // namespace
}  // namespace purelm::testing
