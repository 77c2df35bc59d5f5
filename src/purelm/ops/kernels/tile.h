// The parts of attention's kernels (attention_kernel.h) that differ by instruction set. Most
// kernels multiply float32 operands (attention_rows.cpp prepares them from float32 or bf16 memory,
// rounded or not) with an ISA's small products, C[M, N] (+)= A[M, K] B[K, N] with B row-major and
// contiguous along N, A at any strides. No packing of A: at tile sizes (64 x 64 x 128) gemm's
// packing costs as much as the arithmetic, while here each element of A is broadcast straight from
// memory against rows of B.
#pragma once

#include <cstdint>

#include "purelm/core/dtype.h"
#include "purelm/ops/kernels/attention_kernel.h"

namespace purelm::kernels {

// Below this many queries (decode) a tile's scores on float32 are dot products of each query with
// the keys, and a forward tile on pairs falls back to float32: a full tile's products would fill
// few vector lanes.
constexpr int64_t kFewQueries = 8;

struct TileProducts {
  // C[i, j] = (accumulate ? C[i, j] : 0) + sum_k A(i, k) B[k * ldb + j], with A(i, k) =
  // a[i * ars + k * acs], for i < M, j < N, k < K. C must not overlap A or B.
  void (*gemm)(int64_t M, int64_t N, int64_t K, const float* a, int64_t ars, int64_t acs,
               const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate);
  // The same with B in bf16 memory (a bf16 KV cache), widened as it is read: the same sums.
  void (*gemm_bf16)(int64_t M, int64_t N, int64_t K, const float* a, int64_t ars, int64_t acs,
                    const bf16* b, int64_t ldb, float* c, int64_t ldc, bool accumulate);
  // dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols (no overlap).
  void (*transpose)(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst,
                    int64_t ldd);
  // A few queries' scores against keys in bf16 memory (a bf16 KV cache): s[r * n + j] = q_r . k_j
  // for r < rows, j < n, q rows ldq apart and keys ldk apart, each summed in one order whatever
  // rows and n are.
  void (*key_dots)(const float* q, int64_t ldq, int64_t rows, const bf16* k, int64_t ldk, int64_t n,
                   int64_t H, float* s);
};

const TileProducts& portable_tiles();
const TileProducts& avx2_tiles();
const TileProducts& avx512_tiles();

// The calling thread's tile on float32 operands with the products of `p`.
AttentionTile& rows_tile(const TileProducts& p, int64_t H, bool round);

// TileProducts::gemm over pairs of bf16 (vdpbf16ps: exact products, float32 sums), for CPUs
// with AVX512-BF16. K2 pairs of 32 bits: pair p of row i of A, at a + (i * ars + p * acs) * 4
// bytes, holds A(i, 2p) in its lower half and A(i, 2p + 1) in its upper; pair (p, j) of B, at
// b + (p * ldb + j) * 4 bytes, holds B[2p, j] and B[2p + 1, j].
void tile_gemm_pairs(int64_t M, int64_t N, int64_t K2, const void* a, int64_t ars, int64_t acs,
                     const void* b, int64_t ldb, float* c, int64_t ldc, bool accumulate);

// The entries of the table (AttentionKernel::tile).
AttentionTile& portable_attention(int64_t H, bool round);
AttentionTile& avx2_attention(int64_t H, bool round);
AttentionTile& avx512_attention(int64_t H, bool round);
AttentionTile& avx512_bf16_attention(int64_t H, bool round);

}  // namespace purelm::kernels
