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

/// The weights of k-steps 2v and 2v+1 (4 elements each) of the 16 rows, as unsigned bytes.
INLINE void load_pair(const int type, const uint8_t *q, int v, __m512i *even, __m512i *odd) {
    if (type == BORA_Q8_0) {
        *even = _mm512_loadu_si512(q + 128 * v);
        *odd = _mm512_loadu_si512(q + 128 * v + 64);
    } else {
        const __m512i raw = _mm512_loadu_si512(q + 64 * v), mask = _mm512_set1_epi8(0x0F);
        *even = _mm512_and_si512(raw, mask);
        *odd = _mm512_and_si512(_mm512_srli_epi16(raw, 4), mask);
    }
}

/// Integer offset per activation sum: weights are stored as q + offset' so Σ q·x needs −offset·Σx.
INLINE int sum_multiplier(const int type) {
    return type == BORA_Q4_0 ? -8 : type == BORA_Q8_0 ? -128 : 0;
}

/// Per-row scale and (for Q4_1, Q4_K) min of unit j: w = scale·q + min.
INLINE void unit_scales(const int type, const uint8_t *base, int64_t j, __m512 *scale, __m512 *min) {
    switch (type) {
    case BORA_Q4_K: {
        const int s = (int)(j & 7);
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)base));
        const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(base + 32)));
        const __m512 sc = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(base + 64 + 16 * s))));
        const __m512 mn = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(base + 192 + 16 * s))));
        *scale = _mm512_mul_ps(d, sc);
        *min = _mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(dmin, mn));
        return;
    }
    case BORA_Q4_1:
        *scale = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)base));
        *min = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(base + 32)));
        return;
    default:
        *scale = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)base));
        *min = _mm512_setzero_ps();
    }
}

INLINE int has_min(const int type) { return type == BORA_Q4_1 || type == BORA_Q4_K; }

/// Decode: one activation row, groups [g0, g1) streamed once, prefetching ahead.
INLINE void gemv(const int type, const uint8_t *packed, int64_t k, int64_t g0, int64_t g1, const int8_t *xq,
                 const float *xd, const float *xs16, const int32_t *xsum, float *out) {
    const int64_t units = k / 32;
    const int64_t stride = type == BORA_Q4_K ? 2368 / 8 : bora_unit_bytes(type);
    for (int64_t g = g0; g < g1; g++) {
        __m512 acc = _mm512_setzero_ps();
        for (int64_t j = 0; j < units; j++) {
            const uint8_t *base = bora_unit_base(type, packed, units, g, j);
            const uint8_t *q = bora_unit_weights(type, base, j);
            for (int64_t o = 0; o < stride; o += 64) _mm_prefetch((const char *)(q + 4096 + o), _MM_HINT_T0);
            const int32_t *x4 = (const int32_t *)(xq + 32 * j);
            __m512i ia = _mm512_set1_epi32(sum_multiplier(type) * xsum[j]), ib = _mm512_setzero_si512();
            for (int v = 0; v < 4; v++) {
                __m512i even, odd;
                load_pair(type, q, v, &even, &odd);
                ia = _mm512_dpbusd_epi32(ia, even, _mm512_set1_epi32(x4[2 * v]));
                ib = _mm512_dpbusd_epi32(ib, odd, _mm512_set1_epi32(x4[2 * v + 1]));
            }
            __m512 scale, min;
            unit_scales(type, base, j, &scale, &min);
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(ia, ib)), _mm512_mul_ps(scale, _mm512_set1_ps(xd[j])), acc);
            if (has_min(type)) acc = _mm512_fmadd_ps(min, _mm512_set1_ps(xs16[2 * j] + xs16[2 * j + 1]), acc);
        }
        _mm512_storeu_ps(out + 16 * g, acc);
    }
}

/// Prompt: M activation rows × NZ groups (16·NZ weight rows), all units.
INLINE void tile(const int type, const int M, const int NZ, const uint8_t *packed, int64_t k, int64_t g, int64_t b0,
                 const int8_t *xq, const float *xd, const float *xs16, const int32_t *xsum, float *out, int64_t os) {
    const int64_t units = k / 32;
    __m512 acc[6][2];
    for (int m = 0; m < M; m++)
        for (int z = 0; z < NZ; z++) acc[m][z] = _mm512_setzero_ps();
    for (int64_t j = 0; j < units; j++) {
        const uint8_t *base[2], *q[2];
        for (int z = 0; z < NZ; z++) {
            base[z] = bora_unit_base(type, packed, units, g + z, j);
            q[z] = bora_unit_weights(type, base[z], j);
        }
        __m512i ia[6][2];
        for (int m = 0; m < M; m++) {
            const __m512i init = _mm512_set1_epi32(sum_multiplier(type) * xsum[(b0 + m) * units + j]);
            for (int z = 0; z < NZ; z++) ia[m][z] = init;
        }
        for (int v = 0; v < 4; v++) {
            __m512i even[2], odd[2];
            for (int z = 0; z < NZ; z++) load_pair(type, q[z], v, &even[z], &odd[z]);
            for (int m = 0; m < M; m++) {
                const int32_t *x4 = (const int32_t *)(xq + (b0 + m) * k + 32 * j);
                const __m512i xe = _mm512_set1_epi32(x4[2 * v]), xo = _mm512_set1_epi32(x4[2 * v + 1]);
                for (int z = 0; z < NZ; z++) {
                    ia[m][z] = _mm512_dpbusd_epi32(ia[m][z], even[z], xe);
                    ia[m][z] = _mm512_dpbusd_epi32(ia[m][z], odd[z], xo);
                }
            }
        }
        __m512 scale[2], min[2];
        for (int z = 0; z < NZ; z++) unit_scales(type, base[z], j, &scale[z], &min[z]);
        for (int m = 0; m < M; m++) {
            const int64_t row = (b0 + m) * units + j;
            const __m512 dx = _mm512_set1_ps(xd[row]);
            for (int z = 0; z < NZ; z++) {
                acc[m][z] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[m][z]), _mm512_mul_ps(scale[z], dx), acc[m][z]);
                if (has_min(type)) acc[m][z] = _mm512_fmadd_ps(min[z], _mm512_set1_ps(xs16[2 * row] + xs16[2 * row + 1]), acc[m][z]);
            }
        }
    }
    for (int m = 0; m < M; m++)
        for (int z = 0; z < NZ; z++) _mm512_storeu_ps(out + (b0 + m) * os + 16 * (g + z), acc[m][z]);
}

#define TILE_ROWS(NZ)                                                                                       \
    switch (c1 - b) {                                                                                       \
    case 5: tile(type, 5, NZ, packed, k, g, b, xq, xd, xs16, xsum, out, os); break;                         \
    case 4: tile(type, 4, NZ, packed, k, g, b, xq, xd, xs16, xsum, out, os); break;                         \
    case 3: tile(type, 3, NZ, packed, k, g, b, xq, xd, xs16, xsum, out, os); break;                         \
    case 2: tile(type, 2, NZ, packed, k, g, b, xq, xd, xs16, xsum, out, os); break;                         \
    case 1: tile(type, 1, NZ, packed, k, g, b, xq, xd, xs16, xsum, out, os); break;                         \
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
        for (; g + 2 <= g1; g += 2) {
            int64_t b = c0;
            for (; b + 6 <= c1; b += 6) tile(type, 6, 2, packed, k, g, b, xq, xd, xs16, xsum, out, os);
            TILE_ROWS(2)
        }
        for (; g < g1; g++) {
            int64_t b = c0;
            for (; b + 6 <= c1; b += 6) tile(type, 6, 1, packed, k, g, b, xq, xd, xs16, xsum, out, os);
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

void bora_matmul_packed_vnni(int type, const void *packed, int64_t k, int64_t g0, int64_t g1, const int8_t *xq,
                        const float *xd, const float *xs16, const int32_t *xsum, int64_t batch, float *out, int64_t os) {
    switch (type) {
    case BORA_Q4_0: packed_q4_0(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q4_1: packed_q4_1(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q8_0: packed_q8_0(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q4_K: packed_q4_k(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    }
}

#endif
