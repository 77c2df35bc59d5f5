// Tensor parallelism inside the ops (ops/parallel.h), without MPI: two threads play a TP group of
// two processes, their group sum adds both threads' buffers. A block cut the way a mesh cuts
// OLMo 2's query path (an output-split projection, an RMSNorm over the split axis, an input-split
// projection) must give each thread one process's output and input gradient, and its slice of
// every weight gradient.
#include <barrier>
#include <random>
#include <thread>

#include "purelm/core/thread_pool.h"
#include "purelm/ops/autograd.h"
#include "purelm/ops/ops.h"
#include "purelm/ops/parallel.h"
#include "testing.h"

namespace purelm::testing {
namespace {

constexpr int kRanks = 2;
thread_local int t_rank = 0;

// An all-reduce between the threads of a group: each sums every thread's buffer in rank order.
struct ThreadGroup {
  std::barrier<> sync{kRanks};
  float* parts[kRanks] = {};
};

void sum_threads(void* group, float* data, int64_t n) {
  auto& g = *static_cast<ThreadGroup*>(group);
  g.parts[t_rank] = data;
  g.sync.arrive_and_wait();
  std::vector<float> total(size_t(n), 0.0f);
  for (float* part : g.parts)
    for (int64_t i = 0; i < n; ++i) total[i] += part[i];
  g.sync.arrive_and_wait();  // every thread has read every buffer
  std::copy(total.begin(), total.end(), data);
}

// An all-gather between the threads: every thread gets all buffers in rank order.
void gather_threads(void* group, const float* in, float* out, int64_t n) {
  auto& g = *static_cast<ThreadGroup*>(group);
  g.parts[t_rank] = const_cast<float*>(in);
  g.sync.arrive_and_wait();
  for (int t = 0; t < kRanks; ++t) std::copy(g.parts[t], g.parts[t] + n, out + t * n);
  g.sync.arrive_and_wait();
}

// Runs body(t) on kRanks threads that play the processes of a TP group, with the pool serving one
// caller (both run their loops inline).
template <class Body>
void run_ranks(const Body& body) {
  const int threads = num_threads();
  set_num_threads(1);
  std::vector<std::thread> ranks;
  for (int t = 0; t < kRanks; ++t)
    ranks.emplace_back([&, t] {
      t_rank = t;
      body(t);
    });
  for (std::thread& th : ranks) th.join();
  set_num_threads(threads);
}

std::vector<float> randn(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

Tensor param(const std::vector<float>& v, const Shape& s) {
  Tensor t = Tensor::from_f32(v, s);
  t.set_requires_grad(true);
  return t;
}

// Rows [r0, r0 + r) of a row-major matrix of `cols` columns.
std::vector<float> row_block(const std::vector<float>& m, int64_t cols, int64_t r0, int64_t r) {
  return std::vector<float>(m.begin() + r0 * cols, m.begin() + (r0 + r) * cols);
}

// Columns [c0, c0 + c) of a row-major [rows, cols] matrix (a 1-D vector is one row).
std::vector<float> columns(const std::vector<float>& m, int64_t cols, int64_t c0, int64_t c) {
  std::vector<float> out;
  for (size_t r = 0; r < m.size() / size_t(cols); ++r)
    out.insert(out.end(), m.begin() + int64_t(r) * cols + c0,
               m.begin() + int64_t(r) * cols + c0 + c);
  return out;
}

struct Block {
  Tensor x;
  Weight a, n, b;
};

// x [M, D], A [F, D], n [F], B [D, F] as parameters.
Block make_block(const std::vector<float>& x, const std::vector<float>& a,
                 const std::vector<float>& n, const std::vector<float>& b, int64_t M, int64_t D,
                 int64_t F) {
  return {param(x, {M, D}), param(a, {F, D}), param(n, {F}), param(b, {D, F})};
}

struct Result {
  std::vector<float> y, dx, da, dn, db;
};

// y = linear(rmsnorm(linear(x, A), n), B) and the gradients of <y, r>.
Result run(const Block& k, const std::vector<float>& r) {
  Tape tape;
  Tensor y = linear(rmsnorm(linear(k.x, k.a), k.n, 1e-6f), k.b);
  tape.backward(y, Tensor::from_f32(r, y.shape()));
  return {y.to_vector(), k.x.grad().to_vector(), k.a.grad().to_vector(), k.n.grad().to_vector(),
          k.b.grad().to_vector()};
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  Tensor g = Tensor::from_f32(got, {int64_t(got.size())});
  Tensor w = Tensor::from_f32(want, {int64_t(want.size())});
  EXPECT_LE(rel_error(g, w), 1e-5) << what;
}

TEST(TensorParallelOps, SplitNormBlockMatchesOneProcess) {
  const int64_t M = 6, D = 8, F = 12, f = F / kRanks;
  std::mt19937 rng(3);
  std::vector<float> x = randn(M * D, rng), a = randn(F * D, rng), n = randn(F, rng),
                     b = randn(D * F, rng), r = randn(M * D, rng);
  Result one = run(make_block(x, a, n, b, M, D, F), r);

  ThreadGroup group;
  const GroupSum over{sum_threads, &group};
  const SplitMark out{Split::Out, over}, in{Split::In, over};
  Block blocks[kRanks];
  for (int t = 0; t < kRanks; ++t) {
    blocks[t] = make_block(x, row_block(a, D, t * f, f), columns(n, F, t * f, f),
                           columns(b, F, t * f, f), M, D, f);
    blocks[t].a.split = blocks[t].n.split = &out;
    blocks[t].b.split = &in;
  }
  Result part[kRanks];
  run_ranks([&](int t) { part[t] = run(blocks[t], r); });

  for (int t = 0; t < kRanks; ++t) {
    expect_close(part[t].y, one.y, "y");
    expect_close(part[t].dx, one.dx, "dx");
    expect_close(part[t].da, row_block(one.da, D, t * f, f), "dA");
    expect_close(part[t].dn, columns(one.dn, F, t * f, f), "dn");
    expect_close(part[t].db, columns(one.db, F, t * f, f), "dB");
  }
}

// The vocabulary-parallel layers: a tied table E [V, D] split by rows looks up the ids (embedding),
// and heads the loss over blocks that cross its slices' edges (cross_entropy_head) and the whole
// logits (linear_whole), through a replicated projection A. Each process must get the loss, the
// logits, A's whole gradient and its rows of E's.
TEST(TensorParallelOps, VocabularySplitMatchesOneProcess) {
  const int64_t V = 10, D = 4, M = 6, v = V / kRanks;
  std::mt19937 rng(5);
  const std::vector<float> e = randn(V * D, rng), a = randn(D * D, rng), r = randn(M * V, rng);
  const Tensor ids = Tensor::from_i32({3, 7, 0, 9, 5, 4}, {M}),
               targets = Tensor::from_i32({7, -1, 9, 1, 4, 5}, {M});
  struct Out {
    float loss;
    std::vector<float> de, da, logits, dle, dla;
  };
  ThreadGroup group;
  // With rank t >= 0, E is that process's rows, split over the group.
  auto run_head = [&](int t) {
    Out o;
    Tensor E = t < 0 ? param(e, {V, D})
                     : param(std::vector<float>(e.begin() + t * v * D, e.begin() + (t + 1) * v * D),
                             {v, D}),
           A = param(a, {D, D});
    const SplitMark rows{Split::Out, {sum_threads, &group}, {gather_threads, &group}, t, kRanks};
    const Weight Ew(E, t >= 0 ? &rows : nullptr);
    {
      Tape tape;
      Tensor loss = cross_entropy_head(linear(embedding(Ew, ids, DType::F32), A), Ew, targets, 3);
      tape.backward(loss);
      o.loss = loss.item();
      o.de = E.grad().to_vector();
      o.da = A.grad().to_vector();
    }
    E.zero_grad();
    A.zero_grad();
    Tape tape;
    Tensor z = linear_whole(linear(embedding(Ew, ids, DType::F32), A), Ew);
    tape.backward(z, Tensor::from_f32(r, z.shape()));
    o.logits = z.to_vector();
    o.dle = E.grad().to_vector();
    o.dla = A.grad().to_vector();
    return o;
  };
  const Out one = run_head(-1);
  Out part[kRanks];
  run_ranks([&](int t) { part[t] = run_head(t); });

  for (int t = 0; t < kRanks; ++t) {
    EXPECT_NEAR(part[t].loss, one.loss, 1e-5 * std::abs(one.loss));
    auto rows = [&](const std::vector<float>& m) {
      return std::vector<float>(m.begin() + t * v * D, m.begin() + (t + 1) * v * D);
    };
    expect_close(part[t].de, rows(one.de), "dE (loss)");
    expect_close(part[t].da, one.da, "dA (loss)");
    expect_close(part[t].logits, one.logits, "logits");
    expect_close(part[t].dle, rows(one.dle), "dE (logits)");
    expect_close(part[t].dla, one.dla, "dA (logits)");
  }
}

// An MLP block as a mesh cuts it: gate and up split by rows read one input, down by columns. In
// the backward the two parts of the input's gradient are summed once over the group (Megatron's f
// operator): one all-reduce in the forward (down's outputs) and one in the backward, whether the
// input is a norm's output (Qwen3, Llama) or the residual stream itself, whose gradient then also
// holds the residual's whole part (OLMo 2's q, k and v read x directly).
thread_local int t_sums = 0;
void count_sums(void* group, float* data, int64_t n) {
  ++t_sums;
  sum_threads(group, data, n);
}

TEST(TensorParallelOps, ProjectionsOfOneInputSumTheirGradientOnce) {
  const int64_t M = 5, D = 8, F = 12, f = F / kRanks;
  std::mt19937 rng(5);
  const std::vector<float> x = randn(M * D, rng), nw = randn(D, rng), g = randn(F * D, rng),
                           u = randn(F * D, rng), dn = randn(D * F, rng), r = randn(M * D, rng);
  for (bool normed : {true, false}) {
    struct Out {
      std::vector<float> y, dx, dg, dn;
      int sums = 0;
    };
    auto block = [&](int t, const GroupSum* over) {
      const int64_t w = over ? f : F, j0 = over ? t * f : 0;
      Tensor X = param(x, {M, D}), Nw = param(nw, {D}), G = param(row_block(g, D, j0, w), {w, D}),
             U = param(row_block(u, D, j0, w), {w, D}), Dn = param(columns(dn, F, j0, w), {D, w});
      const SplitMark out{Split::Out, over ? *over : GroupSum{}},
          in{Split::In, over ? *over : GroupSum{}};
      t_sums = 0;
      Tape tape;
      Tensor h = normed ? rmsnorm(X, Nw, 1e-6f) : X;
      Tensor y = add(X, linear(swiglu(linear(h, {G, over ? &out : nullptr}),
                                      linear(h, {U, over ? &out : nullptr})),
                               {Dn, over ? &in : nullptr}));
      tape.backward(y, Tensor::from_f32(r, y.shape()));
      return Out{y.to_vector(), X.grad().to_vector(), G.grad().to_vector(), Dn.grad().to_vector(),
                 t_sums};
    };
    const Out one = block(0, nullptr);
    ThreadGroup group;
    const GroupSum over{count_sums, &group};
    Out part[kRanks];
    run_ranks([&](int t) { part[t] = block(t, &over); });
    for (int t = 0; t < kRanks; ++t) {
      SCOPED_TRACE(normed ? "input normed" : "input is the residual stream");
      expect_close(part[t].y, one.y, "y");
      expect_close(part[t].dx, one.dx, "dx");
      expect_close(part[t].dg, row_block(one.dg, D, t * f, f), "dG");
      expect_close(part[t].dn, columns(one.dn, F, t * f, f), "dDown");
      EXPECT_EQ(part[t].sums, 2);
    }
  }
}

}  // namespace
}  // namespace purelm::testing
