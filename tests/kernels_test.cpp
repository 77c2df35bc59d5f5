// The matrix kernels against double-precision references on every instruction set this CPU has
// (each level forced, down to the portable path), and the backward passes of linear()
// and the fused cross-entropy against naive gradients.
#include <bit>
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "isa_levels.h"
#include "purelm/core/thread_pool.h"
#include "purelm/ops/attention.h"
#include "purelm/ops/autograd.h"
#include "purelm/ops/kernels/attention_kernel.h"
#include "purelm/ops/kernels/backend.h"
#include "purelm/ops/kernels/gemm.h"
#include "purelm/ops/kernels/isa.h"
#include "purelm/ops/kernels/tile.h"
#include "purelm/ops/kernels/vec.h"
#include "purelm/ops/loss.h"
#include "purelm/ops/matmul.h"
#include "testing.h"

namespace purelm::testing {
namespace {

using kernels::Mat;

// Random values in [-1, 1] stored as float32 or bf16; at() is the stored value, exactly.
class Values {
 public:
  Values(int64_t n, bool bf16, std::mt19937& rng) : bf16_(bf16) {
    std::uniform_real_distribution<float> u(-1, 1);
    for (int64_t i = 0; i < n; ++i) bf16 ? h_.push_back(to_bf16(u(rng))) : f_.push_back(u(rng));
  }
  double at(int64_t i) const { return bf16_ ? to_f32(h_[i]) : f_[i]; }
  const void* data() const { return bf16_ ? static_cast<const void*>(h_.data()) : f_.data(); }

 private:
  bool bf16_;
  std::vector<float> f_;
  std::vector<bf16> h_;
};

// One operand of an m x k product: rows ([m, k] row-major) or columns ([k, m] row-major).
struct Operand {
  Operand(int64_t m, int64_t k, bool cols, bool bf16, std::mt19937& rng)
      : v(m * k, bf16, rng), mat{v.data(), bf16, cols ? 1 : k, cols ? m : 1} {}
  double at(int64_t i, int64_t k) const { return v.at(i * mat.rs + k * mat.cs); }
  Values v;
  Mat mat;
};

struct Case {
  int64_t m, n, k;
  bool a_cols, b_cols, a_bf16, b_bf16, accumulate;
  bool bf16_products = false;
};

// Runs one product and compares every element of C (or those of `sample` rows and columns) with a
// double reference: |error| <= 1e-6 sqrt(k) (|C0| + sum |a b|), a few float32 roundings per term.
// Columns of C past n must stay untouched.
void check_gemm(const Case& t, std::mt19937& rng, int64_t sample = 0) {
  Operand a(t.m, t.k, t.a_cols, t.a_bf16, rng), b(t.n, t.k, t.b_cols, t.b_bf16, rng);
  int64_t ldc = t.n + 3;
  std::vector<float> c(size_t(t.m * ldc));
  std::uniform_real_distribution<float> u(-1, 1);
  for (float& x : c) x = u(rng);
  std::vector<float> c0 = c;
  kernels::gemm(t.m, t.n, t.k, a.mat, b.mat, c.data(), ldc, t.accumulate, t.bf16_products);
  // Where the product runs on bf16 pairs, the reference multiplies the operands rounded to bf16.
  bool few_rows = t.m <= kernels::kStreamRows && a.mat.cs == 1 && b.mat.cs == 1;
  bool rounds = kernels::has(kernels::kAvx512Bf16) && !few_rows &&
                (t.bf16_products || (t.a_bf16 && t.b_bf16));
  auto value = [&](const Operand& o, int64_t i, int64_t k) {
    return rounds ? double(round_bf16(float(o.at(i, k)))) : o.at(i, k);
  };
  int failures = 0;
  auto check = [&](int64_t i, int64_t j) {
    double ref = t.accumulate ? c0[i * ldc + j] : 0.0, scale = std::fabs(ref);
    for (int64_t k = 0; k < t.k; ++k) {
      double p = value(a, i, k) * value(b, j, k);
      ref += p;
      scale += std::fabs(p);
    }
    double got = c[i * ldc + j];
    if (!(std::fabs(got - ref) <= 1e-6 * std::sqrt(double(t.k)) * scale) && failures++ < 3)
      ADD_FAILURE() << "C[" << i << ", " << j << "] = " << got << ", want " << ref;
  };
  for (int64_t i = 0; i < t.m; ++i) {
    bool row = sample == 0 || i % (t.m / sample + 1) == 0;
    for (int64_t j = 0; j < t.n; ++j)
      if (row || j % (t.n / std::max<int64_t>(sample, 1) + 1) == 0) check(i, j);
    for (int64_t j = t.n; j < ldc; ++j)
      ASSERT_EQ(c[i * ldc + j], c0[i * ldc + j]) << "wrote past N";
  }
  EXPECT_EQ(failures, 0) << "m " << t.m << " n " << t.n << " k " << t.k << " a_cols " << t.a_cols
                         << " b_cols " << t.b_cols << " a_bf16 " << t.a_bf16 << " b_bf16 "
                         << t.b_bf16 << " acc " << t.accumulate << " bf16_products "
                         << t.bf16_products;
}

class EachIsa : public EachLevel {
 protected:
  // The tile products of this level's instruction set.
  const kernels::TileProducts& tiles() const {
#if defined(__x86_64__)
    if (has(kernels::kAvx512)) return kernels::avx512_tiles();
    if (has(kernels::kAvx2)) return kernels::avx2_tiles();
#endif
    return kernels::portable_tiles();
  }
  std::mt19937 rng_{7};
};

// Every layout (NT forward, NN and TN backward, and the fourth) and operand type on sizes with
// tails in every dimension. Both operands bf16 and k-contiguous use vdpbf16ps on AVX512-BF16.
TEST_P(EachIsa, GemmSmallShapes) {
  const int64_t ms[] = {1, 2, 3, 5, 16, 17, 64, 100}, ns[] = {1, 7, 33, 130},
                ks[] = {1, 3, 16, 65, 257};
  const bool types[][2] = {{false, false}, {false, true}, {true, true}};
  int i = 0;
  for (int64_t m : ms)
    for (int64_t n : ns)
      for (int64_t k : ks)
        for (int layout = 0; layout < 4; ++layout)
          for (const auto& ty : types)
            check_gemm({m, n, k, bool(layout & 1), bool(layout & 2), ty[0], ty[1], bool(++i % 2)},
                       rng_);
}

// Sizes past the cache blocks (mc, nc, kc) of every backend, checked on sampled rows and columns.
TEST_P(EachIsa, GemmAcrossCacheBlocks) {
  for (bool bf16 : {false, true}) {
    check_gemm({340, 4100, 40, false, false, bf16, bf16, false}, rng_, 8);
    check_gemm({20, 45, 1100, false, false, bf16, bf16, true}, rng_, 8);
    check_gemm({70, 300, 600, false, true, false, bf16, true}, rng_, 8);
    check_gemm({300, 70, 600, true, true, false, bf16, true}, rng_, 8);
  }
}

// bf16 products of f32 (and mixed) operands in every layout: rounded while packed on AVX512-BF16,
// exact elsewhere.
TEST_P(EachIsa, GemmBf16ProductsRoundOperands) {
  const int64_t ms[] = {1, 5, 17, 64}, ns[] = {1, 33, 130}, ks[] = {1, 3, 65, 257};
  const bool types[][2] = {{false, false}, {false, true}, {true, false}};
  int i = 0;
  for (int64_t m : ms)
    for (int64_t n : ns)
      for (int64_t k : ks)
        for (int layout = 0; layout < 4; ++layout)
          for (const auto& ty : types)
            check_gemm(
                {m, n, k, bool(layout & 1), bool(layout & 2), ty[0], ty[1], bool(++i % 2), true},
                rng_);
  check_gemm({340, 1100, 600, false, true, false, false, true, true}, rng_, 8);
  check_gemm({300, 70, 1100, true, true, false, true, false, true}, rng_, 8);
}

// Attention's tile products: A at any strides (rows, or columns for the transposed products),
// B row-major, tails in every dimension, C accumulated or overwritten without touching columns
// past N. The shapes leave every remainder of AVX2's 6-row blocks and of its 16 columns in one or
// two vectors, with B read in place (few rows) and copied (23 and 64 rows).
TEST_P(EachIsa, TileGemmMatchesReference) {
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t m : {1, 3, 4, 7, 8, 11, 23, 64})
    for (int64_t n : {1, 13, 17, 24, 64, 100, 128})
      for (int64_t k : {1, 5, 64, 128})
        for (bool transposed : {false, true})
          for (bool accumulate : {false, true}) {
            std::vector<float> a(size_t(m * k)), b(size_t(k * (n + 2))), c(size_t(m * (n + 3)));
            for (std::vector<float>* v : {&a, &b, &c})
              for (float& x : *v) x = u(rng_);
            const std::vector<float> c0 = c;
            const int64_t ars = transposed ? 1 : k, acs = transposed ? m : 1;
            tiles().gemm(m, n, k, a.data(), ars, acs, b.data(), n + 2, c.data(), n + 3, accumulate);
            for (int64_t i = 0; i < m; ++i) {
              for (int64_t j = 0; j < n; ++j) {
                double ref = accumulate ? c0[i * (n + 3) + j] : 0.0, scale = std::fabs(ref);
                for (int64_t kk = 0; kk < k; ++kk) {
                  double p = double(a[i * ars + kk * acs]) * b[kk * (n + 2) + j];
                  ref += p;
                  scale += std::fabs(p);
                }
                ASSERT_LE(std::fabs(c[i * (n + 3) + j] - ref), 1e-6 * std::sqrt(double(k)) * scale)
                    << "m " << m << " n " << n << " k " << k << " at " << i << ", " << j;
              }
              for (int64_t j = n; j < n + 3; ++j)
                ASSERT_EQ(c[i * (n + 3) + j], c0[i * (n + 3) + j]) << "wrote past N";
            }
          }
}

// B in bf16 memory (a bf16 KV cache read in place) gives the very sums of B widened first; a dot
// product with a bf16 operand the same sums up to the compiler's fusing of multiply-adds.
TEST_P(EachIsa, TileGemmAndDotReadBf16InPlace) {
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t m : {1, 3, 4, 7, 11})
    for (int64_t n : {1, 13, 17, 24, 64, 100})
      for (int64_t k : {1, 5, 64, 128}) {
        std::vector<float> a(size_t(m * k)), wide(size_t(k * (n + 2))), c1(size_t(m * n)),
            c2(size_t(m * n));
        std::vector<bf16> b(wide.size());
        for (float& x : a) x = u(rng_);
        for (size_t i = 0; i < b.size(); ++i) wide[i] = to_f32(b[i] = to_bf16(u(rng_)));
        tiles().gemm(m, n, k, a.data(), k, 1, wide.data(), n + 2, c1.data(), n, false);
        tiles().gemm_bf16(m, n, k, a.data(), k, 1, b.data(), n + 2, c2.data(), n, false);
        ASSERT_EQ(c1, c2) << "m " << m << " n " << n << " k " << k;
        double scale = 0;
        for (int64_t i = 0; i < k; ++i) scale += std::fabs(a[i] * wide[i]);
        ASSERT_NEAR(kernels::dot(a.data(), wide.data(), k), kernels::dot(a.data(), b.data(), k),
                    1e-6 * scale)
            << "k " << k;
      }
}

// Attention's operands turned around: every element lands at its place, with tails of the 8 x 8
// blocks in both dimensions, and nothing else is written.
TEST_P(EachIsa, TransposeMovesEveryElement) {
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t rows : {1, 7, 8, 9, 64, 70})
    for (int64_t cols : {1, 8, 13, 64, 128}) {
      const int64_t lds = cols + 3, ldd = rows + 2;
      std::vector<float> src(size_t(rows * lds)), dst(size_t(cols * ldd));
      for (float& x : src) x = u(rng_);
      for (float& x : dst) x = u(rng_);
      const std::vector<float> dst0 = dst;
      tiles().transpose(src.data(), rows, cols, lds, dst.data(), ldd);
      for (int64_t c = 0; c < cols; ++c)
        for (int64_t r = 0; r < ldd; ++r)
          ASSERT_EQ(dst[c * ldd + r], r < rows ? src[r * lds + c] : dst0[c * ldd + r])
              << "rows " << rows << " cols " << cols << " at " << c << ", " << r;
    }
}

// The block products of attention by the kernel of each level against the portable kernel's:
// forward and backward, keys and values in float32 and in bf16 memory, operands rounded (bf16
// activations) or not, odd and even heads, tiles and blocks with tails (the decode path of few
// queries included), queries that see all, part or none of a block, and one or three query heads
// a position (grouped-query tiles). Only the order of the sums may differ: each result within
// 1e-6 K^2 of the portable one for K terms of at most 1.
TEST_P(EachIsa, AttentionBlocksMatchPortable) {
  const kernels::AttentionKernel& kernel = kernels::attention_kernel();
  const kernels::AttentionKernel& portable = kernels::attention_kernels().back();
  if (&kernel == &portable) GTEST_SKIP() << "the portable kernel is the reference";
  std::uniform_real_distribution<float> u(-1, 1);
  auto random = [&](int64_t n) {
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = u(rng_);
    return v;
  };
  struct Out {
    std::vector<float> s, o, dv, dp, dq, dk;
  };
  for (int64_t H : {5, 16, 34})
    for (bool round : {false, true})
      for (bool kv_bf16 : {false, true})
        for (int64_t tq : {1, 3, 8, 13, 64})
          for (int64_t n : {1, 7, 17, 64}) {
            const int64_t ld = 2 * H + 2, ldq = H + 3, visible0 = n / 2 - 1, group = tq % 3 ? 1 : 3;
            const std::vector<float> q = random(tq * ldq), dO = random(tq * ldq),
                                     kf = random(n * ld), vf = random(n * ld), p = random(tq * n),
                                     ds = random(tq * n), o0 = random(tq * H),
                                     dq0 = random(tq * ldq), dkv0 = random(n * ld);
            std::vector<bf16> kh(kf.size()), vh(vf.size());
            for (size_t i = 0; i < kf.size(); ++i) {
              kh[i] = to_bf16(kf[i]);
              vh[i] = to_bf16(vf[i]);
            }
            const kernels::KvBlock b{
                kv_bf16 ? kernels::KvRows{kh.data(), true} : kernels::KvRows{kf.data(), false},
                kv_bf16 ? kernels::KvRows{vh.data(), true} : kernels::KvRows{vf.data(), false},
                ld,
                n,
                visible0,
                group};
            auto run = [&](const kernels::AttentionKernel& k) {
              Out r{std::vector<float>(size_t(tq * n)), o0,  dkv0,
                    std::vector<float>(size_t(tq * n)), dq0, dkv0};
              kernels::AttentionTile& fwd = k.tile(H, round);
              fwd.queries(q.data(), ldq, tq);
              fwd.scores(b, r.s.data());
              fwd.add_values(p.data(), b, r.o.data());
              kernels::AttentionTile& bwd = k.tile(H, round);
              bwd.queries_and_grads(q.data(), dO.data(), ldq, tq);
              bwd.value_grads(p.data(), b, r.dv.data(), r.dp.data());
              bwd.key_grads(ds.data(), b, r.dq.data(), ldq, r.dk.data());
              return r;
            };
            const Out got = run(kernel), want = run(portable);
            const std::string at = "H " + std::to_string(H) + " round " + std::to_string(round) +
                                   " kv_bf16 " + std::to_string(kv_bf16) + " tq " +
                                   std::to_string(tq) + " n " + std::to_string(n) + " group " +
                                   std::to_string(group);
            auto expect = [&](const std::vector<float>& g, const std::vector<float>& w, double K,
                              const char* what) {
              for (size_t i = 0; i < g.size(); ++i)
                ASSERT_NEAR(g[i], w[i], 1e-6 * K * K) << what << " " << i << " " << at;
            };
            for (int64_t r = 0; r < tq; ++r)
              for (int64_t j = 0; j < b.visible(r); ++j)
                ASSERT_NEAR(got.s[r * n + j], want.s[r * n + j], 1e-6 * H * H)
                    << "score " << r << ", " << j << " " << at;
            expect(got.o, want.o, double(n), "o");
            expect(got.dv, want.dv, double(tq), "dv");
            expect(got.dp, want.dp, double(H), "dp");
            expect(got.dq, want.dq, double(n), "dq");
            expect(got.dk, want.dk, double(tq), "dk");
          }
}

// The largest element wherever it is, among masked scores (-inf) too.
TEST(Kernels, MaxOfFindsTheLargest) {
  std::mt19937 rng(6);
  std::uniform_real_distribution<float> u(-100, 100);
  for (int64_t n : {1, 15, 16, 17, 64, 100})
    for (int64_t at = 0; at < n; at += 7) {
      std::vector<float> x(static_cast<size_t>(n));
      for (float& v : x) v = u(rng);
      for (int64_t i = n / 2; i < n; i += 3) x[size_t(i)] = -std::numeric_limits<float>::infinity();
      x[size_t(at)] = 1000.0f;
      ASSERT_EQ(kernels::max_of(x.data(), n), 1000.0f) << "n " << n << " at " << at;
    }
}

// dots() gives each row of B the sum dot() gives it (up to the compiler's fusing of multiply-adds),
// four rows at a time or one by one at the end, rows apart in memory, float32 or bf16.
TEST(Kernels, DotsMatchDotPerRow) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t m : {1, 3, 4, 5, 9, 13})
    for (int64_t n : {1, 15, 16, 17, 128, 130}) {
      const int64_t ldb = n + 3;
      std::vector<float> a(static_cast<size_t>(n)), wide(static_cast<size_t>(m * ldb)),
          y1(static_cast<size_t>(m)), y2(static_cast<size_t>(m));
      std::vector<bf16> b(wide.size());
      for (float& x : a) x = u(rng);
      for (size_t i = 0; i < b.size(); ++i) wide[i] = to_f32(b[i] = to_bf16(u(rng)));
      kernels::dots(a.data(), wide.data(), ldb, m, n, y1.data());
      kernels::dots(a.data(), b.data(), ldb, m, n, y2.data());
      for (int64_t j = 0; j < m; ++j) {
        double scale = 0;
        for (int64_t i = 0; i < n; ++i) scale += std::fabs(a[i] * wide[j * ldb + i]);
        const float ref = kernels::dot(a.data(), wide.data() + j * ldb, n);
        ASSERT_NEAR(y1[j], ref, 1e-6 * scale) << "m " << m << " n " << n << " row " << j;
        ASSERT_NEAR(y2[j], ref, 1e-6 * scale) << "bf16, m " << m << " n " << n << " row " << j;
      }
    }
}

// Each element of C is summed in the same order whichever thread computes it.
TEST_P(EachIsa, GemmIsIndependentOfThreadCount) {
  Operand a(150, 300, false, false, rng_), b(260, 300, false, true, rng_);
  std::vector<float> c1(150 * 260), c2(150 * 260);
  set_num_threads(1);
  kernels::gemm(150, 260, 300, a.mat, b.mat, c1.data(), 260, false);
  set_num_threads(2);
  kernels::gemm(150, 260, 300, a.mat, b.mat, c2.data(), 260, false);
  set_num_threads(0);
  EXPECT_EQ(c1, c2);
}

TEST_P(EachIsa, GemmWithEmptyInnerDimension) {
  std::vector<float> c(6, 5.0f);
  float unused = 0;
  kernels::gemm(2, 3, 0, kernels::rows(&unused, 0), kernels::rows(&unused, 0), c.data(), 3, true);
  EXPECT_EQ(c, std::vector<float>(6, 5.0f));
  kernels::gemm(2, 3, 0, kernels::rows(&unused, 0), kernels::rows(&unused, 0), c.data(), 3, false);
  EXPECT_EQ(c, std::vector<float>(6, 0.0f));
}

Tensor random_tensor(const Shape& shape, DType dtype, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(size_t(numel(shape)));
  for (float& x : v) x = u(rng);
  return Tensor::from_f32(v, shape).to(dtype);
}

// max |got - want| / max |want| over a float32 result and a double reference.
double rel_err(const std::vector<float>& got, const std::vector<double>& want) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    diff = std::max(diff, std::fabs(got[i] - want[i]));
    scale = std::max(scale, std::fabs(want[i]));
  }
  return diff / scale;
}

// y = x W^T, dx = dy W, dW = dy^T x in double from the stored (possibly bf16-rounded) values. With
// bf16 activations on AVX512-BF16 the backward products round dy and f32 W to bf16 (autocast).
TEST_P(EachIsa, LinearForwardAndBackwardMatchNaive) {
  auto round = [](float v) { return double(round_bf16(v)); };
  for (DType xt : {DType::F32, DType::BF16})
    for (DType wt : {DType::F32, DType::BF16})
      for (int64_t M : {1, 3, 17})
        for (int64_t N : {7, 33})
          for (int64_t K : {16, 65}) {
            Tensor x = random_tensor({1, M, K}, xt, rng_), w = random_tensor({N, K}, wt, rng_);
            Tensor dy = random_tensor({1, M, N}, DType::F32, rng_);
            x.set_requires_grad(true);
            w.set_requires_grad(true);
            Tape tape;
            Tensor y = linear(x, w);
            tape.backward(y, dy);
            bool rounds = xt == DType::BF16 && has(kernels::kAvx512Bf16);
            std::vector<float> xv = x.to_vector(), wv = w.to_vector(), g = dy.to_vector();
            std::vector<double> ry(M * N, 0.0), rdx(M * K, 0.0), rdw(N * K, 0.0);
            for (int64_t m = 0; m < M; ++m)
              for (int64_t n = 0; n < N; ++n)
                for (int64_t k = 0; k < K; ++k) {
                  double gv = rounds ? round(g[m * N + n]) : g[m * N + n],
                         wr = rounds ? round(wv[n * K + k]) : wv[n * K + k];
                  ry[m * N + n] += double(xv[m * K + k]) * wv[n * K + k];
                  rdx[m * K + k] += gv * wr;
                  rdw[n * K + k] += gv * xv[m * K + k];
                }
            SCOPED_TRACE(std::string(dtype_name(xt)) + " x, " + std::string(dtype_name(wt)) +
                         " W, M " + std::to_string(M) + " N " + std::to_string(N) + " K " +
                         std::to_string(K));
            EXPECT_EQ(y.dtype(), xt);
            EXPECT_LE(rel_err(y.to_vector(), ry), xt == DType::BF16 ? 8e-3 : 1e-5);
            EXPECT_LE(rel_err(x.grad().to_vector(), rdx), 1e-5);
            EXPECT_LE(rel_err(w.grad().to_vector(), rdw), 1e-5);
          }
}

// The loss over vocabulary blocks (70 rows over 5000 logits: one block, blocks of 1024 and a tail,
// blocks of 7 rows), its dh and dW, against a double computation.
TEST_P(EachIsa, CrossEntropyHeadMatchesNaive) {
  const int64_t M = 70, D = 19, V = 5000;
  for (auto [wt, block] :
       {std::pair{DType::F32, int64_t(0)}, std::pair{DType::BF16, int64_t(0)},
        std::pair{DType::F32, int64_t(1024)}, std::pair{DType::BF16, int64_t(7)}}) {
    Tensor h = random_tensor({M, D}, DType::F32, rng_), w = random_tensor({V, D}, wt, rng_);
    std::vector<int32_t> tg(M);
    for (int64_t i = 0; i < M; ++i) tg[i] = i % 5 == 4 ? -1 : int32_t(rng_() % V);
    h.set_requires_grad(true);
    w.set_requires_grad(true);
    Tape tape;
    Tensor loss = cross_entropy_head(h, w, Tensor::from_i32(tg, {M}), block);
    tape.backward(loss);
    std::vector<float> hv = h.to_vector(), wv = w.to_vector();
    std::vector<double> dh(M * D, 0.0), dw(V * D, 0.0), z(V);
    double total = 0, counted = 0;
    for (int64_t i = 0; i < M; ++i) counted += tg[i] >= 0;
    for (int64_t i = 0; i < M; ++i) {
      if (tg[i] < 0) continue;
      double mx = -1e300, s = 0;
      for (int64_t v = 0; v < V; ++v) {
        z[v] = 0;
        for (int64_t d = 0; d < D; ++d) z[v] += double(hv[i * D + d]) * wv[v * D + d];
        mx = std::max(mx, z[v]);
      }
      for (int64_t v = 0; v < V; ++v) s += std::exp(z[v] - mx);
      total += mx + std::log(s) - z[tg[i]];
      for (int64_t v = 0; v < V; ++v) {
        double dz = (std::exp(z[v] - mx) / s - (v == tg[i])) / counted;
        for (int64_t d = 0; d < D; ++d) {
          dh[i * D + d] += dz * wv[v * D + d];
          dw[v * D + d] += dz * hv[i * D + d];
        }
      }
    }
    EXPECT_NEAR(loss.item(), total / counted, 1e-5 * total / counted);
    EXPECT_LE(rel_err(h.grad().to_vector(), dh), 1e-5);
    EXPECT_LE(rel_err(w.grad().to_vector(), dw), 1e-5);
  }
}

INSTANTIATE_EACH_LEVEL(EachIsa);

#if defined(__x86_64__)  // AVX512-BF16's products on pairs, built only for x86-64
// Products on pairs of bf16 against a double reference: A by rows and transposed, odd K (a zero
// upper half in the last pair), tails in M and N, accumulation, and nothing written past N.
TEST(Kernels, TileGemmPairsMatchesReference) {
  if (!(kernels::cpu_features() & kernels::kAvx512Bf16)) GTEST_SKIP() << "CPU lacks AVX512-BF16";
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t m : {1, 4, 7, 64})
    for (int64_t n : {1, 17, 64, 100})
      for (int64_t k : {1, 5, 64, 127})
        for (bool transposed : {false, true})
          for (bool accumulate : {false, true}) {
            const int64_t k2 = (k + 1) / 2, ldb = n + 2, ldc = n + 3;
            const int64_t ars = transposed ? 1 : k2 + 1, acs = transposed ? m : 1;
            std::vector<bf16> a(size_t((m + 1) * (k2 + 1) * 2)), b(size_t(k2 * ldb * 2));
            auto A = [&](int64_t i, int64_t kk) -> bf16& {
              return a[size_t((i * ars + kk / 2 * acs) * 2 + kk % 2)];
            };
            auto B = [&](int64_t kk, int64_t j) -> bf16& {
              return b[size_t(((kk / 2) * ldb + j) * 2 + kk % 2)];
            };
            for (int64_t i = 0; i < m; ++i)  // A(i, k) and B[k, j] past K are zero
              for (int64_t kk = 0; kk < 2 * k2; ++kk) A(i, kk) = kk < k ? to_bf16(u(rng)) : bf16{};
            for (int64_t kk = 0; kk < 2 * k2; ++kk)
              for (int64_t j = 0; j < ldb; ++j) B(kk, j) = kk < k ? to_bf16(u(rng)) : bf16{};
            std::vector<float> c(size_t(m * ldc));
            for (float& x : c) x = u(rng);
            const std::vector<float> c0 = c;
            kernels::tile_gemm_pairs(m, n, k2, a.data(), ars, acs, b.data(), ldb, c.data(), ldc,
                                     accumulate);
            for (int64_t i = 0; i < m; ++i) {
              for (int64_t j = 0; j < n; ++j) {
                double ref = accumulate ? c0[i * ldc + j] : 0.0, scale = std::fabs(ref);
                for (int64_t kk = 0; kk < k; ++kk) {
                  double p = double(to_f32(A(i, kk))) * to_f32(B(kk, j));
                  ref += p;
                  scale += std::fabs(p);
                }
                ASSERT_LE(std::fabs(c[i * ldc + j] - ref), 1e-6 * std::sqrt(double(k)) * scale)
                    << "m " << m << " n " << n << " k " << k << " transposed " << transposed
                    << " at " << i << ", " << j;
              }
              for (int64_t j = n; j < ldc; ++j)
                ASSERT_EQ(c[i * ldc + j], c0[i * ldc + j]) << "wrote past N";
            }
          }
}

// bf16 attention on pairs of bf16 (AVX512-BF16) against the float32 products of the same rounded
// operands (AVX-512): only the order of the sums differs. The bf16 outputs agree to one unit in the
// last place; the gradients, where a changed last bit can move one rounding of dP or dS to the
// next bf16, to 1e-4 of their largest element (measured: 3.5e-7). Tiles and key blocks with tails
// (T = 70), GQA, rows at offsets, keys and values in bf16 and in float32 memory.
TEST(Kernels, Bf16AttentionOnPairsMatchesFloatProducts) {
  if (!(kernels::cpu_features() & kernels::kAvx512Bf16)) GTEST_SKIP() << "CPU lacks AVX512-BF16";
  const int64_t B = 2, T = 70, S = 141, N = 4, K = 2, H = 32;
  const std::vector<int64_t> pos0 = {5, 71};
  std::mt19937 rng(12);
  auto random = [&](const Shape& shape, DType dtype) {
    std::normal_distribution<float> g;
    std::vector<float> v(size_t(numel(shape)));
    for (float& x : v) x = g(rng);
    return Tensor::from_f32(v, shape).to(dtype);
  };
  auto max_abs = [](const std::vector<float>& v) {
    float m = 0;
    for (float x : v) m = std::max(m, std::fabs(x));
    return m;
  };
  Tensor q = random({B, T, N, H}, DType::BF16), dy = random({B, T, N, H}, DType::F32);
  for (DType kv : {DType::BF16, DType::F32}) {
    Tensor k = random({B, S, K, H}, kv), v = random({B, S, K, H}, kv);
    // Output, dq, dk, dv.
    auto run = [&]() {
      for (const Tensor* t : {&q, &k, &v}) {
        t->set_requires_grad(true);
        t->release_grad();
      }
      Tape tape;
      Tensor y = attention(q, k, v, pos0);
      tape.backward(y, dy);
      return std::vector<std::vector<float>>{y.to_vector(), q.grad().to_vector(),
                                             k.grad().to_vector(), v.grad().to_vector()};
    };
    const auto on_pairs = run();
    std::vector<std::vector<float>> on_floats;
    {
      ForceFeatures f32(kernels::features() & ~kernels::kAvx512Bf16);
      on_floats = run();
    }
    const std::vector<float>&got = on_pairs[0], &want = on_floats[0];
    int differ = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      differ += got[i] != want[i];
      ASSERT_LE(std::fabs(got[i] - want[i]), std::ldexp(std::fabs(want[i]), -7) + 1e-30f)
          << "output " << i << " (" << dtype_name(kv) << " keys and values)";
    }
    EXPECT_LT(differ, int(got.size()) / 20) << dtype_name(kv);
    for (int g = 1; g < 4; ++g) {
      const float scale = max_abs(on_floats[g]);
      for (size_t i = 0; i < on_floats[g].size(); ++i)
        ASSERT_LE(std::fabs(on_pairs[g][i] - on_floats[g][i]), 1e-4f * scale)
            << "gradient "
            << "qkv"[g - 1] << " element " << i << " (" << dtype_name(kv) << ")";
    }
  }
}

#endif

// The vector rounding against dtype.h's scalar one, bit for bit: ties to even, carries into the
// exponent, infinities, NaNs (quieted), denormals and signed zeros.
TEST(Kernels, RoundToBf16MatchesScalar) {
  std::vector<uint32_t> bits = {0x00000000u, 0x80000000u, 0x3f808000u, 0x3f818000u, 0x3f80ffffu,
                                0x7f7fffffu, 0x7f800000u, 0xff800000u, 0x7f800001u, 0xffc12345u,
                                0x00000001u, 0x807fffffu, 0x477fff80u};
  std::mt19937 rng(7);
  for (int i = 0; i < 1000; ++i) bits.push_back(uint32_t(rng()));
  std::vector<float> x(bits.size()), got(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) x[i] = std::bit_cast<float>(bits[i]);
  kernels::round_to_bf16(x.data(), got.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); ++i)
    EXPECT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(round_bf16(x[i])))
        << std::hex << bits[i];
}

// RMSNorm's and RoPE's row primitives against the same float operations written out, bit for bit,
// at lengths with and without a vector tail; the double sum within rounding of its order.
TEST(Kernels, NormAndRopeRowsMatchScalar) {
  std::mt19937 rng(8);
  std::uniform_real_distribution<float> u(-2, 2);
  auto random = [&](int64_t n) {
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = u(rng);
    return v;
  };
  for (int64_t n : {1, 7, 8, 9, 16, 31, 64, 67}) {
    auto x = random(n), w = random(n), dy = random(n), dw = random(n), dx = random(n);
    const float s = u(rng), c = u(rng);
    double ref = 0, scale = 0;
    for (int64_t i = 0; i < n; ++i) {
      ref += double(dy[i]) * w[i] * x[i];
      scale += std::fabs(double(dy[i]) * w[i] * x[i]);
    }
    EXPECT_NEAR(kernels::sum_products(dy.data(), w.data(), x.data(), n), ref, 1e-15 * scale);
    std::vector<float> y(static_cast<size_t>(n)), dw2 = dw, dx2 = dx, dw3 = dw;
    kernels::scale_mul(x.data(), s, w.data(), y.data(), n);
    kernels::rmsnorm_backward(dy.data(), x.data(), w.data(), s, c, dw2.data(), dx2.data(), n);
    kernels::rmsnorm_backward(dy.data(), x.data(), w.data(), s, c, dw3.data(), nullptr, n);
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_EQ(y[i], x[i] * s * w[i]) << n << " " << i;
      EXPECT_EQ(dw2[i], dw[i] + dy[i] * x[i] * s) << n << " " << i;
      EXPECT_EQ(dw3[i], dw2[i]) << n << " " << i;
      EXPECT_EQ(dx2[i], dx[i] + (dy[i] * w[i] * s - x[i] * c)) << n << " " << i;
    }
    auto v = random(2 * n), cs = random(n), sn = random(n), fwd = v, back = v;
    kernels::rotate_halves(fwd.data(), cs.data(), sn.data(), n, false);
    kernels::rotate_halves(back.data(), cs.data(), sn.data(), n, true);
    for (int64_t i = 0; i < n; ++i) {
      const float a = v[i], b = v[i + n];
      EXPECT_EQ(fwd[i], a * cs[i] - b * sn[i]) << n << " " << i;
      EXPECT_EQ(fwd[i + n], b * cs[i] + a * sn[i]) << n << " " << i;
      EXPECT_EQ(back[i], a * cs[i] - b * -sn[i]) << n << " " << i;
      EXPECT_EQ(back[i + n], b * cs[i] + a * -sn[i]) << n << " " << i;
    }
  }
}

TEST(Kernels, ExpShiftedMatchesLibm) {
  std::vector<float> z, expect;
  for (float x = -90.0f; x <= 10.0f; x += 0.01234f) z.push_back(x);
  z.push_back(-std::numeric_limits<float>::infinity());
  const float shift = 1.5f, scale = 0.25f;
  double sum = 0;
  for (float x : z) {
    double e = std::exp(double(x - shift));  // the shift is subtracted in float, as the kernel does
    sum += e < 1e-38 ? 0.0 : e;              // exp_shifted flushes below exp(-87)
    expect.push_back(float(e * scale));
  }
  float got_sum = kernels::exp_shifted(z.data(), int64_t(z.size()), shift, scale);
  EXPECT_NEAR(got_sum, sum, 1e-6 * sum);
  for (size_t i = 0; i < z.size(); ++i) {
    if (expect[i] < 1e-36f) {
      EXPECT_LE(z[i], 1e-36f);
    } else {
      EXPECT_NEAR(z[i], expect[i], 3e-7f * expect[i]) << i;
    }
  }
}

}  // namespace
}  // namespace purelm::testing
