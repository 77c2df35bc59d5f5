// The mesh against the fixtures' goldens: `mpirun -np 2 purelm forward` with tensor parallelism
// and with FSDP must reproduce what one process computes (DESIGN.md section 8), within the same
// tolerances, and sizes a mesh cannot split must be refused with a clear message.
#include <cctype>
#include <ostream>

#include "purelm/io/safetensors.h"
#include "testing.h"

namespace purelm::testing {
namespace {

std::string fixture(const std::string& name) { return shared("fixtures/") + name; }

struct MeshCase {
  const char* fixture;
  int np;
  const char* layout;  // extra flags
};

void PrintTo(const MeshCase& c, std::ostream* os) {
  *os << c.fixture << " on " << c.np << " processes " << c.layout;
}

class MeshForward : public ::testing::TestWithParam<MeshCase> {};

TEST_P(MeshForward, MatchesGoldens) {
  const MeshCase& c = GetParam();
  TempDir tmp;
  std::vector<std::string> args =
      golden_forward_args(fixture(c.fixture), tmp.path("out.safetensors"));
  std::string layout = c.layout;
  for (size_t i = 0; i < layout.size();) {
    size_t j = layout.find(' ', i);
    if (j == std::string::npos) j = layout.size();
    args.push_back(layout.substr(i, j - i));
    i = j + 1;
  }
  auto r = run_mpi(c.np, args);
  ASSERT_EQ(r.status, 0) << r.err;
  expect_forward_matches_golden(tmp.path("out.safetensors"), fixture(c.fixture));
}

// OLMo 2's q/k norms span all heads: under --tp their statistics are summed over the group.
const MeshCase kCases[] = {
    {"qwen3-tiny", 2, "--tp 2"},          {"qwen3-tiny-tied", 2, "--tp 2"},
    {"qwen3-tiny-sharded", 2, "--tp 2"},  {"llama3-tiny", 2, "--tp 2"},
    {"olmo2-tiny", 2, "--tp 2"},          {"qwen3moe-tiny", 2, "--tp 2"},
    {"qwen3moe-tiny-mixed", 2, "--tp 2"}, {"qwen3-tiny", 2, "--fsdp 2"},
    {"qwen3-tiny-tied", 2, "--fsdp 2"},   {"qwen3-tiny-sharded", 2, "--fsdp 2"},
    {"llama3-tiny", 2, "--fsdp 2"},       {"olmo2-tiny", 2, "--fsdp 2"},
    {"qwen3moe-tiny", 2, "--fsdp 2"},     {"qwen3moe-tiny-mixed", 2, "--fsdp 2"},
    {"qwen3-tiny", 4, "--tp 2 --fsdp 2"}, {"olmo2-tiny", 4, "--tp 2 --fsdp 2"},
};

INSTANTIATE_TEST_SUITE_P(Fixtures, MeshForward, ::testing::ValuesIn(kCases), [](const auto& info) {
  std::string s = std::string(info.param.fixture) + "_" + info.param.layout;
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
});

// Decoding with the KV cache split by kv heads; OLMo 2 normalises q/k over the split heads.
class MeshGenerate : public ::testing::TestWithParam<const char*> {};

TEST_P(MeshGenerate, GreedyWithTensorParallelism) {
  std::string dir = fixture(GetParam());
  TensorStore want = TensorStore::open_file(dir + "/golden.safetensors");
  Tensor prompt = want.get("greedy_prompt"), tokens = want.get("greedy_tokens");
  std::string ids, expected;
  for (int64_t i = 0; i < prompt.numel(); ++i)
    ids += (i ? "," : "") + std::to_string(prompt.data<int32_t>()[i]);
  for (int64_t i = 0; i < tokens.numel(); ++i)
    expected += (i ? "," : "") + std::to_string(tokens.data<int32_t>()[i]);
  auto r = run_mpi(2, {"generate", "--model", dir, "--prompt-ids", ids, "--max-tokens",
                       std::to_string(tokens.numel()), "--temperature", "0", "--print-ids",
                       "--ignore-eos", "--tp", "2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, expected + "\n");  // printed once, by the leader
}

INSTANTIATE_TEST_SUITE_P(Fixtures, MeshGenerate, ::testing::Values("llama3-tiny", "olmo2-tiny"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& ch : s)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return s;
                         });

TEST(Mesh, RefusesSizesItCannotSplit) {
  TempDir tmp;
  std::string dir = fixture("qwen3-tiny");
  auto r = run_mpi(3, {"forward", "--model", dir, "--input", dir + "/golden.safetensors",
                       "--output", tmp.path("o.safetensors"), "--tp", "3"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--tp 3 does not divide num_attention_heads 4"), std::string::npos) << r.err;

  r = run_mpi(2, {"forward", "--model", dir, "--input", dir + "/golden.safetensors", "--output",
                  tmp.path("o.safetensors"), "--tp", "2", "--fsdp", "2"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--tp 2 x --fsdp 2 = 4 processes, but this job has 2"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace purelm::testing
