#include "purelm/ops/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "purelm/core/thread_pool.h"
#include "purelm/ops/autograd.h"
#include "purelm/ops/kernels/vec.h"
#include "purelm/ops/rows.h"

namespace purelm {

namespace {

struct Dims {
  int64_t B, T, S, N, K, H;
  int64_t G() const { return N / K; }
  int64_t q_at(int64_t b, int64_t t, int64_t n) const { return ((b * T + t) * N + n) * H; }
  int64_t kv_at(int64_t b, int64_t s, int64_t kh) const { return ((b * S + s) * K + kh) * H; }
};

constexpr int64_t kKeyBlock = 64;

// One query row against keys [0, len): online softmax over blocks of keys. Writes the output row
// and returns the log-sum-exp of the scaled scores.
float attend_row(const float* q, const float* k, const float* v, int64_t len, int64_t stride,
                 int64_t H, float scale, float* out) {
  float scores[kKeyBlock];
  float m = -std::numeric_limits<float>::infinity(), l = 0;
  std::fill(out, out + H, 0.0f);
  for (int64_t j0 = 0; j0 < len; j0 += kKeyBlock) {
    int64_t nb = std::min(kKeyBlock, len - j0);
    float bm = m;
    for (int64_t j = 0; j < nb; ++j) {
      scores[j] = kernels::dot(q, k + (j0 + j) * stride, H) * scale;
      bm = std::max(bm, scores[j]);
    }
    float correction = std::exp(m - bm);
    l *= correction;
    for (int64_t h = 0; h < H; ++h) out[h] *= correction;
    l += kernels::exp_shifted(scores, nb, bm);
    for (int64_t j = 0; j < nb; ++j) kernels::axpy(scores[j], v + (j0 + j) * stride, out, H);
    m = bm;
  }
  for (int64_t h = 0; h < H; ++h) out[h] /= l;
  return m + std::log(l);
}

}  // namespace

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v,
                 const std::vector<int64_t>& pos0) {
  check_float(q, "attention", "q");
  check_float(k, "attention", "k");
  check_float(v, "attention", "v");
  check(q.rank() == 4 && k.rank() == 4 && k.shape() == v.shape() && q.dim(0) == k.dim(0) &&
            q.dim(3) == k.dim(3) && k.dim(2) > 0 && q.dim(2) % k.dim(2) == 0,
        "attention: shapes q ", to_string(q.shape()), ", k ", to_string(k.shape()), ", v ",
        to_string(v.shape()), " are not [B, T, N, H], [B, S, K, H] with N a multiple of K");
  Dims d{q.dim(0), q.dim(1), k.dim(1), q.dim(2), k.dim(2), q.dim(3)};
  check(int64_t(pos0.size()) == d.B, "attention: positions for ", std::to_string(pos0.size()),
        " rows, batch is ", std::to_string(d.B));
  for (int64_t b = 0; b < d.B; ++b)
    check(pos0[b] >= 0 && pos0[b] + d.T <= d.S, "attention: row ", std::to_string(b),
          " reaches position ", std::to_string(pos0[b] + d.T), " beyond the ", std::to_string(d.S),
          " keys");
  float scale = 1.0f / std::sqrt(float(d.H));
  F32View qf(q), kf(k), vf(v);
  std::vector<float> out(static_cast<size_t>(q.numel()));
  auto lse = std::make_shared<std::vector<float>>(static_cast<size_t>(d.B * d.T * d.N));
  parallel_for(d.B * d.T * d.N, 8, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      int64_t n = i % d.N, t = (i / d.N) % d.T, b = i / (d.N * d.T);
      int64_t kh = n / d.G();
      (*lse)[i] = attend_row(qf.data() + d.q_at(b, t, n), kf.data() + d.kv_at(b, 0, kh),
                             vf.data() + d.kv_at(b, 0, kh), pos0[b] + t + 1, d.K * d.H, d.H, scale,
                             out.data() + d.q_at(b, t, n));
    }
  });
  Tensor y = Tensor::empty(q.shape(), q.dtype());
  store_f32(y, 0, y.numel(), out.data());
  if (track(y, {&q, &k, &v})) {
    Tape::active()->record([q, k, v, y, pos0, d, scale, lse, out = std::move(out)]() mutable {
      if (!y.has_grad()) return;
      const float* dO = y.grad().data<float>();
      F32View qf(q), kf(k), vf(v);
      std::vector<float> dq(static_cast<size_t>(q.numel()), 0.0f),
          dk(static_cast<size_t>(k.numel()), 0.0f), dv(static_cast<size_t>(v.numel()), 0.0f);
      // Each task owns one kv head of one row, so dk and dv are written without races.
      parallel_for(d.B * d.K, 1, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          int64_t b = i / d.K, kh = i % d.K;
          for (int64_t n = kh * d.G(); n < (kh + 1) * d.G(); ++n) {
            for (int64_t t = 0; t < d.T; ++t) {
              int64_t qo = d.q_at(b, t, n);
              float D = kernels::dot(dO + qo, out.data() + qo, d.H);
              float L = (*lse)[(b * d.T + t) * d.N + n];
              const int64_t len = pos0[b] + t + 1;
              float p[kKeyBlock];  // the attention weights of a block of keys, recomputed
              for (int64_t j0 = 0; j0 < len; j0 += kKeyBlock) {
                int64_t nb = std::min(kKeyBlock, len - j0);
                for (int64_t j = 0; j < nb; ++j) {
                  p[j] =
                      kernels::dot(qf.data() + qo, kf.data() + d.kv_at(b, j0 + j, kh), d.H) * scale;
                }
                kernels::exp_shifted(p, nb, L);
                for (int64_t j = 0; j < nb; ++j) {
                  int64_t ko = d.kv_at(b, j0 + j, kh);
                  kernels::axpy(p[j], dO + qo, dv.data() + ko, d.H);
                  float ds = p[j] * (kernels::dot(dO + qo, vf.data() + ko, d.H) - D) * scale;
                  kernels::axpy(ds, kf.data() + ko, dq.data() + qo, d.H);
                  kernels::axpy(ds, qf.data() + qo, dk.data() + ko, d.H);
                }
              }
            }
          }
        }
      });
      accumulate_grad(q, dq.data());
      accumulate_grad(k, dk.data());
      accumulate_grad(v, dv.data());
      y.zero_grad();
    });
  }
  return y;
}

}  // namespace purelm
