#include "purelm/ops/kernels/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <vector>

#include "purelm/core/thread_pool.h"
#include "purelm/ops/kernels/backend.h"
#include "purelm/ops/kernels/isa.h"

namespace purelm::kernels {

namespace {

// Below this many multiply-adds a product stays on the calling thread: waking a worker costs more.
constexpr int64_t kSerialWork = int64_t(1) << 18;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A growable scratch buffer aligned to cache lines, so packed panels allow aligned vector loads.
class Scratch {
 public:
  float* get(int64_t n) {
    if (n > size_) {
      size_t bytes = size_t(ceil_div(n * 4, 64) * 64);
      buf_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
      size_ = n;
    }
    return buf_.get();
  }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> buf_;
  int64_t size_ = 0;
};

const Backend& backend() {
#if defined(__x86_64__)
  if (has(kAvx512)) return avx512_backend();
  if (has(kAvx2)) return avx2_backend();
#elif defined(__aarch64__)
  if (has(kNeon)) return neon_backend();
#endif
  return portable_backend();
}

// Whether products of bf16 pairs (vdpbf16ps) run instead of float32 ones.
bool bf16_pairs() {
#if defined(__x86_64__)
  return has(kAvx512Bf16);
#else
  return false;
#endif
}

const Backend& pairs_backend() {
#if defined(__x86_64__)
  return avx512_bf16_backend();
#else
  return portable_backend();
#endif
}

// Panels [p0, p1) of an operand block: rows from i0 (n of them in all) over k in [k0, k0 + kc),
// `width` wide, each `steps` packed steps long.
void pack_panels(const Backend& be, const Mat& m, int64_t i0, int64_t n, int64_t k0, int64_t kc,
                 int width, int64_t steps, int64_t p0, int64_t p1, float* dst) {
  if (p0 < p1)
    be.pack(m, i0 + p0 * width, int(std::min(n - p0 * width, (p1 - p0) * width)), k0, kc, width,
            dst + p0 * width * steps);
}

// One block of C over one block of K: every A panel of rows [i0, i0 + mc) against every B panel of
// columns [j0, j0 + nc). The microkernel keeps one B panel in L1 while it walks the A panels, which
// stay in L2.
void tiles(const Backend& be, int64_t mc, int64_t nc, int64_t steps, const float* ap,
           const float* bp, float* c, int64_t ldc, bool acc) {
  for (int64_t q = 0; q * be.nr < nc; ++q)
    for (int64_t p = 0; p * be.mr < mc; ++p)
      be.kernel(steps, ap + p * be.mr * steps, bp + q * be.nr * steps,
                c + p * be.mr * ldc + q * be.nr, ldc, int(std::min<int64_t>(be.mr, mc - p * be.mr)),
                int(std::min<int64_t>(be.nr, nc - q * be.nr)), acc);
}

// The threads split C into whole register tiles along its longer side. The operand they all read
// (B when they split the rows, A when they split the columns) is packed once per cache block, its
// panels shared out among them, before each packs its own part of the other operand: when each
// packed all of it, that pack took a tenth of a prefill.
struct Split {
  const Backend& be;
  int64_t M, N, K;
  const Mat &a, &b;
  float* c;
  int64_t ldc;
  bool accumulate;
  int64_t grain;  // of the tiles; the whole count keeps a small product on one thread

  // The blocks of K, as equal as whole packed steps allow: each block loads and stores every tile
  // of C, and a short last block (576 = 256 + 256 + 64) pays that for few multiply-adds.
  int64_t kblock() const {
    const int64_t blocks = ceil_div(K, be.kc);
    return ceil_div(ceil_div(K, blocks), be.kstep) * be.kstep;
  }

  // The shared block is the calling thread's; each thread packs its own part into a scratch
  // declared where it runs, so that the thread constructs it and frees it when it exits.
  void rows() const {
    thread_local Scratch shared;
    for (int64_t jc = 0; jc < N; jc += be.nc) {
      const int64_t nc = std::min(be.nc, N - jc), bpanels = ceil_div(nc, be.nr);
      for (int64_t pc = 0; pc < K; pc += kblock()) {
        const int64_t kc = std::min(kblock(), K - pc), steps = ceil_div(kc, be.kstep);
        float* bp = shared.get(bpanels * be.nr * steps);
        parallel_for(bpanels, grain, [&](int64_t q0, int64_t q1) {
          pack_panels(be, b, jc, nc, pc, kc, be.nr, steps, q0, q1, bp);
        });
        parallel_for(ceil_div(M, be.mr), grain, [&](int64_t t0, int64_t t1) {
          thread_local Scratch apack;
          for (int64_t ic = t0 * be.mr; ic < std::min(t1 * be.mr, M); ic += be.mc) {
            const int64_t mc = std::min({be.mc, M - ic, t1 * be.mr - ic});
            float* ap = apack.get(ceil_div(mc, be.mr) * be.mr * steps);
            pack_panels(be, a, ic, mc, pc, kc, be.mr, steps, 0, ceil_div(mc, be.mr), ap);
            tiles(be, mc, nc, steps, ap, bp, c + ic * ldc + jc, ldc, accumulate || pc > 0);
          }
        });
      }
    }
  }

  void columns() const {
    thread_local Scratch shared;
    const int64_t mg = 16 * be.mc;  // rows of A packed at once: a bound on the shared block
    for (int64_t pc = 0; pc < K; pc += kblock()) {
      const int64_t kc = std::min(kblock(), K - pc), steps = ceil_div(kc, be.kstep);
      for (int64_t ig = 0; ig < M; ig += mg) {
        const int64_t rows = std::min(mg, M - ig), apanels = ceil_div(rows, be.mr);
        float* ap = shared.get(apanels * be.mr * steps);
        parallel_for(apanels, grain, [&](int64_t p0, int64_t p1) {
          pack_panels(be, a, ig, rows, pc, kc, be.mr, steps, p0, p1, ap);
        });
        // With all of A in one block of rows each panel of B is used once: packing a few panels
        // at a time keeps them in L1/L2 until the tiles read them (batched decode, M 17-64).
        const int64_t block = rows <= be.mc ? 4 * be.nr : be.nc;
        parallel_for(ceil_div(N, be.nr), grain, [&](int64_t t0, int64_t t1) {
          thread_local Scratch bpack;
          for (int64_t jc = t0 * be.nr; jc < std::min(t1 * be.nr, N); jc += block) {
            const int64_t nc = std::min({block, N - jc, t1 * be.nr - jc});
            float* bp = bpack.get(ceil_div(nc, be.nr) * be.nr * steps);
            pack_panels(be, b, jc, nc, pc, kc, be.nr, steps, 0, ceil_div(nc, be.nr), bp);
            for (int64_t ic = 0; ic < rows; ic += be.mc)
              tiles(be, std::min(be.mc, rows - ic), nc, steps, ap + ic * steps, bp,
                    c + (ig + ic) * ldc + jc, ldc, accumulate || pc > 0);
          }
        });
      }
    }
  }
};

// A few rows of A: stream B once instead of packing it (memory-bound decode).
void few_rows(const Backend& be, int64_t M, int64_t N, int64_t K, const Mat& a, const Mat& b,
              float* c, int64_t ldc, bool accumulate) {
#if defined(__x86_64__)
  if (a.bf16 && b.bf16 && has(kAvx512Bf16)) {
    const bf16* ap = static_cast<const bf16*>(a.data);
    return stream_rows(M, N, K, K * 2, [&](int64_t i, int m, int64_t n0, int64_t n1) {
      gemv_pairs_avx512(m, n0, n1, K, ap + i * a.rs, a.rs, b, c + i * ldc, ldc, accumulate);
    });
  }
#endif
  std::vector<float> widened;
  const float* ap = static_cast<const float*>(a.data);
  int64_t lda = a.rs;
  if (a.bf16) {
    widened.resize(size_t(M * K));
    for (int64_t i = 0; i < M; ++i)
      for (int64_t k = 0; k < K; ++k)
        widened[i * K + k] = to_f32(static_cast<const bf16*>(a.data)[i * a.rs + k]);
    ap = widened.data();
    lda = K;
  }
  stream_rows(M, N, K, K * (b.bf16 ? 2 : 4), [&](int64_t i, int m, int64_t n0, int64_t n1) {
    be.gemv(m, n0, n1, K, ap + i * lda, lda, b, c + i * ldc, ldc, accumulate);
  });
}

}  // namespace

const float* split_even_odd(int M, int64_t K, const float* a, int64_t lda, int64_t half) {
  thread_local std::vector<float> split;
  split.assign(size_t(2 * M * half), 0.0f);
  float *even = split.data(), *odd = even + M * half;
  for (int i = 0; i < M; ++i) {
    const float* ai = a + i * lda;
    float *ei = even + i * half, *oi = odd + i * half;
    for (int64_t k = 0; k < K / 2; ++k) {
      ei[k] = ai[2 * k];
      oi[k] = ai[2 * k + 1];
    }
    if (K % 2) ei[K / 2] = ai[K - 1];
  }
  return even;
}

void stream_rows(int64_t M, int64_t N, int64_t K, int64_t row_bytes, const StreamKernel& kernel) {
  const int64_t block = M <= kGemvRows ? N : std::max<int64_t>(8, (256 << 10) / row_bytes);
  parallel_for(N, std::max<int64_t>(16, kSerialWork / std::max<int64_t>(M * K, 1)),
               [&](int64_t n0, int64_t n1) {
                 for (int64_t j0 = n0; j0 < n1; j0 += block)
                   for (int64_t i = 0; i < M; i += kGemvRows)
                     kernel(i, int(std::min<int64_t>(kGemvRows, M - i)), j0,
                            std::min(j0 + block, n1));
               });
}

void gemm(int64_t M, int64_t N, int64_t K, Mat a, Mat b, float* c, int64_t ldc, bool accumulate,
          bool bf16_products) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i) std::fill(c + i * ldc, c + i * ldc + N, 0.0f);
    return;
  }
  const Backend& be = backend();
  if (M <= kStreamRows && a.cs == 1 && b.cs == 1)
    return few_rows(be, M, N, K, a, b, c, ldc, accumulate);
  bool pairs = bf16_pairs() && (bf16_products || (a.bf16 && b.bf16));
  const Backend& bk = pairs ? pairs_backend() : be;
  const Split split{bk, M, N, K, a, b, c, ldc, accumulate, M * N * K < kSerialWork ? M * N : 1};
  if (ceil_div(N, bk.nr) >= ceil_div(M, bk.mr))
    split.columns();
  else
    split.rows();
}

}  // namespace purelm::kernels
