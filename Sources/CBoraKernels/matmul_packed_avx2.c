// Products on repacked weights with AVX2 (no VNNI): the 16-row groups of pack.c are read as two
// 8-row halves. maddubs multiplies 4 broadcast activations with 4 weights of each of 8 rows into
// int16 pair sums; for 4-bit weights (≤ 15) the 8 k-steps of a 32-element unit add up in int16
// without overflow (16 products × 15 × 127 < 32768), so one madd per unit widens them. Q8_0 uses
// the sign trick (|w| · sign(x, w)) and widens every step.
#if defined(__x86_64__)
#include "CBoraKernels.h"
#include "blocks.h"
#include "packed.h"
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline)) TARGET

INLINE int sum_multiplier(const int type) { return type == BORA_Q4_0 ? -8 : 0; }
INLINE int has_min(const int type) { return type == BORA_Q4_1 || type == BORA_Q4_K; }

/// Per-row scale and min (w = scale·q + min) of unit j for rows 8h..8h+7.
INLINE void unit_scales(const int type, const uint8_t *base, int64_t j, int h, __m256 *scale, __m256 *min) {
    if (type == BORA_Q4_K) {
        const int s = (int)(j & 7);
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(base + 16 * h)));
        const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(base + 32 + 16 * h)));
        const __m256 sc = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(base + 64 + 16 * s + 8 * h))));
        const __m256 mn = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(base + 192 + 16 * s + 8 * h))));
        *scale = _mm256_mul_ps(d, sc);
        *min = _mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(dmin, mn));
        return;
    }
    *scale = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(base + 16 * h)));
    *min = type == BORA_Q4_1 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(base + 32 + 16 * h))) : _mm256_setzero_ps();
}

/// Σ q·x of one unit for 8 rows against M activation rows: int32 lanes, one per weight row.
INLINE void unit_dots(const int type, const int M, const uint8_t *q, int h, const int32_t *x4[], __m256i isum[]) {
    const __m256i ones = _mm256_set1_epi16(1);
    if (type == BORA_Q8_0) {
        for (int m = 0; m < M; m++) isum[m] = _mm256_setzero_si256();
        for (int s = 0; s < 8; s++) {
            // Stored as w + 128; xor gives w back as a signed byte.
            const __m256i w = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(q + 64 * s + 32 * h)), _mm256_set1_epi8((char)0x80));
            const __m256i aw = _mm256_sign_epi8(w, w);
            for (int m = 0; m < M; m++) {
                const __m256i x = _mm256_set1_epi32(x4[m][s]);
                isum[m] = _mm256_add_epi32(isum[m], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(x, w)), ones));
            }
        }
        return;
    }
    __m256i acc[6];
    for (int m = 0; m < M; m++) acc[m] = _mm256_setzero_si256();
    const __m256i mask = _mm256_set1_epi8(0x0F);
    for (int v = 0; v < 4; v++) {
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(q + 64 * v + 32 * h));
        const __m256i lo = _mm256_and_si256(raw, mask), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
        for (int m = 0; m < M; m++) {
            acc[m] = _mm256_add_epi16(acc[m], _mm256_maddubs_epi16(lo, _mm256_set1_epi32(x4[m][2 * v])));
            acc[m] = _mm256_add_epi16(acc[m], _mm256_maddubs_epi16(hi, _mm256_set1_epi32(x4[m][2 * v + 1])));
        }
    }
    for (int m = 0; m < M; m++) isum[m] = _mm256_madd_epi16(acc[m], ones);
}

/// M activation rows × 8 weight rows (half h of group g), all units.
INLINE void tile(const int type, const int M, const uint8_t *packed, int64_t k, int64_t g, int h, int64_t b0,
                 const int8_t *xq, const float *xd, const float *xs16, const int32_t *xsum, float *out, int64_t os) {
    const int64_t units = k / 32;
    __m256 acc[6];
    for (int m = 0; m < M; m++) acc[m] = _mm256_setzero_ps();
    for (int64_t j = 0; j < units; j++) {
        const uint8_t *base = bora_unit_base(type, packed, units, g, j);
        const uint8_t *q = bora_unit_weights(type, base, j);
        const int32_t *x4[6];
        for (int m = 0; m < M; m++) x4[m] = (const int32_t *)(xq + (b0 + m) * k + 32 * j);
        __m256i isum[6];
        unit_dots(type, M, q, h, x4, isum);
        __m256 scale, min;
        unit_scales(type, base, j, h, &scale, &min);
        for (int m = 0; m < M; m++) {
            const int64_t row = (b0 + m) * units + j;
            __m256i total = isum[m];
            if (sum_multiplier(type)) total = _mm256_add_epi32(total, _mm256_set1_epi32(sum_multiplier(type) * xsum[row]));
            acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(scale, _mm256_set1_ps(xd[row])), acc[m]);
            if (has_min(type)) acc[m] = _mm256_fmadd_ps(min, _mm256_set1_ps(xs16[2 * row] + xs16[2 * row + 1]), acc[m]);
        }
    }
    for (int m = 0; m < M; m++) _mm256_storeu_ps(out + (b0 + m) * os + 16 * g + 8 * h, acc[m]);
}

/// Σ q·x of one unit for both 8-row halves against one activation row (decode): each activation
/// broadcast serves both halves, and the halves are two independent dependency chains.
INLINE void unit_dots_both_halves(const int type, const uint8_t *q, const int32_t *x4, __m256i isum[2]) {
    const __m256i ones = _mm256_set1_epi16(1);
    if (type == BORA_Q8_0) {
        isum[0] = isum[1] = _mm256_setzero_si256();
        for (int s = 0; s < 8; s++) {
            const __m256i x = _mm256_set1_epi32(x4[s]);
            for (int h = 0; h < 2; h++) {
                const __m256i w = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(q + 64 * s + 32 * h)), _mm256_set1_epi8((char)0x80));
                isum[h] = _mm256_add_epi32(isum[h], _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w)), ones));
            }
        }
        return;
    }
    const __m256i mask = _mm256_set1_epi8(0x0F);
    __m256i acc[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int v = 0; v < 4; v++) {
        const __m256i xe = _mm256_set1_epi32(x4[2 * v]), xo = _mm256_set1_epi32(x4[2 * v + 1]);
        for (int h = 0; h < 2; h++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(q + 64 * v + 32 * h));
            acc[h] = _mm256_add_epi16(acc[h], _mm256_maddubs_epi16(_mm256_and_si256(raw, mask), xe));
            acc[h] = _mm256_add_epi16(acc[h], _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(raw, 4), mask), xo));
        }
    }
    isum[0] = _mm256_madd_epi16(acc[0], ones);
    isum[1] = _mm256_madd_epi16(acc[1], ones);
}

/// Decode: one activation row; both halves of each group per unit, so the weights stream once.
INLINE void gemv(const int type, const uint8_t *packed, int64_t k, int64_t g0, int64_t g1, const int8_t *xq,
                 const float *xd, const float *xs16, const int32_t *xsum, float *out) {
    const int64_t units = k / 32;
    const int64_t stride = type == BORA_Q4_K ? 2368 / 8 : bora_unit_bytes(type);
    for (int64_t g = g0; g < g1; g++) {
        __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int64_t j = 0; j < units; j++) {
            const uint8_t *base = bora_unit_base(type, packed, units, g, j);
            const uint8_t *q = bora_unit_weights(type, base, j);
            for (int64_t o = 0; o < stride; o += 64) _mm_prefetch((const char *)(q + 4096 + o), _MM_HINT_T0);
            __m256i isum[2];
            unit_dots_both_halves(type, q, (const int32_t *)(xq + 32 * j), isum);
            const __m256 dx = _mm256_set1_ps(xd[j]);
            for (int h = 0; h < 2; h++) {
                if (sum_multiplier(type)) isum[h] = _mm256_add_epi32(isum[h], _mm256_set1_epi32(sum_multiplier(type) * xsum[j]));
                __m256 scale, min;
                unit_scales(type, base, j, h, &scale, &min);
                acc[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[h]), _mm256_mul_ps(scale, dx), acc[h]);
                if (has_min(type)) acc[h] = _mm256_fmadd_ps(min, _mm256_set1_ps(xs16[2 * j] + xs16[2 * j + 1]), acc[h]);
            }
        }
        _mm256_storeu_ps(out + 16 * g, acc[0]);
        _mm256_storeu_ps(out + 16 * g + 8, acc[1]);
    }
}

INLINE void matmul_packed_type(const int type, const uint8_t *packed, int64_t k, int64_t g0, int64_t g1,
                               const int8_t *xq, const float *xd, const float *xs16, const int32_t *xsum,
                               int64_t batch, float *out, int64_t os) {
    if (batch == 1) {
        gemv(type, packed, k, g0, g1, xq, xd, xs16, xsum, out);
        return;
    }
    for (int64_t c0 = 0; c0 < batch; c0 += 128) {
        const int64_t c1 = c0 + 128 < batch ? c0 + 128 : batch;
        for (int64_t g = g0; g < g1; g++)
            for (int h = 0; h < 2; h++) {
                int64_t b = c0;
                for (; b + 4 <= c1; b += 4) tile(type, 4, packed, k, g, h, b, xq, xd, xs16, xsum, out, os);
                switch (c1 - b) {
                case 3: tile(type, 3, packed, k, g, h, b, xq, xd, xs16, xsum, out, os); break;
                case 2: tile(type, 2, packed, k, g, h, b, xq, xd, xs16, xsum, out, os); break;
                case 1: tile(type, 1, packed, k, g, h, b, xq, xd, xs16, xsum, out, os); break;
                }
            }
    }
}

#define DEFINE_PACKED(NAME, TYPE)                                                                            \
    TARGET static void NAME(const uint8_t *p, int64_t k, int64_t g0, int64_t g1, const int8_t *xq, const float *xd, \
                            const float *xs16, const int32_t *xsum, int64_t batch, float *out, int64_t os) {  \
        matmul_packed_type(TYPE, p, k, g0, g1, xq, xd, xs16, xsum, batch, out, os);                         \
    }
DEFINE_PACKED(packed_q4_0, BORA_Q4_0)
DEFINE_PACKED(packed_q4_1, BORA_Q4_1)
DEFINE_PACKED(packed_q8_0, BORA_Q8_0)
DEFINE_PACKED(packed_q4_k, BORA_Q4_K)

void bora_matmul_packed_avx2(int type, const void *packed, int64_t k, int64_t g0, int64_t g1, const int8_t *xq,
                             const float *xd, const float *xs16, const int32_t *xsum, int64_t batch, float *out, int64_t os) {
    switch (type) {
    case BORA_Q4_0: packed_q4_0(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q4_1: packed_q4_1(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q8_0: packed_q8_0(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q4_K: packed_q4_k(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    }
}
#endif
