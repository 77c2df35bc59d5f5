#include "purelm/ops/kernels/quant_gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "purelm/core/quant.h"
#include "purelm/core/thread_pool.h"
#include "purelm/ops/kernels/backend.h"
#include "purelm/ops/kernels/gemm.h"
#include "purelm/ops/kernels/isa.h"

namespace purelm::kernels {

void qgemv_avx512(int M, int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda,
                  const QMat& w, float* c, int64_t ldc);

namespace {

// Below this many multiply-adds a product stays on the calling thread (as in gemm.cpp).
constexpr int64_t kSerialWork = int64_t(1) << 18;
// The integer kernels stream W for up to this many rows of A (batched decode): they read each
// L2-sized block of W once per group of kGemvRows rows, which stays cheaper than decoding W into
// float32 panels for the GEMM while A's codes, scales and offsets (about 3 bytes per element)
// stay in L2 too. On AVX2 (Zen 3) B = 32 decode steps take half the time they do on the GEMM.
constexpr int64_t kIntegerStreamRows = 64;
// Prefill decodes W in panels of about this many float32 values (4 MB), so the panel stays in L2/L3
// while gemm() packs it.
constexpr int64_t kPanelValues = int64_t(1) << 20;

// Whether few_rows multiplies integer codes: with AVX512-VNNI, and with AVX2 unless AVX-512
// without VNNI decodes W to float32 instead (qgemv_avx512).
// On aarch64 always (sdot, or vmull and vpadal without it).
bool integer_products() {
#if defined(__x86_64__)
  return has(kAvx512Vnni) || (has(kAvx2) && !has(kAvx512));
#elif defined(__aarch64__)
  return has(kNeon);
#else
  return false;
#endif
}

const uint8_t* row(const QMat& w, int64_t j) {
  return static_cast<const uint8_t*>(w.data) + j * w.row_bytes;
}

// Decodes each row of W into a buffer, then eight partial sums per row of A (which the compiler
// may keep in one vector register).
void qgemv_portable(int M, int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda,
                    const QMat& w, float* c, int64_t ldc) {
  std::vector<float> wj(static_cast<size_t>(quant::blocks(K) * quant::kBlock), 0.0f);
  const int64_t padded = int64_t(wj.size());
  for (int64_t j = n0; j < n1; ++j) {
    quant::dequantize_row(w.type, row(w, j), K, wj.data());
    for (int i = 0; i < M; ++i) {
      float part[8] = {};
      for (int64_t k = 0; k < padded; k += 8)
        for (int l = 0; l < 8; ++l) part[l] += a[i * lda + k + l] * wj[k + l];
      float s = 0;
      for (float p : part) s += p;
      c[i * ldc + j] = s;
    }
  }
}

// A's rows rounded as quant::quantize_activations rounds them: M rows of blocks(K) blocks of codes
// q and scales d.
struct Rounded {
  int64_t nb;
  std::vector<int8_t> q;
  std::vector<float> d;

  Rounded(int64_t M, int64_t K, const float* a, int64_t lda)
      : nb(quant::blocks(K)), q(size_t(M * nb * quant::kBlock)), d(size_t(M * nb)) {
    parallel_for(M, std::max<int64_t>(1, kSerialWork / 64 / std::max<int64_t>(K, 1)),
                 [&](int64_t i0, int64_t i1) {
                   for (int64_t i = i0; i < i1; ++i)
                     quant::quantize_activations(a + i * lda, K, q.data() + i * nb * quant::kBlock,
                                                 d.data() + i * nb);
                 });
  }

  // The values d * q, row stride nb * 32 (zero-padded).
  std::vector<float> values() const {
    std::vector<float> v(q.size());
    parallel_for(int64_t(d.size()), std::max<int64_t>(1, kSerialWork / 64 / quant::kBlock),
                 [&](int64_t b0, int64_t b1) {
                   for (int64_t b = b0; b < b1; ++b)
                     for (int64_t e = b * quant::kBlock; e < (b + 1) * quant::kBlock; ++e)
                       v[size_t(e)] = d[size_t(b)] * float(q[size_t(e)]);
                 });
    return v;
  }
};

void few_rows(int64_t M, int64_t N, int64_t K, const float* a, int64_t lda, const QMat& w, float* c,
              int64_t ldc) {
  const Rounded r(M, K, a, lda);
#if defined(__x86_64__)
  if (has(kAvx512Vnni)) {
    const QActs acts(w.type, 16, M, K, r.q.data(), r.d.data());
    return stream_rows(M, N, K, w.row_bytes, [&](int64_t i, int m, int64_t n0, int64_t n1) {
      qgemv_vnni(m, n0, n1, acts, i, w, c + i * ldc, ldc);
    });
  }
  if (has(kAvx2) && !has(kAvx512)) {
    const QActs acts(w.type, 8, M, K, r.q.data(), r.d.data());
    const auto kernel = has(kAvxVnni) ? qgemv_avxvnni : qgemv_avx2;
    return stream_rows(M, N, K, w.row_bytes, [&](int64_t i, int m, int64_t n0, int64_t n1) {
      kernel(m, n0, n1, acts, i, w, c + i * ldc, ldc);
    });
  }
  const QGemv decode = has(kAvx512) ? qgemv_avx512 : qgemv_portable;
#elif defined(__aarch64__)
  if (has(kNeon)) {
    const auto kernel = has(kDotProd) ? qgemv_dotprod : qgemv_neon;
    return stream_rows(M, N, K, w.row_bytes, [&](int64_t i, int m, int64_t n0, int64_t n1) {
      kernel(m, n0, n1, r.nb, r.q.data() + i * r.nb * quant::kBlock, r.d.data() + i * r.nb, w,
             c + i * ldc, ldc);
    });
  }
  const QGemv decode = qgemv_portable;
#else
  const QGemv decode = qgemv_portable;
#endif
  const std::vector<float> ap = r.values();
  const int64_t padded = r.nb * quant::kBlock;
  stream_rows(M, N, K, w.row_bytes, [&](int64_t i, int m, int64_t n0, int64_t n1) {
    decode(m, n0, n1, K, ap.data() + i * padded, padded, w, c + i * ldc, ldc);
  });
}

}  // namespace

QActs::QActs(DType t, int lanes, int64_t M, int64_t K, const int8_t* q, const float* d)
    : steps(0),
      lanes_(lanes),
      whole_(t == DType::Q4 ? lanes / 4 : lanes / 8),
      nb_(quant::blocks(K)) {
  const int64_t full = nb_ / whole_;
  steps = full + (nb_ - full * whole_);
  codes_.resize(size_t(M * nb_ * quant::kBlock));
  scales_.assign(size_t(M * steps * lanes), 0.0f);
  offsets_.assign(size_t(M * steps * lanes), 0);
  const int32_t bias = t == DType::Q4 ? -8 : -128;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t st = 0; st < steps; ++st) {
      const int64_t b0 = first_block(st), n = step_size(st);
      const bool split = t == DType::Q4 && n == whole_;            // lo and hi vectors of nibbles
      const int64_t per_block = n == whole_ ? lanes / whole_ : 8;  // a lone block fills 8 lanes
      int8_t* out = codes_.data() + code_at(i, st);
      for (int64_t k = 0; k < n; ++k) {
        const int8_t* in = q + (i * nb_ + b0 + k) * quant::kBlock;
        if (split) {
          std::memcpy(out + k * 16, in, 16);
          std::memcpy(out + whole_ * 16 + k * 16, in + 16, 16);
        } else {
          std::memcpy(out + k * quant::kBlock, in, quant::kBlock);
        }
        int32_t sum = 0;
        for (int e = 0; e < quant::kBlock; ++e) sum += in[e];
        std::fill_n(scales_.data() + lane_at(i, st) + k * per_block, per_block,
                    d[i * nb_ + b0 + k]);
        offsets_[size_t(lane_at(i, st) + k * per_block)] = bias * sum;
      }
    }
}

void gemm_quant(int64_t M, int64_t N, int64_t K, const float* a, int64_t lda, const QMat& w,
                float* c, int64_t ldc, bool bf16_products) {
  if (M <= 0 || N <= 0) return;
  if (M <= (integer_products() ? kIntegerStreamRows : kStreamRows))
    return few_rows(M, N, K, a, lda, w, c, ldc);
  const Rounded r(M, K, a, lda);
  const std::vector<float> ap = r.values();
  const int64_t panel = std::min(N, std::max<int64_t>(64, kPanelValues / std::max<int64_t>(K, 1)));
  std::vector<float> wf(static_cast<size_t>(panel * K));
  for (int64_t j0 = 0; j0 < N; j0 += panel) {
    const int64_t n = std::min(panel, N - j0);
    parallel_for(n, std::max<int64_t>(1, kSerialWork / std::max<int64_t>(K, 1)),
                 [&](int64_t r0, int64_t r1) {
                   for (int64_t r = r0; r < r1; ++r)
                     quant::dequantize_row(w.type, row(w, j0 + r), K, wf.data() + r * K);
                 });
    gemm(M, n, K, rows(ap.data(), r.nb * quant::kBlock), rows(wf.data(), K), c + j0, ldc, false,
         bf16_products);
  }
}

}  // namespace purelm::kernels
