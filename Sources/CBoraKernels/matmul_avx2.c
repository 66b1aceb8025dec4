// AVX2 matrix products. Each output is a dot product of one weight row with one activation row;
// the micro-kernels compute a small tile of them (R weight rows × B activation rows) so each
// unpacked weight block is reused B times and each activation block R times.
#if defined(__x86_64__)
#include "CBoraKernels.h"
#include "blocks.h"
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline)) TARGET

INLINE float hsum(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

/// 32 bytes holding bit i of `bits` as 0xFF / 0x00 in byte i.
INLINE __m256i bits_to_bytes(uint32_t bits) {
    const __m256i shuffle = _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuffle);
    const __m256i select = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
    bytes = _mm256_or_si256(bytes, select);
    return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}

/// Low nibbles of 16 bytes in elements 0–15, high nibbles in 16–31 (ggml's order).
INLINE __m256i nibbles(const uint8_t *p) {
    __m128i raw = _mm_loadu_si128((const __m128i *)p);
    __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/// Weights held as signed bytes (the others are unsigned).
INLINE int signed_weights(const int type) { return type == BORA_Q8_0 || type == BORA_IQ4_NL || type == BORA_IQ4_XS; }

/// 32 signed IQ4 values from 16 bytes of nibble indices.
INLINE __m256i iq4_values(const uint8_t *p) {
    const __m128i table = _mm_loadu_si128((const __m128i *)bora_iq4_values);
    return _mm256_shuffle_epi8(_mm256_set_m128i(table, table), nibbles(p));
}

/// 32 two-bit values (shifted by `shift`) of 32 bytes.
INLINE __m256i crumbs(const uint8_t *p, int shift) {
    return _mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)p), shift), _mm256_set1_epi8(3));
}

/// One weight block: q (unsigned 0..63, or signed for Q8_0 and IQ4) and its scales (see blocks.h).
INLINE __m256i load_block(const int type, const uint8_t *row, int64_t j, bora_block_scales *s) {
    switch (type) {
    case BORA_Q8_0: {
        const uint8_t *b = row + j * 34;
        float d = _cvtsh_ss(bora_u16(b));
        *s = (bora_block_scales){d, d, 0, 0};
        return _mm256_loadu_si256((const __m256i *)(b + 2));
    }
    case BORA_Q4_0: {
        const uint8_t *b = row + j * 18;
        float d = _cvtsh_ss(bora_u16(b));
        *s = (bora_block_scales){d, d, -8 * d, -8 * d};
        return nibbles(b + 2);
    }
    case BORA_Q4_1: {
        const uint8_t *b = row + j * 20;
        float d = _cvtsh_ss(bora_u16(b)), m = _cvtsh_ss(bora_u16(b + 2));
        *s = (bora_block_scales){d, d, m, m};
        return nibbles(b + 4);
    }
    case BORA_Q5_0: {
        const uint8_t *b = row + j * 22;
        float d = _cvtsh_ss(bora_u16(b));
        uint32_t qh;
        memcpy(&qh, b + 2, 4);
        *s = (bora_block_scales){d, d, -16 * d, -16 * d};
        return _mm256_or_si256(nibbles(b + 6), _mm256_and_si256(bits_to_bytes(qh), _mm256_set1_epi8(0x10)));
    }
    case BORA_Q5_1: {
        const uint8_t *b = row + j * 24;
        float d = _cvtsh_ss(bora_u16(b)), m = _cvtsh_ss(bora_u16(b + 2));
        uint32_t qh;
        memcpy(&qh, b + 4, 4);
        *s = (bora_block_scales){d, d, m, m};
        return _mm256_or_si256(nibbles(b + 8), _mm256_and_si256(bits_to_bytes(qh), _mm256_set1_epi8(0x10)));
    }
    case BORA_Q4_K:
    case BORA_Q5_K: {
        const int five = type == BORA_Q5_K;
        const uint8_t *b = row + (j >> 3) * (five ? 176 : 144);
        const int sub = (int)(j & 7);
        uint8_t sc, mn;
        bora_scale_min_k4(sub, b + 4, &sc, &mn);
        float d = _cvtsh_ss(bora_u16(b)) * sc, m = -_cvtsh_ss(bora_u16(b + 2)) * mn;
        *s = (bora_block_scales){d, d, m, m};
        __m256i raw = _mm256_loadu_si256((const __m256i *)(b + (five ? 48 : 16) + 32 * (sub >> 1)));
        __m256i q = _mm256_and_si256((sub & 1) ? _mm256_srli_epi16(raw, 4) : raw, _mm256_set1_epi8(0x0F));
        if (five) {
            __m256i bit = _mm256_set1_epi8((char)(1 << sub));
            __m256i high = _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_loadu_si256((const __m256i *)(b + 16)), bit), bit);
            q = _mm256_or_si256(q, _mm256_and_si256(high, _mm256_set1_epi8(0x10)));
        }
        return q;
    }
    case BORA_Q6_K: {
        const uint8_t *b = row + (j >> 3) * 210;
        const int sub = (int)(j & 7), half = sub >> 2, i4 = sub & 3;
        const int8_t *sc = (const int8_t *)(b + 192) + 8 * half + 2 * i4;
        float d = _cvtsh_ss(bora_u16(b + 208)), sa = d * sc[0], sb = d * sc[1];
        *s = (bora_block_scales){sa, sb, -32 * sa, -32 * sb};
        __m256i ql = _mm256_loadu_si256((const __m256i *)(b + 64 * half + 32 * (i4 & 1)));
        __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * half));
        __m256i low = _mm256_and_si256((i4 < 2) ? ql : _mm256_srli_epi16(ql, 4), _mm256_set1_epi8(0x0F));
        __m256i high = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * i4), _mm256_set1_epi8(0x03));
        return _mm256_or_si256(low, _mm256_slli_epi16(high, 4));
    }
    case BORA_Q2_K: {
        const uint8_t *b = row + (j >> 3) * 84;
        const int sub = (int)(j & 7);
        float d = _cvtsh_ss(bora_u16(b + 80)), dmin = _cvtsh_ss(bora_u16(b + 82));
        uint8_t sa = b[2 * sub], sb = b[2 * sub + 1];
        *s = (bora_block_scales){d * (sa & 0xF), d * (sb & 0xF), -dmin * (sa >> 4), -dmin * (sb >> 4)};
        return crumbs(b + 16 + 32 * (sub >> 2), 2 * (sub & 3));
    }
    case BORA_Q3_K: {
        const uint8_t *b = row + (j >> 3) * 110;
        const int sub = (int)(j & 7);
        float d = _cvtsh_ss(bora_u16(b + 108));
        float sa = d * bora_q3k_scale(b + 96, 2 * sub), sb = d * bora_q3k_scale(b + 96, 2 * sub + 1);
        *s = (bora_block_scales){sa, sb, -4 * sa, -4 * sb};
        const __m256i bit = _mm256_set1_epi8((char)(1 << sub));
        const __m256i high = _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_loadu_si256((const __m256i *)b), bit), bit);
        return _mm256_or_si256(crumbs(b + 32 + 32 * (sub >> 2), 2 * (sub & 3)), _mm256_and_si256(high, _mm256_set1_epi8(4)));
    }
    case BORA_IQ4_NL: {
        const uint8_t *b = row + j * 18;
        float d = _cvtsh_ss(bora_u16(b));
        *s = (bora_block_scales){d, d, 0, 0};
        return iq4_values(b + 2);
    }
    case BORA_IQ4_XS: {
        const uint8_t *b = row + (j >> 3) * 136;
        float d = _cvtsh_ss(bora_u16(b)) * bora_iq4xs_scale(b, (int)(j & 7));
        *s = (bora_block_scales){d, d, 0, 0};
        return iq4_values(b + 8 + 16 * (j & 7));
    }
    }
    return _mm256_setzero_si256();
}

/// R × B tile starting at weight row r and activation row b0, over all blocks of the row.
INLINE void tile(const int type, const int R, const int B, const uint8_t *w, size_t row_bytes, int64_t r,
                 int64_t blocks, const int8_t *xq, const float *xd, const float *xs16, int64_t k, int64_t b0,
                 float *out, int64_t out_stride) {
    __m256 acc[4][4];
    float corr[4][4];
    for (int i = 0; i < R; i++)
        for (int l = 0; l < B; l++) { acc[i][l] = _mm256_setzero_ps(); corr[i][l] = 0; }
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t j = 0; j < blocks; j++) {
        __m256i q[4], wsigned[4];
        bora_block_scales s[4];
        for (int i = 0; i < R; i++) {
            q[i] = load_block(type, w + (r + i) * row_bytes, j, &s[i]);
            if (signed_weights(type)) {
                wsigned[i] = q[i];
                q[i] = _mm256_sign_epi8(q[i], q[i]);  // |w| (maddubs wants unsigned); the sign moves to x
            }
        }
        for (int l = 0; l < B; l++) {
            const int64_t row = b0 + l;
            const __m256i x = _mm256_loadu_si256((const __m256i *)(xq + row * k + 32 * j));
            const float dx = xd[row * blocks + j];
            const float s16a = xs16[2 * (row * blocks + j)], s16b = xs16[2 * (row * blocks + j) + 1];
            for (int i = 0; i < R; i++) {
                __m256i p;
                if (signed_weights(type)) {
                    p = _mm256_maddubs_epi16(q[i], _mm256_sign_epi8(x, wsigned[i]));
                } else {
                    p = _mm256_maddubs_epi16(q[i], x);
                }
                const __m256 pf = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));
                const __m256 scale = bora_scale_per_16(type)
                    ? _mm256_set_m128(_mm_set1_ps(s[i].sb * dx), _mm_set1_ps(s[i].sa * dx))
                    : _mm256_set1_ps(s[i].sa * dx);
                acc[i][l] = _mm256_fmadd_ps(pf, scale, acc[i][l]);
                if (!signed_weights(type)) corr[i][l] += s[i].ca * s16a + s[i].cb * s16b;
            }
        }
    }
    for (int i = 0; i < R; i++)
        for (int l = 0; l < B; l++) out[(b0 + l) * out_stride + r + i] = hsum(acc[i][l]) + corr[i][l];
}

/// All outputs of rows [r0, r1): batch rows in L2-sized chunks, tiles of 4×1 (decode) or 2×4.
INLINE void matmul_type(const int type, const uint8_t *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                        const int8_t *xq, const float *xd, const float *xs16, int64_t batch, float *out, int64_t os) {
    const int64_t blocks = k / 32;
    if (batch == 1) {
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) tile(type, 4, 1, w, row_bytes, r, blocks, xq, xd, xs16, k, 0, out, os);
        for (; r < r1; r++) tile(type, 1, 1, w, row_bytes, r, blocks, xq, xd, xs16, k, 0, out, os);
        return;
    }
    const int64_t chunk = 64;
    for (int64_t c0 = 0; c0 < batch; c0 += chunk) {
        const int64_t c1 = c0 + chunk < batch ? c0 + chunk : batch;
        int64_t r = r0;
        for (; r + 2 <= r1; r += 2) {
            int64_t b = c0;
            for (; b + 4 <= c1; b += 4) tile(type, 2, 4, w, row_bytes, r, blocks, xq, xd, xs16, k, b, out, os);
            switch (c1 - b) {
            case 3: tile(type, 2, 3, w, row_bytes, r, blocks, xq, xd, xs16, k, b, out, os); break;
            case 2: tile(type, 2, 2, w, row_bytes, r, blocks, xq, xd, xs16, k, b, out, os); break;
            case 1: tile(type, 2, 1, w, row_bytes, r, blocks, xq, xd, xs16, k, b, out, os); break;
            }
        }
        for (; r < r1; r++) {
            int64_t b = c0;
            for (; b + 4 <= c1; b += 4) tile(type, 1, 4, w, row_bytes, r, blocks, xq, xd, xs16, k, b, out, os);
            for (; b < c1; b++) tile(type, 1, 1, w, row_bytes, r, blocks, xq, xd, xs16, k, b, out, os);
        }
    }
}

#define DEFINE_MATMUL(NAME, TYPE)                                                                              \
    TARGET static void NAME(const uint8_t *w, size_t rb, int64_t k, int64_t r0, int64_t r1, const int8_t *xq,  \
                            const float *xd, const float *xs16, int64_t batch, float *out, int64_t os) {       \
        matmul_type(TYPE, w, rb, k, r0, r1, xq, xd, xs16, batch, out, os);                                    \
    }
DEFINE_MATMUL(matmul_q8_0, BORA_Q8_0)
DEFINE_MATMUL(matmul_q4_0, BORA_Q4_0)
DEFINE_MATMUL(matmul_q4_1, BORA_Q4_1)
DEFINE_MATMUL(matmul_q5_0, BORA_Q5_0)
DEFINE_MATMUL(matmul_q5_1, BORA_Q5_1)
DEFINE_MATMUL(matmul_q4_k, BORA_Q4_K)
DEFINE_MATMUL(matmul_q5_k, BORA_Q5_K)
DEFINE_MATMUL(matmul_q6_k, BORA_Q6_K)
DEFINE_MATMUL(matmul_q2_k, BORA_Q2_K)
DEFINE_MATMUL(matmul_q3_k, BORA_Q3_K)
DEFINE_MATMUL(matmul_iq4_nl, BORA_IQ4_NL)
DEFINE_MATMUL(matmul_iq4_xs, BORA_IQ4_XS)

void bora_matmul_q_avx2(int type, const uint8_t *w, size_t rb, int64_t k, int64_t r0, int64_t r1, const int8_t *xq,
                        const float *xd, const float *xs16, int64_t batch, float *out, int64_t os) {
    switch (type) {
    case BORA_Q8_0: matmul_q8_0(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_Q4_0: matmul_q4_0(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_Q4_1: matmul_q4_1(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_Q5_0: matmul_q5_0(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_Q5_1: matmul_q5_1(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_Q4_K: matmul_q4_k(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_Q5_K: matmul_q5_k(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_Q6_K: matmul_q6_k(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_Q2_K: matmul_q2_k(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_Q3_K: matmul_q3_k(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_IQ4_NL: matmul_iq4_nl(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    case BORA_IQ4_XS: matmul_iq4_xs(w, rb, k, r0, r1, xq, xd, xs16, batch, out, os); break;
    }
}

// ---- Float weights ----

INLINE __m256 load8(const int type, const uint8_t *row, int64_t i) {
    switch (type) {
    case BORA_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * i)));
    case BORA_BF16: {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(row + 2 * i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    }
    default: return _mm256_loadu_ps((const float *)(row + 4 * i));
    }
}

INLINE float load1(const int type, const uint8_t *row, int64_t i) {
    switch (type) {
    case BORA_F16: return _cvtsh_ss(bora_u16(row + 2 * i));
    case BORA_BF16: return bora_bf16(bora_u16(row + 2 * i));
    default: { float f; memcpy(&f, row + 4 * i, 4); return f; }
    }
}

INLINE void tile_f(const int type, const int R, const int B, const uint8_t *w, size_t rb, int64_t r, int64_t k,
                   const float *x, int64_t b0, float *out, int64_t os) {
    __m256 acc[4][4];
    for (int i = 0; i < R; i++)
        for (int l = 0; l < B; l++) acc[i][l] = _mm256_setzero_ps();
    int64_t e = 0;
    for (; e + 8 <= k; e += 8) {
        __m256 wv[4];
        for (int i = 0; i < R; i++) wv[i] = load8(type, w + (r + i) * rb, e);
        for (int l = 0; l < B; l++) {
            const __m256 xv = _mm256_loadu_ps(x + (b0 + l) * k + e);
            for (int i = 0; i < R; i++) acc[i][l] = _mm256_fmadd_ps(wv[i], xv, acc[i][l]);
        }
    }
    for (int i = 0; i < R; i++)
        for (int l = 0; l < B; l++) {
            float sum = hsum(acc[i][l]);
            for (int64_t t = e; t < k; t++) sum += load1(type, w + (r + i) * rb, t) * x[(b0 + l) * k + t];
            out[(b0 + l) * os + r + i] = sum;
        }
}

INLINE void matmul_float_type(const int type, const uint8_t *w, size_t rb, int64_t k, int64_t r0, int64_t r1,
                              const float *x, int64_t batch, float *out, int64_t os) {
    if (batch == 1) {
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) tile_f(type, 4, 1, w, rb, r, k, x, 0, out, os);
        for (; r < r1; r++) tile_f(type, 1, 1, w, rb, r, k, x, 0, out, os);
        return;
    }
    const int64_t chunk = 32;
    for (int64_t c0 = 0; c0 < batch; c0 += chunk) {
        const int64_t c1 = c0 + chunk < batch ? c0 + chunk : batch;
        int64_t r = r0;
        for (; r + 2 <= r1; r += 2) {
            int64_t b = c0;
            for (; b + 4 <= c1; b += 4) tile_f(type, 2, 4, w, rb, r, k, x, b, out, os);
            for (; b < c1; b++) tile_f(type, 2, 1, w, rb, r, k, x, b, out, os);
        }
        for (; r < r1; r++)
            for (int64_t b = c0; b < c1; b++) tile_f(type, 1, 1, w, rb, r, k, x, b, out, os);
    }
}

TARGET static void matmul_f32(const uint8_t *w, size_t rb, int64_t k, int64_t r0, int64_t r1, const float *x, int64_t batch, float *out, int64_t os) {
    matmul_float_type(BORA_F32, w, rb, k, r0, r1, x, batch, out, os);
}
TARGET static void matmul_f16(const uint8_t *w, size_t rb, int64_t k, int64_t r0, int64_t r1, const float *x, int64_t batch, float *out, int64_t os) {
    matmul_float_type(BORA_F16, w, rb, k, r0, r1, x, batch, out, os);
}
TARGET static void matmul_bf16(const uint8_t *w, size_t rb, int64_t k, int64_t r0, int64_t r1, const float *x, int64_t batch, float *out, int64_t os) {
    matmul_float_type(BORA_BF16, w, rb, k, r0, r1, x, batch, out, os);
}

void bora_matmul_f_avx2(int type, const uint8_t *w, size_t rb, int64_t k, int64_t r0, int64_t r1, const float *x,
                        int64_t batch, float *out, int64_t os) {
    switch (type) {
    case BORA_F16: matmul_f16(w, rb, k, r0, r1, x, batch, out, os); break;
    case BORA_BF16: matmul_bf16(w, rb, k, r0, r1, x, batch, out, os); break;
    default: matmul_f32(w, rb, k, r0, r1, x, batch, out, os); break;
    }
}
#endif
