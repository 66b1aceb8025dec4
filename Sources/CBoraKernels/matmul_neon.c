// Row-major products with NEON (arm64), for matrices that are not repacked: F32 ones, rows past the
// last whole group of 16, and every matrix when repacking is off.
//
// Quantized weights: each block is decoded once (bora_load_block, specialized per format) and its
// 32 codes serve up to 8 activation rows; the integer sums are exact and the float arithmetic is the
// portable path's, term for term, so the results are its bits.
//
// Float weights: each output is the same two chains of fused multiply-adds over k (elements 8i..8i+3 in one,
// 8i+4..8i+7 in the other), then a fixed reduction, whether its activation row is multiplied alone
// or with up to three others sharing the weight loads: a row's result does not depend on the batch.
#if defined(__aarch64__)
#include "CBoraKernels.h"
#include "blocks.h"
#include <arm_neon.h>

#define INLINE static inline __attribute__((always_inline))

/// 4 weights of a row from element i, widened exactly to F32 (byte loads: rows need no alignment).
INLINE float32x4_t load_weights(const int type, const uint8_t *row, const int64_t i) {
    switch (type) {
    case BORA_F16: return vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(row + 2 * i)));
    case BORA_BF16: return vreinterpretq_f32_u32(vshll_n_u16(vreinterpret_u16_u8(vld1_u8(row + 2 * i)), 16));
    default: return vreinterpretq_f32_u8(vld1q_u8(row + 4 * i));
    }
}

INLINE float weight_at(const int type, const uint8_t *row, const int64_t i) {
    switch (type) {
    case BORA_F16: return bora_half(bora_u16(row + 2 * i));
    case BORA_BF16: return bora_bf16(bora_u16(row + 2 * i));
    default: { float f; memcpy(&f, row + 4 * i, 4); return f; }
    }
}

/// Row r against M activation rows b0….
INLINE void row_dots(const int type, const int M, const uint8_t *row, const int64_t k, const float *x, const int64_t b0,
                     float *out, const int64_t os, const int64_t r) {
    float32x4_t a[4][2];
    for (int m = 0; m < M; m++) a[m][0] = a[m][1] = vdupq_n_f32(0);
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
        const float32x4_t w0 = load_weights(type, row, i), w1 = load_weights(type, row, i + 4);
        for (int m = 0; m < M; m++) {
            const float *xr = x + (b0 + m) * k + i;
            a[m][0] = vfmaq_f32(a[m][0], w0, vld1q_f32(xr));
            a[m][1] = vfmaq_f32(a[m][1], w1, vld1q_f32(xr + 4));
        }
    }
    for (int m = 0; m < M; m++) {
        float sum = vaddvq_f32(vaddq_f32(a[m][0], a[m][1]));
        for (int64_t e = i; e < k; e++) sum += weight_at(type, row, e) * x[(b0 + m) * k + e];
        out[(b0 + m) * os + r] = sum;
    }
}

INLINE void matmul_type(const int type, const uint8_t *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                        const float *x, int64_t batch, float *out, int64_t os) {
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w + r * row_bytes;
        int64_t b = 0;
        for (; b + 4 <= batch; b += 4) row_dots(type, 4, row, k, x, b, out, os, r);
        switch (batch - b) {
        case 3: row_dots(type, 3, row, k, x, b, out, os, r); break;
        case 2: row_dots(type, 2, row, k, x, b, out, os, r); break;
        case 1: row_dots(type, 1, row, k, x, b, out, os, r); break;
        }
    }
}

// ---- Quantized weights ----

/// Σ_{i<16} w[i]·x[i] for the first and the second 16 of 32 (int16 products, summed pairwise to int32).
INLINE void block_dots(const int8x16_t w0, const int8x16_t w1, const int8_t *x, int32_t *lo, int32_t *hi) {
    const int8x16_t x0 = vld1q_s8(x), x1 = vld1q_s8(x + 16);
    int32x4_t a = vpaddlq_s16(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)));
    a = vpadalq_s16(a, vmull_high_s8(w0, x0));
    int32x4_t b = vpaddlq_s16(vmull_s8(vget_low_s8(w1), vget_low_s8(x1)));
    b = vpadalq_s16(b, vmull_high_s8(w1, x1));
    *lo = vaddvq_s32(a);
    *hi = vaddvq_s32(b);
}

INLINE void quantized_type(const int type, const uint8_t *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                           const int8_t *xq, const float *xd, const float *xs16, int64_t batch, float *out, int64_t os) {
    const int64_t blocks = k / 32;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w + r * row_bytes;
        for (int64_t b0 = 0; b0 < batch; b0 += 8) {
            const int M = batch - b0 < 8 ? (int)(batch - b0) : 8;
            float sum[8] = {0};
            for (int64_t j = 0; j < blocks; j++) {
                int16_t q[32];
                bora_block_scales s;
                bora_load_block(type, row, j, q, &s);
                // Every format's codes fit in int8 (Q8_0's −128…127 included).
                const int8x16_t w0 = vcombine_s8(vmovn_s16(vld1q_s16(q)), vmovn_s16(vld1q_s16(q + 8)));
                const int8x16_t w1 = vcombine_s8(vmovn_s16(vld1q_s16(q + 16)), vmovn_s16(vld1q_s16(q + 24)));
                for (int m = 0; m < M; m++) {
                    const int64_t b = b0 + m;
                    int32_t lo, hi;
                    block_dots(w0, w1, xq + b * k + 32 * j, &lo, &hi);
                    const float *d = xd + b * blocks, *s16 = xs16 + 2 * b * blocks;
                    sum[m] += d[j] * (s.sa * (float)lo + s.sb * (float)hi) + s.ca * s16[2 * j] + s.cb * s16[2 * j + 1];
                }
            }
            for (int m = 0; m < M; m++) out[(b0 + m) * os + r] = sum[m];
        }
    }
}

#define QUANTIZED(NAME, TYPE)                                                                                   \
    static void NAME(const uint8_t *w, size_t rb, int64_t k, int64_t r0, int64_t r1, const int8_t *xq,          \
                     const float *xd, const float *xs16, int64_t batch, float *out, int64_t os) {               \
        quantized_type(TYPE, w, rb, k, r0, r1, xq, xd, xs16, batch, out, os);                                   \
    }
QUANTIZED(rows_q8_0, BORA_Q8_0)
QUANTIZED(rows_q4_0, BORA_Q4_0)
QUANTIZED(rows_q4_1, BORA_Q4_1)
QUANTIZED(rows_q5_0, BORA_Q5_0)
QUANTIZED(rows_q5_1, BORA_Q5_1)
QUANTIZED(rows_q4_k, BORA_Q4_K)
QUANTIZED(rows_q5_k, BORA_Q5_K)
QUANTIZED(rows_q6_k, BORA_Q6_K)
QUANTIZED(rows_q2_k, BORA_Q2_K)
QUANTIZED(rows_q3_k, BORA_Q3_K)
QUANTIZED(rows_iq4_nl, BORA_IQ4_NL)
QUANTIZED(rows_iq4_xs, BORA_IQ4_XS)

void bora_matmul_q_neon(int type, const uint8_t *w, size_t rb, int64_t k, int64_t r0, int64_t r1, const int8_t *xq,
                        const float *xd, const float *xs16, int64_t batch, float *out, int64_t os) {
    switch (type) {
    case BORA_Q8_0: rows_q8_0(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_Q4_0: rows_q4_0(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_Q4_1: rows_q4_1(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_Q5_0: rows_q5_0(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_Q5_1: rows_q5_1(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_Q4_K: rows_q4_k(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_Q5_K: rows_q5_k(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_Q6_K: rows_q6_k(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_Q2_K: rows_q2_k(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_Q3_K: rows_q3_k(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_IQ4_NL: rows_iq4_nl(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_IQ4_XS: rows_iq4_xs(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    }
}

// ---- Float weights ----

void bora_matmul_f_neon(int type, const uint8_t *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                        const float *x, int64_t batch, float *out, int64_t os) {
    switch (type) {
    case BORA_F16: matmul_type(BORA_F16, w, row_bytes, k, r0, r1, x, batch, out, os); break;
    case BORA_BF16: matmul_type(BORA_BF16, w, row_bytes, k, r0, r1, x, batch, out, os); break;
    default: matmul_type(BORA_F32, w, row_bytes, k, r0, r1, x, batch, out, os); break;
    }
}

#endif
