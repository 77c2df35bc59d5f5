// Block-quantized weights (Q8, Q4): the round trip's error per block, the activations' rounding,
// the decode and prefill kernels on every instruction set against a float product of the rounded
// activations with the decoded weights, the logits
// of every fixture against float32, stories260K's greedy text, quantized checkpoints (purelm
// quantize) against quantizing at load time, and the refusals (training, gradients, --grad).
#include "purelm/core/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <vector>

#include "bench/cost.h"
#include "isa_levels.h"
#include "purelm/core/thread_pool.h"
#include "purelm/io/safetensors.h"
#include "purelm/models/quantize.h"
#include "purelm/ops/autograd.h"
#include "purelm/ops/kernels/isa.h"
#include "purelm/ops/matmul.h"
#include "purelm/train/objective.h"
#include "testing.h"

namespace purelm::testing {
namespace {

constexpr DType kFormats[] = {DType::Q8, DType::Q4};

// Normal values of standard deviation `sigma`, as float32 [rows, n].
Tensor random_matrix(int64_t rows, int64_t n, float sigma, std::mt19937& rng) {
  std::normal_distribution<float> g(0, sigma);
  std::vector<float> v(static_cast<size_t>(rows * n));
  for (float& x : v) x = g(rng);
  return Tensor::from_f32(v, {rows, n});
}

// Every element decodes within half a step of the block's scale d; Q4 elements beyond 7.5 d (which
// clip at code 15 when on the side opposite to the block's largest magnitude) within one step.
TEST(Quant, RoundTripErrorPerBlock) {
  std::mt19937 rng(1);
  for (DType t : kFormats)
    for (int64_t n : {1, 31, 32, 33, 100, 172, 256})
      for (float sigma : {1e-7f, 1e-3f, 0.02f, 1.0f, 300.0f}) {
        Tensor w = random_matrix(5, n, sigma, rng), q = w.to(t);
        ASSERT_EQ(q.nbytes(), size_t(5 * quant::blocks(n)) * quant::block_bytes(t));
        std::vector<float> x = w.to_vector(), y = q.to_vector();
        for (int64_t r = 0; r < 5; ++r)
          for (int64_t k = 0; k < n; ++k) {
            const uint8_t* block = static_cast<const uint8_t*>(q.raw()) + r * row_bytes(t, n) +
                                   k / 32 * quant::block_bytes(t);
            double d = std::fabs(f16_to_f32(quant::scale_bits(block)));
            double err = std::fabs(double(x[r * n + k]) - double(y[r * n + k]));
            bool may_clip = t == DType::Q4 && std::fabs(x[r * n + k]) > 7.5 * d;
            double bound = (may_clip ? d : d / 2) * (1 + 1e-6);
            ASSERT_LE(err, bound) << dtype_name(t) << " n " << n << " sigma " << sigma << " at ("
                                  << r << ", " << k << "): " << x[r * n + k] << " -> "
                                  << y[r * n + k] << ", d " << d;
          }
      }
}

// Activations round to int8 per block of 32 with d = max|x| / 127: within d / 2, the largest
// magnitude exact, the tail zero-padded; a block that is not finite gets scale NaN, one below
// FLT_MIN rounds to zero.
TEST(Quant, ActivationsRoundWithinHalfAStep) {
  std::mt19937 rng(11);
  for (int64_t n : {1, 31, 32, 33, 100}) {
    std::vector<float> x = random_matrix(1, n, 3, rng).to_vector();
    const int64_t nb = quant::blocks(n);
    std::vector<int8_t> q(size_t(nb * 32), 99);
    std::vector<float> d(static_cast<size_t>(nb));
    quant::quantize_activations(x.data(), n, q.data(), d.data());
    for (int64_t b = 0; b < nb; ++b) {
      float amax = 0;
      for (int64_t k = b * 32; k < std::min(n, b * 32 + 32); ++k)
        amax = std::max(amax, std::fabs(x[k]));
      ASSERT_EQ(d[b], amax / 127) << "n " << n << " block " << b;
      for (int64_t k = b * 32; k < b * 32 + 32; ++k) {
        if (k >= n) {
          ASSERT_EQ(q[k], 0) << "padding at " << k;
          continue;
        }
        ASSERT_LE(std::fabs(d[b] * q[k] - x[k]), d[b] * (0.5 + 1e-6)) << "n " << n << " at " << k;
        if (std::fabs(x[k]) == amax) {
          ASSERT_EQ(std::abs(int(q[k])), 127);
        }
      }
    }
  }
  std::vector<float> x(64, 1e-39f);
  x[40] = std::nanf("");
  std::vector<int8_t> q(64, 5);
  std::vector<float> d(2);
  quant::quantize_activations(x.data(), 64, q.data(), d.data());
  EXPECT_EQ(d[0], 0.0f);
  EXPECT_TRUE(std::isnan(d[1]));
  for (int8_t c : q) EXPECT_EQ(c, 0);
}

TEST(Quant, ZerosAndExtremes) {
  for (DType t : kFormats) {
    std::vector<float> v(64, 0.0f);
    v[40] = -3.0f;  // Q4: the largest magnitude decodes exactly when m / 8 is an fp16
    v[41] = 1.5f;
    std::vector<float> y = Tensor::from_f32(v, {1, 64}).to(t).to_vector();
    for (int k = 0; k < 32; ++k) EXPECT_EQ(y[k], 0.0f);
    if (t == DType::Q4) {
      EXPECT_EQ(y[40], -3.0f);
    }
    std::vector<float> bad{1.0f, NAN};
    EXPECT_THROW(Tensor::from_f32(bad, {1, 2}).to(t), Error);
  }
  EXPECT_THROW(Tensor::from_f32({1, 2}, {2}).to(DType::Q8), Error);  // needs rows
}

class EachIsa : public EachLevel {
 protected:
  std::mt19937 rng_{7};
};

// Checks linear(x, wq) = got against a double product of the rounded activations
// (quant::quantize_activations) with the decoded W: |error| <= 1e-6 sqrt(K) sum |x w|, a few
// float32 roundings per term.
void expect_decoded_product(const Tensor& x, const Tensor& wq, const std::vector<float>& got) {
  const int64_t M = x.dim(0), K = x.dim(1), N = wq.dim(0), nb = quant::blocks(K);
  std::vector<float> xv = x.to_vector(), wv = wq.to_vector();
  std::vector<int8_t> q(static_cast<size_t>(nb * 32));
  std::vector<float> d(static_cast<size_t>(nb));
  for (int64_t i = 0; i < M; ++i) {
    quant::quantize_activations(xv.data() + i * K, K, q.data(), d.data());
    for (int64_t j = 0; j < N; ++j) {
      double ref = 0, scale = 0;
      for (int64_t k = 0; k < K; ++k) {
        double p = double(d[k / 32]) * q[k] * wv[j * K + k];
        ref += p;
        scale += std::fabs(p);
      }
      ASSERT_LE(std::fabs(got[i * N + j] - ref), 1e-6 * std::sqrt(double(K)) * scale)
          << dtype_name(wq.dtype()) << " M " << M << " K " << K << " N " << N << " at (" << i
          << ", " << j << ")";
    }
  }
}

// linear() with a quantized W on row counts that take the decode kernels (M <= 16, or 64 for the
// integer kernels, in groups of 4) and the prefill path, K with and without a partial block (and
// with Q4's four-block and Q8's two-block VNNI steps whole, partial or both), N below, at and past
// the kernels' groups of rows of W.
TEST_P(EachIsa, LinearMatchesDecodedProduct) {
  for (DType t : kFormats)
    for (int64_t M : {1, 2, 3, 4, 7, 16, 33, 65})
      for (int64_t K : {32, 96, 100, 172, 288})
        for (int64_t N : {1, 17, 37}) {
          Tensor x = random_matrix(M, K, 1, rng_), wq = random_matrix(N, K, 0.5, rng_).to(t);
          expect_decoded_product(x, wq, linear(x, wq).to_vector());
        }
}

// Products large enough to be split over threads give the same bits on any number of them (each
// element of C is summed in one order wherever its rows of W fall), and the right ones.
TEST_P(EachIsa, LinearIsIndependentOfThreadCount) {
  for (DType t : kFormats)
    for (int64_t M : {1, 3, 8, 33}) {
      Tensor x = random_matrix(M, 1000, 1, rng_), wq = random_matrix(301, 1000, 0.5, rng_).to(t);
      set_num_threads(1);
      const std::vector<float> one = linear(x, wq).to_vector();
      for (int threads : {2, 3}) {
        set_num_threads(threads);
        EXPECT_EQ(linear(x, wq).to_vector(), one)
            << dtype_name(t) << " M " << M << " threads " << threads;
      }
      set_num_threads(0);
      expect_decoded_product(x, wq, one);
    }
}

// bf16 activations give bf16 outputs of the same product.
TEST_P(EachIsa, LinearTakesBf16Activations) {
  Tensor x = random_matrix(3, 64, 1, rng_), wq = random_matrix(9, 64, 0.5, rng_).to(DType::Q8);
  Tensor xb = x.to(DType::BF16), y = linear(xb, wq), ref = linear(xb.to(DType::F32), wq);
  EXPECT_EQ(y.dtype(), DType::BF16);
  EXPECT_LE(rel_error(y, ref), 1e-2);
}

// Each level: AVX2 (with or without AVX-VNNI) and AVX512-VNNI multiply integer codes; AVX-512
// without VNNI decodes the weights to float32.
INSTANTIATE_EACH_LEVEL(EachIsa);

// The logits of a quantized fixture against its float32 logits, max|a - b| / max|b|.
double logit_error(const std::string& fixture, DType t) {
  std::string dir = shared("fixtures/") + fixture;
  Model m = load_model(dir);
  Tensor ids = TensorStore::open_file(dir + "/golden.safetensors").get("input_ids");
  Tensor full = m.logits(ids);
  quantize_model(m, t);
  return rel_error(m.logits(ids), full);
}

class EachFixture : public ::testing::TestWithParam<const char*> {};

// Bounds: set at about 1.5-2x the errors of rounding the weights alone (q8 0.013-0.025, q4
// 0.20-0.40 dense and 0.46-0.77 MoE) and kept when the activations came to be rounded too
// (docs/quantization.md: q8 0.022-0.035 dense and 0.040-0.042 MoE, q4 0.20-0.37 and 0.45-0.78).
// They are large because the fixtures' weights are random normals in rows of only 64-160 (2-5
// blocks): no outliers for a scale to waste, but no averaging either, and a q4 step (max / 8) is
// 16x a q8 step (max / 127). MoE logits move most: fed rounded hidden states, the (unquantized)
// router picks a different expert for some tokens.
TEST_P(EachFixture, QuantizedLogitsStayCloseToF32) {
  double e8 = logit_error(GetParam(), DType::Q8), e4 = logit_error(GetParam(), DType::Q4);
  std::cout << GetParam() << ": q8 " << e8 << ", q4 " << e4 << "\n";
  const bool moe = std::string(GetParam()).find("moe") != std::string::npos;
  EXPECT_LE(e8, 0.05);
  EXPECT_LE(e4, moe ? 1.0 : 0.6);
  EXPECT_LT(e8 * 5, e4);  // q8's finer steps show
}

INSTANTIATE_TEST_SUITE_P(Fixtures, EachFixture,
                         ::testing::Values("qwen3-tiny", "qwen3-tiny-tied", "llama3-tiny",
                                           "olmo2-tiny", "qwen3moe-tiny", "qwen3moe-tiny-mixed"));

// Which weights change: every projection and the output head (Q8 even under Q4); a tied embedding
// keeps its table and gains a separate head.
TEST(Quant, ModelQuantizesProjectionsAndHead) {
  Model m = load_model(shared("fixtures/qwen3-tiny-tied"));
  quantize_model(m, DType::Q4);
  EXPECT_EQ(m.w("model.layers.0.self_attn.q_proj.weight").dtype(), DType::Q4);
  EXPECT_EQ(m.w("model.layers.1.mlp.down_proj.weight").dtype(), DType::Q4);
  EXPECT_EQ(m.w("model.layers.0.input_layernorm.weight").dtype(), DType::F32);
  EXPECT_EQ(m.w("model.embed_tokens.weight").dtype(), DType::F32);
  EXPECT_EQ(m.output_weight().dtype(), DType::Q8);
}

// Decode reads the quantized blocks, and of a tied embedding with a quantized head only its rows.
TEST(Quant, DecodeBytesCountQuantizedSizes) {
  Model m = load_model(shared("fixtures/qwen3-tiny-tied"));
  quantize_model(m, DType::Q8);
  double all = 0;
  for (const auto& [name, w] : m.weights) all += double(w.nbytes());
  const Tensor& embed = m.w("model.embed_tokens.weight");
  const double V = double(embed.dim(0)), D = double(embed.dim(1));
  EXPECT_EQ(m.output_weight().nbytes(), size_t(V * D / 32 * 34));
  EXPECT_DOUBLE_EQ(bench::decode_weight_bytes(m, 1), all - double(embed.nbytes()) + D * 4);
}

TEST(Quant, TrainingIsRefused) {
  Model m = load_model(shared("fixtures/qwen3-tiny"));
  quantize_model(m, DType::Q8);
  EXPECT_THROW(make_trainable(m), Error);
  const Tensor& w = m.w("model.layers.0.self_attn.q_proj.weight");
  EXPECT_THROW(w.set_requires_grad(true), Error);
  Tensor x = Tensor::zeros({1, 64}, DType::F32);
  x.set_requires_grad(true);
  Tape tape;
  EXPECT_THROW(linear(x, w), Error);
}

TEST(Quant, ForwardCommandRefusesGradients) {
  TempDir tmp;
  std::string dir = shared("fixtures/qwen3-tiny");
  auto r = run_cli({"forward", "--model", dir, "--input", dir + "/golden.safetensors", "--output",
                    tmp.path("out.safetensors"), "--quant", "q8", "--grad"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--quant is for inference"), std::string::npos) << r.err;
  r = run_cli({"forward", "--model", dir, "--input", dir + "/golden.safetensors", "--output",
               tmp.path("out.safetensors"), "--quant", "q4"});
  ASSERT_EQ(r.status, 0) << r.err;
  Tensor got = TensorStore::open_file(tmp.path("out.safetensors")).get("logits");
  Tensor ids = TensorStore::open_file(dir + "/golden.safetensors").get("input_ids");
  Model m = load_model(dir);
  quantize_model(m, DType::Q4);
  EXPECT_LE(rel_error(got, m.logits(ids)), 1e-6);  // the same computation as in process
}

// `purelm quantize` writes the blocks as they are in memory: the saved checkpoint loads (mapped, as
// U8 rows of blocks) into the same weights and logits as quantizing at load time, tied head
// included, and the MoE experts.
void expect_saved_equals_load_time(const std::string& fixture, DType t, const char* flag) {
  TempDir tmp;
  const std::string dir = shared("fixtures/") + fixture, out = tmp.path("q");
  auto r = run_cli({"quantize", "--model", dir, "--quant", flag, "--out", out});
  ASSERT_EQ(r.status, 0) << r.err;
  Model want = load_model(dir), got = load_model(out);
  quantize_model(want, t);
  ASSERT_EQ(got.config.quant, t);
  ASSERT_EQ(got.weights.size(), want.weights.size());
  for (const auto& [name, w] : want.weights) {
    const Tensor& g = got.w(name);
    ASSERT_EQ(g.dtype(), w.dtype()) << name;
    ASSERT_EQ(g.shape(), w.shape()) << name;
    ASSERT_EQ(g.nbytes(), w.nbytes()) << name;
    EXPECT_EQ(std::memcmp(g.raw(), w.raw(), w.nbytes()), 0) << name;
  }
  TensorStore file = TensorStore::open_dir(out);
  const Tensor q = file.get("model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(q.dtype(), DType::U8);
  EXPECT_EQ(q.dim(1), int64_t(row_bytes(t, want.config.hidden_size)));
  Tensor ids = TensorStore::open_file(dir + "/golden.safetensors").get("input_ids");
  EXPECT_EQ(rel_error(got.logits(ids), want.logits(ids)), 0.0);
  // --quant of the checkpoint's own format changes nothing; the other format is refused.
  quantize_model(got, t);
  EXPECT_EQ(got.w("model.layers.0.self_attn.q_proj.weight").dtype(), t);
  EXPECT_THROW(quantize_model(got, t == DType::Q8 ? DType::Q4 : DType::Q8), Error);
  r = run_cli({"quantize", "--model", out, "--quant", flag, "--out", tmp.path("again")});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("quantized already"), std::string::npos) << r.err;
  // A mesh's source reads the same blocks, one weight at a time.
  const WeightInfo info = {"model.layers.1.self_attn.o_proj.weight",
                           want.w("model.layers.1.self_attn.o_proj.weight").shape(),
                           {}};
  const Tensor one = checkpoint_weights(out)(info);
  ASSERT_EQ(one.dtype(), t);
  EXPECT_EQ(std::memcmp(one.raw(), want.w(info.name).raw(), one.nbytes()), 0);
}

TEST(Quant, SavedCheckpointEqualsLoadTimeQ4Tied) {
  expect_saved_equals_load_time("qwen3-tiny-tied", DType::Q4, "q4");
}

TEST(Quant, SavedCheckpointEqualsLoadTimeQ8Moe) {
  expect_saved_equals_load_time("qwen3moe-tiny", DType::Q8, "q8");
}

TEST(Quant, ConfigNamesOurFormatOnly) {
  std::ifstream f(shared("fixtures/qwen3-tiny/config.json"));
  const nlohmann::json base = nlohmann::json::parse(f);
  nlohmann::json j = base;
  j["quantization_config"] = {{"quant_method", "purelm"}, {"format", "q4"}};
  Config c = parse_config(j, "config.json");
  EXPECT_EQ(c.quant, DType::Q4);
  EXPECT_EQ(config_to_json(c)["quantization_config"]["format"], "q4");
  j["quantization_config"] = {{"quant_method", "gptq"}, {"bits", 4}};
  try {
    parse_config(j, "config.json");
    ADD_FAILURE() << "a gptq config was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"gptq\""), std::string::npos) << e.what();
  }
  j["quantization_config"] = {{"quant_method", "purelm"}, {"format", "q3"}};
  EXPECT_THROW(parse_config(j, "config.json"), Error);
  EXPECT_FALSE(parse_config(base, "config.json").quant.has_value());
}

// stories260K under --quant q8 against llama2.c's float32 greedy continuations.
TEST(Quant, Stories260KGreedyUnderQ8) {
  std::ifstream f(shared("models/stories260K/goldens.jsonl"));
  std::string line;
  int cases = 0;
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line);
    std::vector<int> expected = j["generated_ids"];
    std::string prompt;
    for (int id : j["prompt_ids"]) prompt += (prompt.empty() ? "" : ",") + std::to_string(id);
    auto r = run_cli({"generate", "--model", shared("models/stories260K"), "--prompt-ids", prompt,
                      "--max-tokens", std::to_string(expected.size()), "--temperature", "0",
                      "--print-ids", "--quant", "q8"});
    ASSERT_EQ(r.status, 0) << r.err;
    std::vector<int> got;
    for (size_t i = 0; i < r.out.size();) {
      size_t e = r.out.find_first_of(",\n", i);
      got.push_back(std::stoi(r.out.substr(i, e - i)));
      i = e + 1;
    }
    size_t same = 0;
    while (same < got.size() && same < expected.size() && got[same] == expected[same]) ++same;
    std::cout << j["prompt"] << ": " << same << " of " << expected.size() << " tokens agree\n";
    EXPECT_EQ(got, expected);
    ++cases;
  }
  EXPECT_EQ(cases, 4);
}

}  // namespace
}  // namespace purelm::testing
