// Row-major float weights (F32, F16, BF16) times F32 activations with NEON (arm64): the product
// for matrices that are not repacked (F32 ones, and rows past the last whole group of 16).
//
// Each output is the same two chains of fused multiply-adds over k (elements 8i..8i+3 in one,
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

void bora_matmul_f_neon(int type, const uint8_t *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                        const float *x, int64_t batch, float *out, int64_t os) {
    switch (type) {
    case BORA_F16: matmul_type(BORA_F16, w, row_bytes, k, r0, r1, x, batch, out, os); break;
    case BORA_BF16: matmul_type(BORA_BF16, w, row_bytes, k, r0, r1, x, batch, out, os); break;
    default: matmul_type(BORA_F32, w, row_bytes, k, r0, r1, x, batch, out, os); break;
    }
}

#endif
