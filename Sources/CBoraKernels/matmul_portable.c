// Portable matrix products (any CPU). Same arithmetic as the SIMD paths: integer block dot products
// with per-block float scales.
#include "CBoraKernels.h"
#include "blocks.h"

void bora_matmul_q_portable(int type, const uint8_t *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                            const int8_t *xq, const float *xd, const float *xs16, int64_t batch,
                            float *out, int64_t out_stride) {
    int64_t blocks = k / 32;
    int16_t q[32];
    bora_block_scales s;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w + r * row_bytes;
        for (int64_t b = 0; b < batch; b++) {
            const int8_t *x = xq + b * k;
            const float *d = xd + b * blocks, *s16 = xs16 + 2 * b * blocks;
            float sum = 0;
            for (int64_t j = 0; j < blocks; j++) {
                bora_load_block(type, row, j, q, &s);
                int32_t lo = 0, hi = 0;
                for (int i = 0; i < 16; i++) lo += q[i] * x[32 * j + i];
                for (int i = 16; i < 32; i++) hi += q[i] * x[32 * j + i];
                sum += d[j] * (s.sa * (float)lo + s.sb * (float)hi) + s.ca * s16[2 * j] + s.cb * s16[2 * j + 1];
            }
            out[b * out_stride + r] = sum;
        }
    }
}

static inline float weight_at(int type, const uint8_t *row, int64_t i) {
    switch (type) {
    case BORA_F16: return bora_half(bora_u16(row + 2 * i));
    case BORA_BF16: return bora_bf16(bora_u16(row + 2 * i));
    default: { float f; memcpy(&f, row + 4 * i, 4); return f; }
    }
}

void bora_matmul_f_portable(int type, const uint8_t *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                            const float *x, int64_t batch, float *out, int64_t out_stride) {
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w + r * row_bytes;
        for (int64_t b = 0; b < batch; b++) {
            const float *xb = x + b * k;
            float acc[8] = {0};
            int64_t i = 0;
            for (; i + 8 <= k; i += 8)
                for (int l = 0; l < 8; l++) acc[l] += weight_at(type, row, i + l) * xb[i + l];
            float sum = 0;
            for (; i < k; i++) sum += weight_at(type, row, i) * xb[i];
            for (int l = 0; l < 8; l++) sum += acc[l];
            out[b * out_stride + r] = sum;
        }
    }
}
