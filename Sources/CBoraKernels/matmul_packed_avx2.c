// Products on repacked weights with AVX2 (no VNNI): the 16-row groups of pack.c are read as two
// 8-row halves. maddubs multiplies 4 broadcast activations with 4 weight codes of each of 8 rows
// into int16 pair sums, which are widened to int32 (madd with ones) before they can overflow: every
// 8 products' pairs for 4-bit codes (8 × 2 × 15 × 127 < 32768), 4 for 5-bit and per-16 formats,
// 2 for 6-bit. Signed weights (Q8_0, IQ4) use the sign trick (|w| · sign(x, w)) and widen every step.
#if defined(__x86_64__)
#include "CBoraKernels.h"
#include "blocks.h"
#include "packed.h"
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline)) TARGET

INLINE int sum_multiplier(const int type) { return type == BORA_Q4_0 ? -8 : type == BORA_Q5_0 ? -16 : 0; }
INLINE int has_min(const int type) { return type == BORA_Q4_1 || type == BORA_Q4_K || type == BORA_Q5_1 || type == BORA_Q5_K; }
INLINE int per16(const int type) { return bora_scale_per_16(type); }
INLINE int signed_codes(const int type) { return type == BORA_Q8_0 || type == BORA_IQ4_NL || type == BORA_IQ4_XS; }
INLINE float half_offset(const int type) { return type == BORA_Q6_K ? -32.0f : type == BORA_Q3_K ? -4.0f : 0.0f; }

/// maddubs results summed in int16 before widening (see the file comment).
INLINE int flush_steps(const int type) {
    if (signed_codes(type)) return 1;
    if (type == BORA_Q6_K) return 2;
    if (type == BORA_Q4_0 || type == BORA_Q4_1 || type == BORA_Q4_K) return 8;
    return 4;
}

INLINE __m256i shift_bits(__m256i x, const int s) {
    return s > 0 ? _mm256_slli_epi16(x, s) : s < 0 ? _mm256_srli_epi16(x, -s) : x;
}

/// The weights of k-steps 2v and 2v+1 of rows 8h..8h+7: unsigned codes, or signed values for
/// Q8_0 and IQ4 (layout: pack.c).
INLINE void load_pair(const int type, const uint8_t *q, const int v, const int h, __m256i *even, __m256i *odd) {
#define LOAD(offset) _mm256_loadu_si256((const __m256i *)(q + (offset) + 32 * h))
    if (type == BORA_Q8_0) {
        const __m256i flip = _mm256_set1_epi8((char)0x80);  // stored as w + 128
        *even = _mm256_xor_si256(LOAD(128 * v), flip);
        *odd = _mm256_xor_si256(LOAD(128 * v + 64), flip);
        return;
    }
    if (type == BORA_Q2_K) {
        const __m256i three = _mm256_set1_epi8(3);
        *even = _mm256_and_si256(shift_bits(LOAD(0), -2 * v), three);
        *odd = _mm256_and_si256(shift_bits(LOAD(64), -2 * v), three);
        return;
    }
    // The 3-, 5- and 6-bit formats (pack.c): whole codes under a mask, the rest gathered from the
    // spare bits of two or three planes. BITS(offset, s, mask): the plane's bits selected by `mask`
    // after a right shift by s (16-bit lanes: what comes in from the next byte falls outside every mask).
#define BITS(offset, s, mask) _mm256_and_si256(_mm256_srli_epi16(LOAD(offset), s), _mm256_set1_epi8(mask))
#define OR3(a, b, c) _mm256_or_si256(_mm256_or_si256(a, b), c)
    if (type == BORA_Q3_K) {
        // Pairs 0–2: whole codes in plane v; pair 3: bit p of each code in bits 3 and 7 of plane p.
        if (v < 3) {
            *even = BITS(64 * v, 0, 0x07);
            *odd = BITS(64 * v, 4, 0x07);
        } else {
            *even = OR3(BITS(0, 3, 0x01), BITS(64, 2, 0x02), BITS(128, 1, 0x04));
            *odd = OR3(BITS(0, 7, 0x01), BITS(64, 6, 0x02), BITS(128, 5, 0x04));
        }
        return;
    }
    if (type == BORA_Q5_0 || type == BORA_Q5_1 || type == BORA_Q5_K) {
        // Whole codes in planes 0–4 (bits 0–4); the codes of elements 20–23, 24–27 and 28–31 in
        // their spare bits.
        if (v < 2) {
            *even = BITS(128 * v, 0, 0x1F);
            *odd = BITS(128 * v + 64, 0, 0x1F);
        } else if (v == 2) {
            *even = BITS(256, 0, 0x1F);
            *odd = _mm256_or_si256(BITS(0, 5, 0x07), BITS(64, 2, 0x18));
        } else {
            *even = OR3(BITS(64, 7, 0x01), BITS(128, 4, 0x0E), BITS(192, 1, 0x10));
            *odd = _mm256_or_si256(BITS(192, 6, 0x03), BITS(256, 3, 0x1C));
        }
        return;
    }
    if (type == BORA_Q6_K) {
        // Pairs 0–2: whole codes in planes 2v and 2v + 1; pair 3: two bits of each code in bits 6–7
        // of planes 0–2 (even) and 3–5 (odd).
        if (v < 3) {
            *even = BITS(128 * v, 0, 0x3F);
            *odd = BITS(128 * v + 64, 0, 0x3F);
        } else {
            *even = OR3(BITS(0, 6, 0x03), BITS(64, 4, 0x0C), BITS(128, 2, 0x30));
            *odd = OR3(BITS(192, 6, 0x03), BITS(256, 4, 0x0C), BITS(320, 2, 0x30));
        }
        return;
    }
#undef OR3
#undef BITS
    const __m256i raw = LOAD(64 * v), mask = _mm256_set1_epi8(0x0F);
    *even = _mm256_and_si256(raw, mask);
    *odd = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
    if (type == BORA_IQ4_NL || type == BORA_IQ4_XS) {
        const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)bora_iq4_values));
        *even = _mm256_shuffle_epi8(table, *even);
        *odd = _mm256_shuffle_epi8(table, *odd);
    }
#undef LOAD
}

/// int16 pair sums of 4 weights × 4 broadcast activations per row.
INLINE __m256i products(const int type, __m256i w, __m256i x) {
    if (signed_codes(type)) return _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_maddubs_epi16(w, x);
}

/// Σ w·x of one unit against M activation rows, for NH halves of 8 weight rows starting at half h0,
/// as int32 lanes (one per weight row) in a[m·NH + half]: per 16 elements (0–15 in a, 16–31 in b)
/// for per-16 formats, else all in a (b is 0). Each activation broadcast serves all NH halves.
INLINE void unit_dots(const int type, const int M, const int NH, const uint8_t *q, const int h0, const int32_t *x4[],
                      __m256i a[], __m256i b[]) {
    const __m256i ones = _mm256_set1_epi16(1);
    const int flush = flush_steps(type);
    __m256i acc16[6];
    for (int i = 0; i < M * NH; i++) a[i] = b[i] = _mm256_setzero_si256();
    int step = 0;
    for (int v = 0; v < 4; v++) {
        __m256i w[2][2];
        for (int hh = 0; hh < NH; hh++) load_pair(type, q, v, h0 + hh, &w[hh][0], &w[hh][1]);
        for (int parity = 0; parity < 2; parity++, step++) {
            for (int m = 0; m < M; m++) {
                const __m256i x = _mm256_set1_epi32(x4[m][2 * v + parity]);
                for (int hh = 0; hh < NH; hh++) {
                    const int i = m * NH + hh;
                    const __m256i p = products(type, w[hh][parity], x);
                    acc16[i] = step % flush == 0 ? p : _mm256_add_epi16(acc16[i], p);
                    if (step % flush == flush - 1) {
                        const __m256i wide = _mm256_madd_epi16(acc16[i], ones);
                        if (per16(type) && v >= 2) b[i] = _mm256_add_epi32(b[i], wide);
                        else a[i] = _mm256_add_epi32(a[i], wide);
                    }
                }
            }
        }
    }
}

/// Per-row factors of unit j for rows 8h..8h+7: scale and min (w = scale·q + min) of the whole
/// unit, or of each half for per-16 formats.
typedef struct { __m256 sa, ma, sb, mb; } unit_factors;

INLINE __m256 d8(const uint8_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
INLINE __m256 i8x8(const uint8_t *p) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p))); }
INLINE __m256 u8x8(const uint8_t *p) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p))); }

/// The f16 factors that open a super-block (or a 32-element unit) for rows 8h..8h+7: d, and the
/// second one (dmin, or Q4_1/Q5_1's m) where there is one. Converted once per super-block, not per unit.
typedef struct { __m256 d, dmin; } super_factors;

INLINE super_factors super_scales(const int type, const uint8_t *base, int h) {
    super_factors f;
    f.d = d8(base + 16 * h);
    f.dmin = has_min(type) || type == BORA_Q2_K ? d8(base + 32 + 16 * h) : _mm256_setzero_ps();
    return f;
}

INLINE unit_factors factors(const int type, const uint8_t *base, int64_t j, int h, const super_factors *sf) {
    unit_factors f;
    const __m256 d = sf->d, dmin = sf->dmin, zero = _mm256_setzero_ps();
    const int s = (int)(j & 7);
    f.ma = f.mb = zero;
    f.sb = zero;
    switch (type) {
    case BORA_Q4_K: case BORA_Q5_K:
        f.sa = _mm256_mul_ps(d, u8x8(base + 64 + 16 * s + 8 * h));
        f.ma = _mm256_sub_ps(zero, _mm256_mul_ps(dmin, u8x8(base + 192 + 16 * s + 8 * h)));
        break;
    case BORA_Q4_1: case BORA_Q5_1:
        f.sa = d;
        f.ma = dmin;
        break;
    case BORA_IQ4_XS:
        f.sa = _mm256_mul_ps(d, i8x8(base + 32 + 16 * s + 8 * h));
        break;
    case BORA_Q6_K: case BORA_Q3_K:
        f.sa = _mm256_mul_ps(d, i8x8(base + 32 + 16 * (2 * s) + 8 * h));
        f.sb = _mm256_mul_ps(d, i8x8(base + 32 + 16 * (2 * s + 1) + 8 * h));
        break;
    case BORA_Q2_K: {
        const __m256i ra = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(base + 64 + 16 * (2 * s) + 8 * h)));
        const __m256i rb = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(base + 64 + 16 * (2 * s + 1) + 8 * h)));
        const __m256i low = _mm256_set1_epi32(15);
        f.sa = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_and_si256(ra, low)));
        f.sb = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_and_si256(rb, low)));
        f.ma = _mm256_sub_ps(zero, _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(_mm256_srli_epi32(ra, 4))));
        f.mb = _mm256_sub_ps(zero, _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(_mm256_srli_epi32(rb, 4))));
        break;
    }
    default:
        f.sa = d;
    }
    return f;
}

/// acc += one unit's contribution for one activation row.
INLINE __m256 accumulate(const int type, __m256 acc, __m256i a, __m256i b, const unit_factors *f, float dx,
                         const float *s16, int32_t sum32) {
    if (per16(type)) {
        const __m256 vdx = _mm256_set1_ps(dx);
        acc = _mm256_fmadd_ps(f->sa, _mm256_fmadd_ps(_mm256_cvtepi32_ps(a), vdx, _mm256_set1_ps(half_offset(type) * s16[0])), acc);
        acc = _mm256_fmadd_ps(f->sb, _mm256_fmadd_ps(_mm256_cvtepi32_ps(b), vdx, _mm256_set1_ps(half_offset(type) * s16[1])), acc);
        if (type == BORA_Q2_K) {
            acc = _mm256_fmadd_ps(f->ma, _mm256_set1_ps(s16[0]), acc);
            acc = _mm256_fmadd_ps(f->mb, _mm256_set1_ps(s16[1]), acc);
        }
        return acc;
    }
    if (sum_multiplier(type)) a = _mm256_add_epi32(a, _mm256_set1_epi32(sum_multiplier(type) * sum32));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a), _mm256_mul_ps(f->sa, _mm256_set1_ps(dx)), acc);
    if (has_min(type)) acc = _mm256_fmadd_ps(f->ma, _mm256_set1_ps(s16[0] + s16[1]), acc);
    return acc;
}

/// M activation rows × 8 weight rows (half h of group g), all units. `prefetch`: the first tile over
/// group g, which streams it from memory (packed.h).
INLINE void tile(const int type, const int M, const uint8_t *packed, int64_t k, int64_t g, int h, int64_t b0,
                 const int prefetch, const int8_t *xq, const float *xd, const float *xs16, const int32_t *xsum,
                 float *out, int64_t os) {
    const int64_t units = k / 32;
    __m256 acc[6];
    for (int m = 0; m < M; m++) acc[m] = _mm256_setzero_ps();
    const int ups = bora_units_per_super(type);
    const int64_t stride = bora_super_bytes(type) / ups;
    const uint8_t *base = packed, *ahead = bora_unit_base(type, packed, units, g, 0) + BORA_PREFETCH_DISTANCE;
    super_factors sf;
    for (int64_t j = 0; j < units; j++) {
        if (prefetch) for (int64_t o = 0; o < stride; o += 64) _mm_prefetch((const char *)(ahead + o), _MM_HINT_T0);
        ahead += stride;
        if (j % ups == 0) {
            base = bora_unit_base(type, packed, units, g, j);
            sf = super_scales(type, base, h);
        }
        const uint8_t *q = bora_unit_weights(type, base, j);
        const int32_t *x4[6];
        for (int m = 0; m < M; m++) x4[m] = (const int32_t *)(xq + (b0 + m) * k + 32 * j);
        __m256i a[6], b[6];
        unit_dots(type, M, 1, q, h, x4, a, b);
        const unit_factors f = factors(type, base, j, h, &sf);
        for (int m = 0; m < M; m++) {
            const int64_t row = (b0 + m) * units + j;
            acc[m] = accumulate(type, acc[m], a[m], b[m], &f, xd[row], xs16 + 2 * row, xsum[row]);
        }
    }
    for (int m = 0; m < M; m++) _mm256_storeu_ps(out + (b0 + m) * os + 16 * g + 8 * h, acc[m]);
}

/// Decode: one activation row; both halves of each group per unit, so the weights stream once and
/// each activation broadcast serves both halves.
INLINE void gemv(const int type, const uint8_t *packed, int64_t k, int64_t g0, int64_t g1, const int8_t *xq,
                 const float *xd, const float *xs16, const int32_t *xsum, float *out) {
    const int64_t units = k / 32;
    const int ups = bora_units_per_super(type);
    const int64_t stride = bora_super_bytes(type) / ups;
    for (int64_t g = g0; g < g1; g++) {
        __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
        // The group's super-blocks lie end to end: prefetch along them, scales included.
        const uint8_t *ahead = bora_unit_base(type, packed, units, g, 0) + BORA_PREFETCH_DISTANCE;
        for (int64_t j0 = 0; j0 < units; j0 += ups) {
            const uint8_t *base = bora_unit_base(type, packed, units, g, j0);
            const super_factors sf[2] = {super_scales(type, base, 0), super_scales(type, base, 1)};
            for (int64_t j = j0; j < j0 + ups; j++) {
                const uint8_t *q = bora_unit_weights(type, base, j);
                for (int64_t o = 0; o < stride; o += 64) _mm_prefetch((const char *)(ahead + o), _MM_HINT_T0);
                ahead += stride;
                const int32_t *x4[1] = {(const int32_t *)(xq + 32 * j)};
                __m256i a[2], b[2];
                unit_dots(type, 1, 2, q, 0, x4, a, b);
                for (int h = 0; h < 2; h++) {
                    const unit_factors f = factors(type, base, j, h, &sf[h]);
                    acc[h] = accumulate(type, acc[h], a[h], b[h], &f, xd[j], xs16 + 2 * j, xsum[j]);
                }
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
                for (; b + 4 <= c1; b += 4) tile(type, 4, packed, k, g, h, b, b == c0 && h == 0, xq, xd, xs16, xsum, out, os);
                const int first = b == c0 && h == 0;
                switch (c1 - b) {
                case 3: tile(type, 3, packed, k, g, h, b, first, xq, xd, xs16, xsum, out, os); break;
                case 2: tile(type, 2, packed, k, g, h, b, first, xq, xd, xs16, xsum, out, os); break;
                case 1: tile(type, 1, packed, k, g, h, b, first, xq, xd, xs16, xsum, out, os); break;
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
DEFINE_PACKED(packed_q5_0, BORA_Q5_0)
DEFINE_PACKED(packed_q5_1, BORA_Q5_1)
DEFINE_PACKED(packed_q5_k, BORA_Q5_K)
DEFINE_PACKED(packed_q6_k, BORA_Q6_K)
DEFINE_PACKED(packed_q3_k, BORA_Q3_K)
DEFINE_PACKED(packed_q2_k, BORA_Q2_K)
DEFINE_PACKED(packed_iq4_nl, BORA_IQ4_NL)
DEFINE_PACKED(packed_iq4_xs, BORA_IQ4_XS)

void bora_matmul_packed_avx2(int type, const void *packed, int64_t k, int64_t g0, int64_t g1, const int8_t *xq,
                             const float *xd, const float *xs16, const int32_t *xsum, int64_t batch, float *out, int64_t os) {
    switch (type) {
    case BORA_Q4_0: packed_q4_0(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q4_1: packed_q4_1(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q8_0: packed_q8_0(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q4_K: packed_q4_k(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q5_0: packed_q5_0(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q5_1: packed_q5_1(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q5_K: packed_q5_k(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q6_K: packed_q6_k(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q3_K: packed_q3_k(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q2_K: packed_q2_k(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_IQ4_NL: packed_iq4_nl(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_IQ4_XS: packed_iq4_xs(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    }
}
#endif
