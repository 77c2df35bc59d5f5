// The mesh against the fixtures' goldens: `mpirun -np 2 purelm forward` with tensor parallelism
// and with FSDP must reproduce what one process computes (DESIGN.md section 8), within the same
// tolerances, and sizes a mesh cannot split must be refused with a clear message. Quantized
// weights run with tensor parallelism as on one process.
#include <algorithm>
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

// Logits of `purelm forward` on the qwen3-tiny fixture's input ids, on `np` processes (1: no
// mpirun).
Tensor forward_logits(int np, const std::string& model, std::vector<std::string> extra,
                      const TempDir& tmp, const std::string& name) {
  std::vector<std::string> args = {"forward",
                                   "--model",
                                   model,
                                   "--input",
                                   fixture("qwen3-tiny") + "/golden.safetensors",
                                   "--output",
                                   tmp.path(name + ".safetensors")};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = np == 1 ? run_cli(args) : run_mpi(np, args);
  EXPECT_EQ(r.status, 0) << r.err;
  return r.status == 0 ? TensorStore::open_file(tmp.path(name + ".safetensors")).get("logits")
                       : Tensor();
}

// qwen3 "small" under --tp 2 splits o_proj's 192 input columns and down_proj's 576 into whole
// blocks of 32, so each rank holds the very blocks one process has: a checkpoint saved quantized
// and one quantized at load compute the same on the mesh. Against one process they agree up to
// the rounding of activations: the TP sums add in another order, and a value that lands near a
// rounding boundary may take the neighbouring int8 code (q8 weights show it too, in a few rows).
TEST(MeshQuant, TensorParallelMatchesOneProcess) {
  TempDir tmp;
  const std::string f32 = tmp.path("f32"), q4 = tmp.path("q4");
  auto r = run_cli({"init", "--arch", "qwen3", "--preset", "small", "--out", f32});
  ASSERT_EQ(r.status, 0) << r.err;
  r = run_cli({"quantize", "--model", f32, "--quant", "q4", "--out", q4});
  ASSERT_EQ(r.status, 0) << r.err;
  const Tensor one = forward_logits(1, q4, {}, tmp, "one");
  const Tensor saved = forward_logits(2, q4, {"--tp", "2"}, tmp, "saved");
  const Tensor loaded = forward_logits(2, f32, {"--tp", "2", "--quant", "q4"}, tmp, "loaded");
  const Tensor float32 = forward_logits(1, f32, {}, tmp, "f32");
  ASSERT_TRUE(one.defined() && saved.defined() && loaded.defined() && float32.defined());
  EXPECT_EQ(rel_error(saved, loaded), 0.0);
  const double quantized = rel_error(one, float32);
  EXPECT_GE(quantized, 0.05);                        // the weights are quantized indeed (0.155)
  EXPECT_LE(rel_error(saved, one), quantized / 10);  // 0.008

  // Greedy decoding with the KV cache split by kv heads: both takes the same tokens.
  std::vector<std::string> gen = {
      "generate", "--model",       q4,  "--prompt-ids", "1,5,9,200",    "--max-tokens",
      "8",        "--temperature", "0", "--print-ids",  "--ignore-eos", "--tp",
      "2"};
  auto from_saved = run_mpi(2, gen);
  ASSERT_EQ(from_saved.status, 0) << from_saved.err;
  gen[2] = f32;
  gen.insert(gen.end(), {"--quant", "q4"});
  auto from_loaded = run_mpi(2, gen);
  ASSERT_EQ(from_loaded.status, 0) << from_loaded.err;
  EXPECT_EQ(std::count(from_saved.out.begin(), from_saved.out.end(), ','), 7) << from_saved.out;
  EXPECT_EQ(from_saved.out, from_loaded.out);
}

// The fixtures' slices of 80 MLP columns do not hold whole blocks: each rank then quantizes its
// own slice, which rounds as well as one process does (the bounds of quant_test's
// QuantizedLogitsStayCloseToF32), the tied head and MoE experts included.
TEST(MeshQuant, FixtureSlicesQuantizedAtLoad) {
  for (const char* name : {"qwen3-tiny", "qwen3-tiny-tied", "qwen3moe-tiny"}) {
    TempDir tmp;
    const std::string dir = fixture(name), out = tmp.path("o.safetensors");
    auto r = run_mpi(2, {"forward", "--model", dir, "--input", dir + "/golden.safetensors",
                         "--output", out, "--tp", "2", "--quant", "q8"});
    ASSERT_EQ(r.status, 0) << r.err;
    Tensor want = TensorStore::open_file(dir + "/golden.safetensors").get("logits");
    EXPECT_LE(rel_error(TensorStore::open_file(out).get("logits"), want), 0.05) << name;
  }
}

TEST(MeshQuant, RefusesWhatItCannotSplit) {
  TempDir tmp;
  const std::string dir = fixture("qwen3-tiny"), q8 = tmp.path("q8");
  auto r = run_mpi(2, {"forward", "--model", dir, "--input", dir + "/golden.safetensors",
                       "--output", tmp.path("o.safetensors"), "--fsdp", "2", "--quant", "q8"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("tensor parallelism only (--fsdp 1)"), std::string::npos) << r.err;

  r = run_cli({"quantize", "--model", dir, "--quant", "q8", "--out", q8});
  ASSERT_EQ(r.status, 0) << r.err;
  r = run_mpi(2, {"forward", "--model", q8, "--input", dir + "/golden.safetensors", "--output",
                  tmp.path("o.safetensors"), "--tp", "2"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("input columns of quantized 'model.layers.0.mlp.down_proj.weight' into "
                       "80, not whole blocks of 32"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace purelm::testing
