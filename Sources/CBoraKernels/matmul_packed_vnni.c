// Products on repacked weights with AVX-512 VNNI: one vpdpbusd multiplies 4 broadcast activations
// with 4 weights of each of 16 rows (layout: pack.c).
#if defined(__x86_64__)
#include "CBoraKernels.h"
#include "blocks.h"
#include "packed.h"
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline)) TARGET

// ---- Kernels ----

/// x shifted left by s bits (right for s < 0) in 16-bit lanes; callers mask bits that stay in their byte.
INLINE __m512i shift_bits(__m512i x, const int s) {
    return s > 0 ? _mm512_slli_epi16(x, s) : s < 0 ? _mm512_srli_epi16(x, -s) : x;
}

/// The bits of a 64-byte plane selected by `mask` after a right shift by `s` (in 16-bit lanes).
INLINE __m512i plane_bits(const uint8_t *plane, const int s, const int mask) {
    return _mm512_and_si512(_mm512_srli_epi16(_mm512_loadu_si512(plane), s), _mm512_set1_epi8((char)mask));
}

INLINE __m512i or3(__m512i a, __m512i b, __m512i c) { return _mm512_or_si512(_mm512_or_si512(a, b), c); }

/// The unsigned weight codes of k-steps 2v and 2v+1 (4 elements each) of the 16 rows (pack.c).
INLINE void load_pair(const int type, const uint8_t *q, const int v, __m512i *even, __m512i *odd) {
    if (type == BORA_Q8_0) {
        *even = _mm512_loadu_si512(q + 128 * v);
        *odd = _mm512_loadu_si512(q + 128 * v + 64);
        return;
    }
    if (type == BORA_Q2_K) {
        const __m512i three = _mm512_set1_epi8(3);
        *even = _mm512_and_si512(shift_bits(_mm512_loadu_si512(q), -2 * v), three);
        *odd = _mm512_and_si512(shift_bits(_mm512_loadu_si512(q + 64), -2 * v), three);
        return;
    }
    // The 3-, 5- and 6-bit formats (pack.c): whole codes under a mask, the rest gathered from the
    // spare bits of two or three planes. Bits a 16-bit shift brings in from the next byte fall
    // outside every mask.
    if (type == BORA_Q3_K) {
        // Pairs 0–2: whole codes in plane v; pair 3: bit p of each code in bits 3 and 7 of plane p.
        if (v < 3) {
            *even = plane_bits(q + 64 * v, 0, 0x07);
            *odd = plane_bits(q + 64 * v, 4, 0x07);
        } else {
            *even = or3(plane_bits(q, 3, 0x01), plane_bits(q + 64, 2, 0x02), plane_bits(q + 128, 1, 0x04));
            *odd = or3(plane_bits(q, 7, 0x01), plane_bits(q + 64, 6, 0x02), plane_bits(q + 128, 5, 0x04));
        }
        return;
    }
    if (type == BORA_Q5_0 || type == BORA_Q5_1 || type == BORA_Q5_K) {
        // Whole codes in planes 0–4 (bits 0–4); the codes of elements 20–23, 24–27 and 28–31 in
        // their spare bits.
        if (v < 2) {
            *even = plane_bits(q + 128 * v, 0, 0x1F);
            *odd = plane_bits(q + 128 * v + 64, 0, 0x1F);
        } else if (v == 2) {
            *even = plane_bits(q + 256, 0, 0x1F);
            *odd = _mm512_or_si512(plane_bits(q, 5, 0x07), plane_bits(q + 64, 2, 0x18));
        } else {
            *even = or3(plane_bits(q + 64, 7, 0x01), plane_bits(q + 128, 4, 0x0E), plane_bits(q + 192, 1, 0x10));
            *odd = _mm512_or_si512(plane_bits(q + 192, 6, 0x03), plane_bits(q + 256, 3, 0x1C));
        }
        return;
    }
    if (type == BORA_Q6_K) {
        // Pairs 0–2: whole codes in planes 2v and 2v + 1; pair 3: two bits of each code in bits 6–7
        // of planes 0–2 (even) and 3–5 (odd).
        if (v < 3) {
            *even = plane_bits(q + 128 * v, 0, 0x3F);
            *odd = plane_bits(q + 128 * v + 64, 0, 0x3F);
        } else {
            *even = or3(plane_bits(q, 6, 0x03), plane_bits(q + 64, 4, 0x0C), plane_bits(q + 128, 2, 0x30));
            *odd = or3(plane_bits(q + 192, 6, 0x03), plane_bits(q + 256, 4, 0x0C), plane_bits(q + 320, 2, 0x30));
        }
        return;
    }
    const __m512i raw = _mm512_loadu_si512(q + 64 * v), mask = _mm512_set1_epi8(0x0F);
    *even = _mm512_and_si512(raw, mask);
    *odd = _mm512_and_si512(_mm512_srli_epi16(raw, 4), mask);
    if (type == BORA_IQ4_NL || type == BORA_IQ4_XS) {
        // Table values + 128, so they are unsigned like every other code.
        const __m512i table = _mm512_broadcast_i32x4(_mm_add_epi8(_mm_loadu_si128((const __m128i *)bora_iq4_values), _mm_set1_epi8((char)0x80)));
        *even = _mm512_shuffle_epi8(table, *even);
        *odd = _mm512_shuffle_epi8(table, *odd);
    }
}

/// Integer offset per activation sum: weights are stored as q + offset' so Σ q·x needs −offset·Σx.
INLINE int sum_multiplier(const int type) {
    switch (type) {
    case BORA_Q4_0: return -8;
    case BORA_Q5_0: return -16;
    case BORA_Q8_0: case BORA_IQ4_NL: case BORA_IQ4_XS: return -128;
    default: return 0;
    }
}

/// Formats with a per-row float minimum per 32 elements: w = scale·q + min.
INLINE int has_min(const int type) { return type == BORA_Q4_1 || type == BORA_Q4_K || type == BORA_Q5_1 || type == BORA_Q5_K; }

/// The f16 factors that open a super-block (or a 32-element unit): d for every format, and the
/// second one (dmin, or Q4_1/Q5_1's m) where there is one. Converted once per super-block, not per unit.
typedef struct { __m512 d, dmin; } super_factors;

INLINE super_factors super_scales(const int type, const uint8_t *base) {
    super_factors f;
    f.d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)base));
    f.dmin = has_min(type) || type == BORA_Q2_K ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(base + 32)))
                                                : _mm512_setzero_ps();
    return f;
}

/// Per-row scale and (for has_min formats) min of unit j: w = scale·q + min.
INLINE void unit_scales(const int type, const uint8_t *base, int64_t j, const super_factors *sf, __m512 *scale, __m512 *min) {
    const __m512 d = sf->d, dmin = sf->dmin;
    const int s = (int)(j & 7);
    switch (type) {
    case BORA_Q4_K: case BORA_Q5_K: {
        const __m512 sc = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(base + 64 + 16 * s))));
        const __m512 mn = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(base + 192 + 16 * s))));
        *scale = _mm512_mul_ps(d, sc);
        *min = _mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(dmin, mn));
        return;
    }
    case BORA_Q4_1: case BORA_Q5_1:
        *scale = d;
        *min = dmin;
        return;
    case BORA_IQ4_XS:
        *scale = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(base + 32 + 16 * s)))));
        *min = _mm512_setzero_ps();
        return;
    default:
        *scale = d;
        *min = _mm512_setzero_ps();
    }
}

/// The per-16 formats (Q6_K, Q3_K, Q2_K): scale (and Q2_K's min) of 16-element half t (0..15) of
/// a super-block, and the integer offset of the codes (w = scale·(q + offset) + min).
INLINE void half_scales(const int type, const uint8_t *base, int t, const super_factors *sf, __m512 *scale, __m512 *min) {
    const __m512 d = sf->d, dmin = sf->dmin;
    if (type == BORA_Q2_K) {
        const __m512i raw = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(base + 64 + 16 * t)));
        *scale = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_and_si512(raw, _mm512_set1_epi32(15))));
        *min = _mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(_mm512_srli_epi32(raw, 4))));
        return;
    }
    *scale = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(base + 32 + 16 * t)))));
    *min = _mm512_setzero_ps();
}

INLINE int per16(const int type) { return bora_scale_per_16(type); }
INLINE float half_offset(const int type) { return type == BORA_Q6_K ? -32.0f : type == BORA_Q3_K ? -4.0f : 0.0f; }

/// A unit's per-row factors: scale and min for the whole unit, or per half for per-16 formats.
typedef struct { __m512 sa, ma, sb, mb; } unit_factors;

INLINE unit_factors factors(const int type, const uint8_t *base, int64_t j, const super_factors *sf) {
    unit_factors f;
    if (per16(type)) {
        half_scales(type, base, 2 * (int)(j & 7), sf, &f.sa, &f.ma);
        half_scales(type, base, 2 * (int)(j & 7) + 1, sf, &f.sb, &f.mb);
    } else {
        unit_scales(type, base, j, sf, &f.sa, &f.ma);
        f.sb = f.mb = f.sa;
    }
    return f;
}

/// acc += the unit's contribution, from the integer sums of its two halves (per-16 formats) or
/// of its even and odd k-steps (the others, whose scale covers all 32 elements).
INLINE __m512 accumulate(const int type, __m512 acc, __m512i ia, __m512i ib, const unit_factors *f,
                         float dx, const float *s16, int32_t sum32) {
    if (per16(type)) {
        const __m512 vdx = _mm512_set1_ps(dx);
        acc = _mm512_fmadd_ps(f->sa, _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia), vdx, _mm512_set1_ps(half_offset(type) * s16[0])), acc);
        acc = _mm512_fmadd_ps(f->sb, _mm512_fmadd_ps(_mm512_cvtepi32_ps(ib), vdx, _mm512_set1_ps(half_offset(type) * s16[1])), acc);
        if (type == BORA_Q2_K) {
            acc = _mm512_fmadd_ps(f->ma, _mm512_set1_ps(s16[0]), acc);
            acc = _mm512_fmadd_ps(f->mb, _mm512_set1_ps(s16[1]), acc);
        }
        return acc;
    }
    __m512i total = _mm512_add_epi32(ia, ib);
    if (sum_multiplier(type)) total = _mm512_add_epi32(total, _mm512_set1_epi32(sum_multiplier(type) * sum32));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total), _mm512_mul_ps(f->sa, _mm512_set1_ps(dx)), acc);
    if (has_min(type)) acc = _mm512_fmadd_ps(f->ma, _mm512_set1_ps(s16[0] + s16[1]), acc);
    return acc;
}

/// Σ code·x of one unit into two accumulators: halves (elements 0–15, 16–31) for per-16 formats,
/// even and odd k-steps otherwise (two independent chains either way).
INLINE void unit_dots(const int type, const uint8_t *q, const int32_t *x4, __m512i *ia, __m512i *ib) {
    for (int v = 0; v < 4; v++) {
        __m512i even, odd;
        load_pair(type, q, v, &even, &odd);
        const __m512i xe = _mm512_set1_epi32(x4[2 * v]), xo = _mm512_set1_epi32(x4[2 * v + 1]);
        if (per16(type)) {
            __m512i *h = v < 2 ? ia : ib;
            *h = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(*h, even, xe), odd, xo);
        } else {
            *ia = _mm512_dpbusd_epi32(*ia, even, xe);
            *ib = _mm512_dpbusd_epi32(*ib, odd, xo);
        }
    }
}

/// Decode: one activation row, groups [g0, g1) streamed once, prefetching ahead.
INLINE void gemv(const int type, const uint8_t *packed, int64_t k, int64_t g0, int64_t g1, const int8_t *xq,
                 const float *xd, const float *xs16, const int32_t *xsum, float *out) {
    const int64_t units = k / 32;
    const int ups = bora_units_per_super(type);
    const int64_t stride = bora_super_bytes(type) / ups;
    for (int64_t g = g0; g < g1; g++) {
        __m512 acc = _mm512_setzero_ps();
        // The group's super-blocks lie end to end: prefetch along them, scales included.
        const uint8_t *ahead = bora_unit_base(type, packed, units, g, 0) + BORA_PREFETCH_DISTANCE;
        for (int64_t j0 = 0; j0 < units; j0 += ups) {
            const uint8_t *base = bora_unit_base(type, packed, units, g, j0);
            const super_factors sf = super_scales(type, base);
            for (int64_t j = j0; j < j0 + ups; j++) {
                const uint8_t *q = bora_unit_weights(type, base, j);
                for (int64_t o = 0; o < stride; o += 64) _mm_prefetch((const char *)(ahead + o), _MM_HINT_T0);
                ahead += stride;
                __m512i ia = _mm512_setzero_si512(), ib = _mm512_setzero_si512();
                unit_dots(type, q, (const int32_t *)(xq + 32 * j), &ia, &ib);
                const unit_factors f = factors(type, base, j, &sf);
                acc = accumulate(type, acc, ia, ib, &f, xd[j], xs16 + 2 * j, xsum[j]);
            }
        }
        _mm512_storeu_ps(out + 16 * g, acc);
    }
}

/// k-step pair v (of 4) of a unit for the prompt tile: the NZ groups' codes against each of the M
/// activation rows, into `acc`. Called with constant v and accumulator arrays, so the tile's sums
/// stay in registers (a run-time choice between two arrays kept them in memory).
INLINE void tile_dots(const int type, const int M, const int NZ, const uint8_t *const q[2], const int v,
                      const int8_t *xq, int64_t k, int64_t b0, int64_t j, __m512i acc[6][2]) {
    __m512i even[2], odd[2];
    for (int z = 0; z < NZ; z++) load_pair(type, q[z], v, &even[z], &odd[z]);
    for (int m = 0; m < M; m++) {
        const int32_t *x4 = (const int32_t *)(xq + (b0 + m) * k + 32 * j);
        const __m512i xe = _mm512_set1_epi32(x4[2 * v]), xo = _mm512_set1_epi32(x4[2 * v + 1]);
        for (int z = 0; z < NZ; z++) acc[m][z] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(acc[m][z], even[z], xe), odd[z], xo);
    }
}

/// Prompt: M activation rows × NZ groups (16·NZ weight rows), all units. `prefetch`: the first tile
/// over these groups, which streams them from memory (packed.h).
INLINE void tile(const int type, const int M, const int NZ, const uint8_t *packed, int64_t k, int64_t g, int64_t b0,
                 const int prefetch, const int8_t *xq, const float *xd, const float *xs16, const int32_t *xsum, float *out, int64_t os) {
    const int64_t units = k / 32;
    __m512 acc[6][2];
    for (int m = 0; m < M; m++)
        for (int z = 0; z < NZ; z++) acc[m][z] = _mm512_setzero_ps();
    const int ups = bora_units_per_super(type);
    const int64_t stride = bora_super_bytes(type) / ups;
    const uint8_t *base[2], *ahead[2];
    for (int z = 0; z < NZ; z++) ahead[z] = bora_unit_base(type, packed, units, g + z, 0) + BORA_PREFETCH_DISTANCE;
    super_factors sf[2];
    for (int64_t j = 0; j < units; j++) {
        const uint8_t *q[2];
        for (int z = 0; z < NZ; z++) {
            if (prefetch) for (int64_t o = 0; o < stride; o += 64) _mm_prefetch((const char *)(ahead[z] + o), _MM_HINT_T0);
            ahead[z] += stride;
            if (j % ups == 0) {
                base[z] = bora_unit_base(type, packed, units, g + z, j);
                sf[z] = super_scales(type, base[z]);
            }
            q[z] = bora_unit_weights(type, base[z], j);
        }
        // Per-16 formats keep both halves' sums; the others one sum per (row, group).
        __m512i ia[6][2], ib[6][2];
        for (int m = 0; m < M; m++)
            for (int z = 0; z < NZ; z++) ia[m][z] = ib[m][z] = _mm512_setzero_si512();
        tile_dots(type, M, NZ, q, 0, xq, k, b0, j, ia);
        tile_dots(type, M, NZ, q, 1, xq, k, b0, j, ia);
        tile_dots(type, M, NZ, q, 2, xq, k, b0, j, per16(type) ? ib : ia);
        tile_dots(type, M, NZ, q, 3, xq, k, b0, j, per16(type) ? ib : ia);
        unit_factors f[2];
        for (int z = 0; z < NZ; z++) f[z] = factors(type, base[z], j, &sf[z]);
        for (int m = 0; m < M; m++) {
            const int64_t row = (b0 + m) * units + j;
            for (int z = 0; z < NZ; z++)
                acc[m][z] = accumulate(type, acc[m][z], ia[m][z], ib[m][z], &f[z], xd[row], xs16 + 2 * row, xsum[row]);
        }
    }
    for (int m = 0; m < M; m++)
        for (int z = 0; z < NZ; z++) _mm512_storeu_ps(out + (b0 + m) * os + 16 * (g + z), acc[m][z]);
}

#define TILE_ROWS(NZ)                                                                                       \
    switch (c1 - b) {                                                                                       \
    case 5: tile(type, 5, NZ, packed, k, g, b, b == c0, xq, xd, xs16, xsum, out, os); break;                         \
    case 4: tile(type, 4, NZ, packed, k, g, b, b == c0, xq, xd, xs16, xsum, out, os); break;                         \
    case 3: tile(type, 3, NZ, packed, k, g, b, b == c0, xq, xd, xs16, xsum, out, os); break;                         \
    case 2: tile(type, 2, NZ, packed, k, g, b, b == c0, xq, xd, xs16, xsum, out, os); break;                         \
    case 1: tile(type, 1, NZ, packed, k, g, b, b == c0, xq, xd, xs16, xsum, out, os); break;                         \
    }

INLINE void matmul_packed_type(const int type, const uint8_t *packed, int64_t k, int64_t g0, int64_t g1,
                               const int8_t *xq, const float *xd, const float *xs16, const int32_t *xsum,
                               int64_t batch, float *out, int64_t os) {
    if (batch == 1) {
        gemv(type, packed, k, g0, g1, xq, xd, xs16, xsum, out);
        return;
    }
    // Activation rows in chunks that stay in L2 while the weight groups stream past them.
    for (int64_t c0 = 0; c0 < batch; c0 += 128) {
        const int64_t c1 = c0 + 128 < batch ? c0 + 128 : batch;
        int64_t g = g0;
        // Per-16 formats hold two integer sums per output: 4 activation rows keep them in registers.
        for (; g + 2 <= g1; g += 2) {
            int64_t b = c0;
            if (per16(type)) for (; b + 4 <= c1; b += 4) tile(type, 4, 2, packed, k, g, b, b == c0, xq, xd, xs16, xsum, out, os);
            else for (; b + 6 <= c1; b += 6) tile(type, 6, 2, packed, k, g, b, b == c0, xq, xd, xs16, xsum, out, os);
            TILE_ROWS(2)
        }
        for (; g < g1; g++) {
            int64_t b = c0;
            if (per16(type)) for (; b + 4 <= c1; b += 4) tile(type, 4, 1, packed, k, g, b, b == c0, xq, xd, xs16, xsum, out, os);
            else for (; b + 6 <= c1; b += 6) tile(type, 6, 1, packed, k, g, b, b == c0, xq, xd, xs16, xsum, out, os);
            TILE_ROWS(1)
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

void bora_matmul_packed_vnni(int type, const void *packed, int64_t k, int64_t g0, int64_t g1, const int8_t *xq,
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
