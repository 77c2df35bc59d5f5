// Every op's recorded backward against central finite differences of its forward, on small random
// inputs with awkward shapes (GQA groups, position offsets, ignored targets, tails).
#include "purelm/ops/ops.h"

#include <cmath>
#include <functional>
#include <random>

#include "purelm/ops/autograd.h"
#include "testing.h"

namespace purelm::testing {
namespace {

Tensor randn(const Shape& s, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(numel(s)));
  for (float& x : v) x = d(rng);
  Tensor t = Tensor::from_f32(v, s);
  t.set_requires_grad(true);
  return t;
}

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

double project(const Tensor& y, const std::vector<float>& r) {
  std::vector<float> v = y.to_vector();
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += double(v[i]) * r[i];
  return s;
}

// Checks d<f(x), r>/dx from the tape against central differences at up to 24 entries per input.
void grad_check(std::vector<Tensor> inputs, const Fn& f, double tol = 1e-2, float h = 1e-2f) {
  std::mt19937 rng(7);
  Tensor y0;
  {
    NoGrad ng;
    y0 = f(inputs);
  }
  std::vector<float> r = randn(y0.shape(), rng).to_vector();
  {
    Tape tape;
    Tensor y = f(inputs);
    tape.backward(y, Tensor::from_f32(r, y.shape()));
  }
  NoGrad ng;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor& x = inputs[i];
    if (!x.requires_grad()) continue;
    ASSERT_TRUE(x.has_grad()) << "input " << i << " got no gradient";
    std::vector<float> analytic = x.grad().to_vector();
    double scale = 1e-3;
    for (float g : analytic) scale = std::max(scale, std::fabs(double(g)));
    std::uniform_int_distribution<int64_t> pick(0, x.numel() - 1);
    for (int n = 0; n < std::min<int64_t>(24, x.numel()); ++n) {
      int64_t j = x.numel() <= 24 ? n : pick(rng);
      float* p = x.data<float>() + j;
      float saved = *p;
      *p = saved + h;
      double up = project(f(inputs), r);
      *p = saved - h;
      double down = project(f(inputs), r);
      *p = saved;
      double fd = (up - down) / (2 * h);
      EXPECT_NEAR(fd / scale, analytic[j] / scale, tol) << "input " << i << " element " << j;
    }
  }
}

// A parameter's gradient between steps: zero_grad keeps the memory and reads as no gradient; the
// next backward's first product writes over it, a second one adds, exactly as from a fresh zero.
TEST(OpsGrad, ZeroedGradientKeepsItsMemoryAndStartsFromZero) {
  Tensor x = Tensor::from_f32({1, 2, 3, 4, 5, 6}, {2, 3}), w = Tensor::from_f32({1, -1, 2}, {1, 3});
  w.set_requires_grad(true);
  auto backward = [&](int uses) {
    Tape tape;
    Tensor y = linear(x, w);
    for (int u = 1; u < uses; ++u) y = add(y, linear(x, w));
    tape.backward(y, Tensor::from_f32({1, 1}, {2, 1}));
  };
  backward(1);
  const void* memory = w.grad().raw();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<float>{5, 7, 9}));
  w.zero_grad();
  EXPECT_FALSE(w.has_grad());
  backward(2);
  EXPECT_EQ(w.grad().raw(), memory);
  EXPECT_EQ(w.grad().to_vector(), (std::vector<float>{10, 14, 18}));
  w.zero_grad();
  EXPECT_EQ(w.ensure_grad().to_vector(), (std::vector<float>{0, 0, 0}));
  w.release_grad();
  EXPECT_FALSE(w.grad().defined());
}

TEST(OpsGrad, Linear) {
  std::mt19937 rng(1);
  grad_check({randn({2, 3, 7}, rng), randn({5, 7}, rng)},
             [](auto& in) { return linear(in[0], in[1]); });
}

TEST(OpsGrad, RmsNorm) {
  std::mt19937 rng(2);
  grad_check({randn({4, 9}, rng), randn({9}, rng)},
             [](auto& in) { return rmsnorm(in[0], in[1], 1e-5f); });
}

TEST(OpsGrad, RopeWithOffsets) {
  std::mt19937 rng(3);
  std::vector<double> f = rope_inv_freq(8, 10000);
  grad_check({randn({2, 3, 2, 8}, rng)}, [&](auto& in) { return rope(in[0], f, {0, 5}); });
}

TEST(OpsGrad, RopeIsARotation) {
  std::mt19937 rng(4);
  Tensor x = randn({1, 4, 3, 16}, rng);
  NoGrad ng;
  std::vector<float> a = x.to_vector(), b = rope(x, rope_inv_freq(16, 1e6), {3}).to_vector();
  for (size_t i = 0; i < a.size(); i += 16) {  // each head keeps its length
    double na = 0, nb = 0;
    for (int j = 0; j < 16; ++j) na += a[i + j] * a[i + j], nb += b[i + j] * b[i + j];
    EXPECT_NEAR(na, nb, 1e-4 * na);
  }
}

// Each batch entry turns by the angles of its own positions, entries that start alike or not.
TEST(OpsGrad, RopeTurnsEachEntryFromItsStart) {
  std::mt19937 rng(7);
  const int64_t T = 2, heads = 2, H = 8;
  const std::vector<int64_t> pos0 = {5, 0, 5};
  std::vector<double> f = rope_inv_freq(H, 10000);
  Tensor x = randn({3, T, heads, H}, rng);
  NoGrad ng;
  std::vector<float> a = x.to_vector(), y = rope(x, f, pos0).to_vector();
  for (size_t at = 0; at < a.size(); at += H) {
    const int64_t r = int64_t(at / H) / heads;  // the row of [B T]
    const double pos = double(pos0[size_t(r / T)] + r % T);
    for (int64_t i = 0; i < H / 2; ++i) {
      const float c = float(std::cos(pos * f[i])), s = float(std::sin(pos * f[i]));
      const float u = a[at + i], v = a[at + i + H / 2];
      EXPECT_EQ(y[at + i], u * c - v * s) << at << " " << i;
      EXPECT_EQ(y[at + i + H / 2], v * c + u * s) << at << " " << i;
    }
  }
}

TEST(OpsGrad, AttentionGqaWithPositions) {
  std::mt19937 rng(5);
  // B 2, T 3, N 4, K 2, H 8, S 5; row 0 starts at position 2, row 1 at 1.
  grad_check({randn({2, 3, 4, 8}, rng), randn({2, 5, 2, 8}, rng), randn({2, 5, 2, 8}, rng)},
             [](auto& in) {
               return attention(in[0], in[1], in[2], {2, 1});
             });
}

TEST(OpsGrad, AttentionLongerThanOneKeyBlock) {
  std::mt19937 rng(6);
  grad_check(
      {randn({1, 70, 2, 4}, rng, 0.5f), randn({1, 70, 1, 4}, rng, 0.5f), randn({1, 70, 1, 4}, rng)},
      [](auto& in) { return attention(in[0], in[1], in[2], {0}); });
}

// Attention dropout is a pure function of the tape's seed, so the finite differences (under a
// throwaway tape seeded alike) see the same mask as the recorded backward.
Tensor attention_dropped(const std::vector<Tensor>& in, const std::vector<int64_t>& pos0, double p,
                         uint64_t seed) {
  if (Tape* t = Tape::active()) {
    t->seed(seed);
    return attention(in[0], in[1], in[2], pos0, p);
  }
  Tape local;
  local.seed(seed);
  return attention(in[0], in[1], in[2], pos0, p);
}

TEST(OpsGrad, AttentionWithDropout) {
  std::mt19937 rng(9);
  grad_check({randn({2, 3, 4, 8}, rng), randn({2, 5, 2, 8}, rng), randn({2, 5, 2, 8}, rng)},
             [](auto& in) {
               return attention_dropped(in, {2, 1}, 0.3, 11);
             });
  grad_check(
      {randn({1, 70, 2, 4}, rng, 0.5f), randn({1, 70, 1, 4}, rng, 0.5f), randn({1, 70, 1, 4}, rng)},
      [](auto& in) { return attention_dropped(in, {0}, 0.5, 12); });
}

// Dropout acts only while training, is reproducible from the seed, and keeps the expectation.
TEST(Ops, AttentionDropoutOnlyWhileTrainingAndUnbiased) {
  std::mt19937 rng(10);
  std::vector<Tensor> in = {randn({1, 20, 2, 4}, rng), randn({1, 20, 1, 4}, rng),
                            randn({1, 20, 1, 4}, rng)};
  std::vector<float> plain, mean(80 * 2, 0.0f);
  {
    NoGrad ng;
    plain = attention(in[0], in[1], in[2], {0}).to_vector();
    EXPECT_EQ(attention(in[0], in[1], in[2], {0}, 0.5).to_vector(), plain);
  }
  std::vector<float> a = attention_dropped(in, {0}, 0.5, 1).to_vector();
  EXPECT_EQ(attention_dropped(in, {0}, 0.5, 1).to_vector(), a);
  EXPECT_NE(attention_dropped(in, {0}, 0.5, 2).to_vector(), a);
  EXPECT_NE(a, plain);
  const int draws = 4000;
  for (int i = 0; i < draws; ++i) {
    std::vector<float> o = attention_dropped(in, {0}, 0.5, 100 + i).to_vector();
    for (size_t j = 0; j < o.size(); ++j) mean[j] += o[j] / draws;
  }
  double worst = 0, scale = 0;
  for (size_t j = 0; j < plain.size(); ++j) {
    worst = std::max(worst, std::fabs(double(mean[j]) - plain[j]));
    scale = std::max(scale, std::fabs(double(plain[j])));
  }
  EXPECT_LT(worst / scale, 0.05) << worst /
                                        scale;  // measured: 0.017 (sampling noise of 4000 draws)
}

TEST(Ops, AttentionIsCausalSoftmax) {
  std::mt19937 rng(8);
  Tensor q = randn({1, 3, 1, 4}, rng), k = randn({1, 3, 1, 4}, rng), v = randn({1, 3, 1, 4}, rng);
  NoGrad ng;
  std::vector<float> out = attention(q, k, v, {0}).to_vector(), qv = q.to_vector(),
                     kv = k.to_vector(), vv = v.to_vector();
  for (int t = 0; t < 3; ++t) {  // naive: softmax over keys 0..t
    std::vector<double> s(t + 1);
    double mx = -1e30, z = 0;
    for (int j = 0; j <= t; ++j) {
      s[j] = 0;
      for (int h = 0; h < 4; ++h) s[j] += qv[t * 4 + h] * kv[j * 4 + h] / 2.0;
      mx = std::max(mx, s[j]);
    }
    for (double& x : s) z += x = std::exp(x - mx);
    for (int h = 0; h < 4; ++h) {
      double o = 0;
      for (int j = 0; j <= t; ++j) o += s[j] / z * vv[j * 4 + h];
      EXPECT_NEAR(out[t * 4 + h], o, 1e-5);
    }
  }
}

TEST(Ops, AttentionTilesMatchNaiveGqaWithOffsets) {
  // Several query tiles and key blocks, rows at different positions, GQA (N 4 over K 2).
  const int B = 2, T = 70, S = 140, N = 4, K = 2, H = 16;
  const std::vector<int64_t> pos0 = {5, 60};
  std::mt19937 rng(11);
  Tensor q = randn({B, T, N, H}, rng), k = randn({B, S, K, H}, rng), v = randn({B, S, K, H}, rng);
  NoGrad ng;
  std::vector<float> out = attention(q, k, v, pos0).to_vector(), qv = q.to_vector(),
                     kv = k.to_vector(), vv = v.to_vector();
  double worst = 0;
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t)
      for (int n = 0; n < N; ++n) {
        const int kh = n / (N / K), len = int(pos0[b]) + t + 1;
        const float* qr = &qv[((b * T + t) * N + n) * H];
        std::vector<double> s(len);
        double mx = -1e30, z = 0;
        for (int j = 0; j < len; ++j) {
          s[j] = 0;
          for (int h = 0; h < H; ++h) s[j] += qr[h] * kv[((b * S + j) * K + kh) * H + h] / 4.0;
          mx = std::max(mx, s[j]);
        }
        for (double& x : s) z += x = std::exp(x - mx);
        for (int h = 0; h < H; ++h) {
          double o = 0;
          for (int j = 0; j < len; ++j) o += s[j] / z * vv[((b * S + j) * K + kh) * H + h];
          worst = std::max(worst, std::abs(out[((b * T + t) * N + n) * H + h] - o));
        }
      }
  EXPECT_LT(worst, 1e-5);
}

// A bf16 KV cache is read in place: the same output as float32 keys and values holding the same
// (rounded) numbers, for a decode step (one query: the streaming path) and a prefill chunk.
TEST(Ops, AttentionReadsBf16KeysAndValuesInPlace) {
  const int B = 2, S = 100, N = 4, K = 2, H = 16;
  std::mt19937 rng(5);
  Tensor k = randn({B, S, K, H}, rng).to(DType::BF16), v = randn({B, S, K, H}, rng).to(DType::BF16);
  NoGrad ng;
  for (int T : {1, 37}) {
    Tensor q = randn({B, T, N, H}, rng);
    const std::vector<int64_t> pos0 = {S - T, 20};
    std::vector<float> got = attention(q, k, v, pos0).to_vector(),
                       want = attention(q, k.to(DType::F32), v.to(DType::F32), pos0).to_vector();
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i)
      worst = std::max(worst, double(std::abs(got[i] - want[i])));
    EXPECT_LT(worst, 1e-6) << "T " << T;
  }
}

TEST(OpsGrad, Embedding) {
  std::mt19937 rng(9);
  Tensor ids = Tensor::from_i32({3, 0, 3, 2}, {2, 2});
  grad_check({randn({5, 6}, rng)}, [&](auto& in) { return embedding(in[0], ids, DType::F32); });
}

TEST(OpsGrad, SwigluAddScaleReshape) {
  std::mt19937 rng(10);
  grad_check({randn({3, 5}, rng), randn({3, 5}, rng)},
             [](auto& in) { return swiglu(in[0], in[1]); });
  grad_check({randn({3, 5}, rng), randn({3, 5}, rng)}, [](auto& in) { return add(in[0], in[1]); });
  grad_check({randn({3, 5}, rng), randn({3}, rng)},
             [](auto& in) { return scale_rows(in[0], in[1]); });
  grad_check({randn({3, 4}, rng)}, [](auto& in) { return reshape(in[0], {2, 6}); });
}

TEST(OpsGrad, CrossEntropyFusedWithHead) {
  std::mt19937 rng(11);
  Tensor targets = Tensor::from_i32({1, -1, 10, 0, 4, -1, 7}, {7});
  grad_check({randn({7, 8}, rng), randn({11, 8}, rng)},
             [&](auto& in) { return cross_entropy_head(in[0], in[1], targets); });
}

TEST(Ops, CrossEntropyValue) {
  Tensor h = Tensor::from_f32({1, 0, 0, 1}, {2, 2}),
         w = Tensor::from_f32({1, 0, 0, 1, 1, 1}, {3, 2});
  NoGrad ng;
  // Row 0 logits (1, 0, 1), target 1; row 1 logits (0, 1, 1), target 2.
  double l0 = std::log(2 * std::exp(1.0) + 1) - 0, l1 = std::log(2 * std::exp(1.0) + 1) - 1;
  EXPECT_NEAR(cross_entropy_head(h, w, Tensor::from_i32({1, 2}, {2})).item(), (l0 + l1) / 2, 1e-6);
}

TEST(OpsGrad, MoeRoutingRenormalisedAndRaw) {
  for (bool renorm : {true, false}) {
    std::mt19937 rng(12);
    grad_check(
        {randn({6, 5}, rng)}, [&](auto& in) { return route_topk(in[0], 2, renorm).weights; }, 1e-2,
        1e-3f);
  }
}

TEST(Ops, MoeRoutingPicksTopK) {
  Tensor z = Tensor::from_f32({0.1f, 2.0f, -1.0f, 1.0f}, {1, 4});
  Routing r = route_topk(z, 2, true);
  EXPECT_EQ(r.experts, (std::vector<int32_t>{1, 3}));
  double e1 = std::exp(2.0), e3 = std::exp(1.0);
  EXPECT_NEAR(r.weights.data<float>()[0], e1 / (e1 + e3), 1e-6);
  auto groups = group_by_expert(r, 4);
  EXPECT_EQ(groups[3].tokens, (std::vector<int32_t>{0}));
  EXPECT_EQ(groups[3].slots, (std::vector<int32_t>{1}));
}

TEST(OpsGrad, GatherAndCombineRows) {
  std::mt19937 rng(13);
  grad_check({randn({4, 3}, rng)}, [](auto& in) { return gather_rows(in[0], {2, 0, 2}); });
  grad_check({randn({2, 3}, rng), randn({3, 3}, rng)}, [](auto& in) {
    return combine_rows({in[0], in[1]}, {{1, 3}, {0, 1, 3}}, 4, DType::F32);
  });
}

TEST(Ops, Bf16ActivationsAreRounded) {
  Tensor x = Tensor::from_f32({1.0f + 1.0f / 1024}, {1, 1}).to(DType::BF16);
  EXPECT_EQ(x.to_vector()[0], 1.0f);  // 1 + 2^-10 is below bf16's 8-bit mantissa
}

TEST(Ops, ShapeErrorsAreClear) {
  std::mt19937 rng(14);
  try {
    linear(randn({2, 3}, rng), randn({4, 5}, rng));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace purelm::testing
