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

const Backend& backend_for(Isa level) {
  switch (level) {
    case Isa::Portable:
      return portable_backend();
    case Isa::Avx2:
      return avx2_backend();
    default:
      return avx512_backend();
  }
}

// C[i0:i1, j0:j1] on one thread. Each kc x nc block of B is packed once and reused for all rows;
// each mc x kc block of A is packed once per B block; the microkernel keeps one B panel in L1
// while it walks the A panels (which stay in L2).
void blocked(const Backend& be, int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t K,
             const Mat& a, const Mat& b, float* c, int64_t ldc, bool accumulate) {
  thread_local Scratch apack, bpack;
  for (int64_t jc = j0; jc < j1; jc += be.nc) {
    int64_t nc = std::min(be.nc, j1 - jc), bpanels = ceil_div(nc, be.nr);
    for (int64_t pc = 0; pc < K; pc += be.kc) {
      int64_t kc = std::min(be.kc, K - pc), steps = ceil_div(kc, be.kstep);
      float* bp = bpack.get(bpanels * be.nr * steps);
      for (int64_t q = 0; q < bpanels; ++q)
        be.pack(b, jc + q * be.nr, int(std::min<int64_t>(be.nr, nc - q * be.nr)), pc, kc, be.nr,
                bp + q * be.nr * steps);
      bool acc = accumulate || pc > 0;
      for (int64_t ic = i0; ic < i1; ic += be.mc) {
        int64_t mc = std::min(be.mc, i1 - ic), apanels = ceil_div(mc, be.mr);
        float* ap = apack.get(apanels * be.mr * steps);
        for (int64_t p = 0; p < apanels; ++p)
          be.pack(a, ic + p * be.mr, int(std::min<int64_t>(be.mr, mc - p * be.mr)), pc, kc, be.mr,
                  ap + p * be.mr * steps);
        for (int64_t q = 0; q < bpanels; ++q)
          for (int64_t p = 0; p < apanels; ++p)
            be.kernel(steps, ap + p * be.mr * steps, bp + q * be.nr * steps,
                      c + (ic + p * be.mr) * ldc + jc + q * be.nr, ldc,
                      int(std::min<int64_t>(be.mr, mc - p * be.mr)),
                      int(std::min<int64_t>(be.nr, nc - q * be.nr)), acc);
      }
    }
  }
}

// A few rows of A: stream B once instead of packing it (memory-bound decode).
void few_rows(const Backend& be, Isa level, int64_t M, int64_t N, int64_t K, const Mat& a,
              const Mat& b, float* c, int64_t ldc, bool accumulate) {
  if (a.bf16 && b.bf16 && level >= Isa::Avx512Bf16) {
    const bf16* ap = static_cast<const bf16*>(a.data);
    return stream_rows(M, N, K, K * 2, [&](int64_t i, int m, int64_t n0, int64_t n1) {
      gemv_pairs_avx512(m, n0, n1, K, ap + i * a.rs, a.rs, b, c + i * ldc, ldc, accumulate);
    });
  }
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
  Isa level = isa();
  const Backend& be = backend_for(level);
  if (M <= kStreamRows && a.cs == 1 && b.cs == 1)
    return few_rows(be, level, M, N, K, a, b, c, ldc, accumulate);
  bool pairs = level >= Isa::Avx512Bf16 && (bf16_products || (a.bf16 && b.bf16));
  const Backend& bk = pairs ? avx512_bf16_backend() : be;
  // The threads take whole register tiles of the longer side of C.
  bool split_n = ceil_div(N, bk.nr) >= ceil_div(M, bk.mr);
  int64_t tile = split_n ? bk.nr : bk.mr, extent = split_n ? N : M, tiles = ceil_div(extent, tile);
  int64_t grain = M * N * K < kSerialWork ? tiles : 1;
  parallel_for(tiles, grain, [&](int64_t t0, int64_t t1) {
    int64_t lo = t0 * tile, hi = std::min(t1 * tile, extent);
    if (split_n)
      blocked(bk, 0, M, lo, hi, K, a, b, c, ldc, accumulate);
    else
      blocked(bk, lo, hi, 0, N, K, a, b, c, ldc, accumulate);
  });
}

}  // namespace purelm::kernels
