// ggml's block layouts (ggml-common.h), read one 32-element block at a time in a single form:
//
//     w[i] = scale(i) * q[i] + offset(i),   q[i] an integer, scale/offset constant per 16 elements
//
// so that with activations x[i] = dx * xq[i] (see bora_quantize_q8), a block's dot product is
//
//     dx * (sa * Σ_{i<16} q[i]·xq[i] + sb * Σ_{i≥16} q[i]·xq[i]) + ca * s16a + cb * s16b
//
// where s16a/s16b are dx × (sum of the activation's first/second 16 xq). Every format except Q8_0
// and the IQ4 ones (whose q are the signed values of a non-linear table) has q ≥ 0 (unsigned, so
// AVX2's maddubs applies directly); Q6_K, Q3_K and Q2_K change scale inside a 32-element block.
#ifndef BORA_BLOCKS_H
#define BORA_BLOCKS_H

#include <stdint.h>
#include <string.h>

#define QK 32

static inline uint16_t bora_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static inline float bora_half(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
    union { uint32_t u; float f; } v;
    if (exponent == 0) {
        float m = (float)mantissa * (1.0f / 16777216.0f);
        return sign ? -m : m;
    }
    if (exponent == 31) { v.u = sign | 0x7F800000u | (mantissa << 13); return v.f; }
    v.u = sign | ((exponent + 112) << 23) | (mantissa << 13);
    return v.f;
}

static inline float bora_bf16(uint16_t b) {
    union { uint32_t u; float f; } v;
    v.u = (uint32_t)b << 16;
    return v.f;
}

/// Float → BF16 as vcvtneps2bf16 rounds: to nearest even, NaN kept quiet, denormal inputs as zero.
static inline uint16_t bora_bf16_from_float(float f) {
    union { float f; uint32_t u; } v = {f};
    if ((v.u & 0x7F800000u) == 0) return (uint16_t)((v.u >> 16) & 0x8000);
    if ((v.u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((v.u >> 16) | 0x40);
    return (uint16_t)((v.u + 0x7FFF + ((v.u >> 16) & 1)) >> 16);
}

/// Bytes per block and elements per block of each quantized type.
static inline int bora_block_bytes(int type) {
    switch (type) {
    case BORA_Q8_0: return 34;
    case BORA_Q4_0: return 18;
    case BORA_Q4_1: return 20;
    case BORA_Q5_0: return 22;
    case BORA_Q5_1: return 24;
    case BORA_Q4_K: return 144;
    case BORA_Q5_K: return 176;
    case BORA_Q6_K: return 210;
    case BORA_Q2_K: return 84;
    case BORA_Q3_K: return 110;
    case BORA_IQ4_NL: return 18;
    case BORA_IQ4_XS: return 136;
    default: return 0;
    }
}

static inline int bora_block_elements(int type) {
    switch (type) {
    case BORA_Q4_K: case BORA_Q5_K: case BORA_Q6_K: case BORA_Q2_K: case BORA_Q3_K: case BORA_IQ4_XS: return 256;
    default: return 32;
    }
}

/// 1 for the formats whose scale changes every 16 elements.
static inline int bora_scale_per_16(int type) { return type == BORA_Q6_K || type == BORA_Q3_K || type == BORA_Q2_K; }

/// IQ4_NL's and IQ4_XS's non-linear 4-bit values (ggml's kvalues_iq4nl).
static const int8_t bora_iq4_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/// Scale t (0..15) of a Q3_K super-block, from its 12 packed bytes (ggml's dequantize_row_q3_K), minus 32.
static inline int bora_q3k_scale(const uint8_t *p, int t) {
    int low = t < 8 ? (p[t] & 0xF) : (p[t - 8] >> 4);
    int high = (p[8 + (t & 3)] >> (2 * (t >> 2))) & 3;
    return (low | (high << 4)) - 32;
}

/// Scale of 32-element block ib (0..7) of an IQ4_XS super-block, minus 32.
static inline int bora_iq4xs_scale(const uint8_t *b, int ib) {
    int low = (b[4 + ib / 2] >> (4 * (ib & 1))) & 0xF;
    int high = (bora_u16(b + 2) >> (2 * ib)) & 3;
    return (low | (high << 4)) - 32;
}

/// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block (ggml's get_scale_min_k4).
static inline void bora_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/// Scales and offsets of one 32-element block (see the file comment).
typedef struct {
    float sa, sb, ca, cb;
} bora_block_scales;

/// One block in scalar form: q values and scales. `j` counts 32-element blocks within the row.
static inline void bora_load_block(int type, const uint8_t *row, int64_t j, int16_t q[32], bora_block_scales *s) {
    switch (type) {
    case BORA_Q8_0: {
        const uint8_t *b = row + j * 34;
        float d = bora_half(bora_u16(b));
        for (int i = 0; i < 32; i++) q[i] = (int8_t)b[2 + i];
        *s = (bora_block_scales){d, d, 0, 0};
        return;
    }
    case BORA_Q4_0: {
        const uint8_t *b = row + j * 18;
        float d = bora_half(bora_u16(b));
        for (int i = 0; i < 16; i++) { q[i] = b[2 + i] & 0xF; q[i + 16] = b[2 + i] >> 4; }
        *s = (bora_block_scales){d, d, -8 * d, -8 * d};
        return;
    }
    case BORA_Q4_1: {
        const uint8_t *b = row + j * 20;
        float d = bora_half(bora_u16(b)), m = bora_half(bora_u16(b + 2));
        for (int i = 0; i < 16; i++) { q[i] = b[4 + i] & 0xF; q[i + 16] = b[4 + i] >> 4; }
        *s = (bora_block_scales){d, d, m, m};
        return;
    }
    case BORA_Q5_0:
    case BORA_Q5_1: {
        int one = type == BORA_Q5_1;
        const uint8_t *b = row + j * (one ? 24 : 22);
        float d = bora_half(bora_u16(b)), m = one ? bora_half(bora_u16(b + 2)) : 0;
        const uint8_t *hb = b + (one ? 4 : 2), *qs = hb + 4;
        uint32_t qh = hb[0] | (hb[1] << 8) | (hb[2] << 16) | ((uint32_t)hb[3] << 24);
        for (int i = 0; i < 16; i++) {
            q[i] = (qs[i] & 0xF) | (((qh >> i) & 1) << 4);
            q[i + 16] = (qs[i] >> 4) | (((qh >> (i + 16)) & 1) << 4);
        }
        if (one) *s = (bora_block_scales){d, d, m, m};
        else *s = (bora_block_scales){d, d, -16 * d, -16 * d};
        return;
    }
    case BORA_Q4_K:
    case BORA_Q5_K: {
        int five = type == BORA_Q5_K;
        const uint8_t *b = row + (j / 8) * (five ? 176 : 144);
        int sub = (int)(j % 8);
        float d = bora_half(bora_u16(b)), dmin = bora_half(bora_u16(b + 2));
        uint8_t sc, mn;
        bora_scale_min_k4(sub, b + 4, &sc, &mn);
        const uint8_t *qs = b + (five ? 48 : 16) + 32 * (sub / 2);
        for (int i = 0; i < 32; i++) {
            int v = (sub & 1) ? (qs[i] >> 4) : (qs[i] & 0xF);
            if (five) v |= ((b[16 + i] >> sub) & 1) << 4;
            q[i] = (int16_t)v;
        }
        *s = (bora_block_scales){d * sc, d * sc, -dmin * mn, -dmin * mn};
        return;
    }
    case BORA_Q6_K: {
        const uint8_t *b = row + (j / 8) * 210;
        int sub = (int)(j % 8), half = sub / 4, i4 = sub % 4;
        const uint8_t *ql = b + 64 * half + (i4 & 1) * 32, *qh = b + 128 + 32 * half;
        const int8_t *sc = (const int8_t *)(b + 192) + 8 * half + 2 * i4;
        float d = bora_half(bora_u16(b + 208));
        for (int i = 0; i < 32; i++) {
            int low = (i4 < 2) ? (ql[i] & 0xF) : (ql[i] >> 4);
            q[i] = (int16_t)(low | (((qh[i] >> (2 * i4)) & 3) << 4));
        }
        float sa = d * sc[0], sb = d * sc[1];
        *s = (bora_block_scales){sa, sb, -32 * sa, -32 * sb};
        return;
    }
    case BORA_Q2_K: {
        // Element e of 32-block j: 128-element half n = j/4, shift 2·(j%4), byte 32n + (e of 32).
        const uint8_t *b = row + (j / 8) * 84;
        int sub = (int)(j % 8), n = sub / 4, shift = 2 * (sub % 4);
        const uint8_t *qs = b + 16 + 32 * n;
        for (int i = 0; i < 32; i++) q[i] = (qs[i] >> shift) & 3;
        float d = bora_half(bora_u16(b + 80)), dmin = bora_half(bora_u16(b + 82));
        uint8_t sa = b[2 * sub], sb = b[2 * sub + 1];
        *s = (bora_block_scales){d * (sa & 0xF), d * (sb & 0xF), -dmin * (sa >> 4), -dmin * (sb >> 4)};
        return;
    }
    case BORA_Q3_K: {
        // value = d·scale·(low2 + 4·hbit − 4); hbit is bit `sub` of hmask byte (e of 32).
        const uint8_t *b = row + (j / 8) * 110;
        int sub = (int)(j % 8), n = sub / 4, shift = 2 * (sub % 4);
        const uint8_t *qs = b + 32 + 32 * n;
        for (int i = 0; i < 32; i++) q[i] = (int16_t)(((qs[i] >> shift) & 3) | (((b[i] >> sub) & 1) << 2));
        float d = bora_half(bora_u16(b + 108));
        float sa = d * bora_q3k_scale(b + 96, 2 * sub), sb = d * bora_q3k_scale(b + 96, 2 * sub + 1);
        *s = (bora_block_scales){sa, sb, -4 * sa, -4 * sb};
        return;
    }
    case BORA_IQ4_NL:
    case BORA_IQ4_XS: {
        const uint8_t *qs;
        float d;
        if (type == BORA_IQ4_NL) {
            const uint8_t *b = row + j * 18;
            d = bora_half(bora_u16(b));
            qs = b + 2;
        } else {
            const uint8_t *b = row + (j / 8) * 136;
            d = bora_half(bora_u16(b)) * bora_iq4xs_scale(b, (int)(j % 8));
            qs = b + 8 + 16 * (j % 8);
        }
        for (int i = 0; i < 16; i++) { q[i] = bora_iq4_values[qs[i] & 0xF]; q[i + 16] = bora_iq4_values[qs[i] >> 4]; }
        *s = (bora_block_scales){d, d, 0, 0};
        return;
    }
    default:
        memset(q, 0, 32 * sizeof(int16_t));
        *s = (bora_block_scales){0, 0, 0, 0};
    }
}

#endif
