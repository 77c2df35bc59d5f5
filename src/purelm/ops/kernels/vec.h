// Vector primitives under the ops. Each is compiled for AVX-512, AVX2 and baseline x86-64 and
// chosen at run time by the CPU's features (GCC function multi-versioning); all variants do the
// same float operations in the same order, so they give identical results.
#pragma once

#include <cstdint>

#include "purelm/core/dtype.h"

namespace purelm::kernels {

float dot(const float* a, const float* b, int64_t n);
float dot(const float* a, const bf16* b, int64_t n);  // b widened as it is read
// y[j] = dot(a, b + j * ldb, n) for j < m, the same sums as dot(); four rows of b at a time, so
// that their chains of multiply-adds overlap (decode's scores against each key).
void dots(const float* a, const float* b, int64_t ldb, int64_t m, int64_t n, float* y);
void dots(const float* a, const bf16* b, int64_t ldb, int64_t m, int64_t n, float* y);
void axpy(float a, const float* x, float* y, int64_t n);        // y += a * x
void add(const float* a, const float* b, float* y, int64_t n);  // y = a + b (y may be a or b)

// Conversions of runs, exactly as to_f32 / to_bf16 of dtype.h (round to nearest even).
void widen(const bf16* src, float* dst, int64_t n);
void narrow(const float* src, bf16* dst, int64_t n);
// dst[i] = round_bf16(src[i]): float32 values at bf16 precision (dst may be src).
void round_to_bf16(const float* src, float* dst, int64_t n);

// Two bf16 runs side by side in 32-bit lanes: dst[i] holds lo[i] in its lower half and hi[i] in
// its upper (0 when hi is null), the pairs that vdpbf16ps multiplies.
void interleave(const bf16* lo, const bf16* hi, uint32_t* dst, int64_t n);

// The largest of x[0, n) (n > 0, no NaN), from sixteen partial maxima.
float max_of(const float* x, int64_t n);

// The sum of x[i]^2 in double precision, from eight interleaved partial sums.
double sum_squares(const float* x, int64_t n);
// The sum of a[i] b[i] c[i] in double precision, from eight interleaved partial sums.
double sum_products(const float* a, const float* b, const float* c, int64_t n);

// RMSNorm of one row: y = x s w (y may be x); and its backward from dy, given c = the row's
// sum_products(dy, w, x) s^3 / n: dw += dy x s, and dx += dy w s - x c unless dx is null.
void scale_mul(const float* x, float s, const float* w, float* y, int64_t n);
void rmsnorm_backward(const float* dy, const float* x, const float* w, float s, float c, float* dw,
                      float* dx, int64_t n);

// RoPE of one head v of 2 half: each pair (a, b) = (v[i], v[i + half]) turns by the angle whose
// cosine and sine are c[i], s[i] to (a c - b s, b c + a s); by minus that angle if inverse.
void rotate_halves(float* v, const float* c, const float* s, int64_t half, bool inverse);

// One AdamW update of n parameters w from their gradient g and moments m, v (torch semantics):
// w = w decay - step m / (sqrt(v) inv_sqrt_bc2 + eps) after the moments take in g.
void adamw(float* w, float* m, float* v, const float* g, int64_t n, float decay, float b1, float b2,
           float step, float inv_sqrt_bc2, float eps);

// SwiGLU, y = silu(g) u with silu(g) = g sigmoid(g), and its backward: dg and du from dy.
void swiglu(const float* g, const float* u, float* y, int64_t n);
void swiglu_backward(const float* g, const float* u, const float* dy, float* dg, float* du,
                     int64_t n);

// z[i] = exp(z[i] - shift) * scale, returning the sum of the exp(z[i] - shift). The exponential is
// a branch-free polynomial (relative error below 2e-7, i.e. about 2 ulp) that vectorises, where a
// call to libm's expf per element would not; inputs below -87 give 0, above 88 give exp(88).
float exp_shifted(float* z, int64_t n, float shift, float scale = 1.0f);

// Dropout by hash: w[j] becomes 0 where murmur3's 32-bit finaliser of base + (j0 + j) * golden
// ratio falls below `threshold`, else w[j] * keep. A pure function of its arguments, so a backward
// pass recomputes the mask instead of storing it.
void hash_dropout(float* w, int64_t n, uint32_t base, int64_t j0, uint32_t threshold, float keep);

}  // namespace purelm::kernels
