// Products on repacked F16 and BF16 weights (layout: pack.c), AVX-512 and AVX2.
//
// F16: every product is an FMA of an F16C-converted weight with the F32 activation (no rounding of
// the activations). BF16 with AVX-512 BF16: vdpbf16ps multiplies pairs of BF16 weights with pairs of
// activations rounded to BF16 (as llama.cpp does for BF16 weights), 32 products per instruction,
// twice the rate of F32 FMAs; without it, BF16 weights widen to F32 exactly and use FMAs.
//
// Every output is one accumulation chain over k in order, in decode and in prompt tiles alike, so a
// row's result does not depend on how many activation rows are multiplied at once.
#if defined(__x86_64__)
#include "CBoraKernels.h"
#include "blocks.h"
#include "packed.h"
#include <immintrin.h>

#define TARGET512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")))
#define INLINE512 static inline __attribute__((always_inline)) TARGET512
#define TARGET256 __attribute__((target("avx2,fma,f16c")))
#define INLINE256 static inline __attribute__((always_inline)) TARGET256

/// Decode, and the first tile of a step over these groups, streams each of `count` groups from byte
/// `offset`: prefetch the line BORA_PREFETCH_DISTANCE ahead in each (packed.h), into L2. Rows left
/// after the 6-row (4-row on AVX2) tiles go in one tile rather than one tile each: on the 1.1B F16
/// file, steps of 2–5 rows ran 1.3–2.0× faster (same pairing as packed.h).
static inline __attribute__((always_inline)) void prefetch_groups(const uint8_t *packed, int64_t g, int count,
                                                                  size_t group_bytes, int64_t offset) {
    for (int z = 0; z < count; z++)
        _mm_prefetch((const char *)(packed + (g + z) * group_bytes + offset + BORA_PREFETCH_DISTANCE), _MM_HINT_T1);
}

// ---- AVX-512: M activation rows × NZ groups of 16 weight rows ----

INLINE512 void tile512(const int type, const int bf16, const int M, const int NZ, const uint8_t *packed, int64_t k,
                       int64_t g, int64_t b0, const int prefetch, const float *x, const uint16_t *xb, float *out, int64_t os) {
    __m512 acc[6][4];
    for (int m = 0; m < M; m++)
        for (int z = 0; z < NZ; z++) acc[m][z] = _mm512_setzero_ps();
    const size_t group_bytes = (size_t)k * 32;
    if (type == BORA_BF16 && bf16) {
        for (int64_t p = 0; p < k / 2; p++) {
            __m512i w[4];
            for (int z = 0; z < NZ; z++) w[z] = _mm512_loadu_si512(packed + (g + z) * group_bytes + 64 * p);
            if (prefetch) prefetch_groups(packed, g, NZ, group_bytes, 64 * p);
            for (int m = 0; m < M; m++) {
                int32_t pair;
                memcpy(&pair, xb + (b0 + m) * k + 2 * p, 4);
                const __m512i xv = _mm512_set1_epi32(pair);
                for (int z = 0; z < NZ; z++) acc[m][z] = _mm512_dpbf16_ps(acc[m][z], (__m512bh)w[z], (__m512bh)xv);
            }
        }
    } else if (type == BORA_BF16) {
        const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
        for (int64_t p = 0; p < k / 2; p++) {
            __m512 lo[4], hi[4];
            for (int z = 0; z < NZ; z++) {
                const __m512i v = _mm512_loadu_si512(packed + (g + z) * group_bytes + 64 * p);
                lo[z] = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
                hi[z] = _mm512_castsi512_ps(_mm512_and_si512(v, high));
            }
            if (prefetch) prefetch_groups(packed, g, NZ, group_bytes, 64 * p);
            for (int m = 0; m < M; m++) {
                const __m512 x0 = _mm512_set1_ps(x[(b0 + m) * k + 2 * p]), x1 = _mm512_set1_ps(x[(b0 + m) * k + 2 * p + 1]);
                for (int z = 0; z < NZ; z++) acc[m][z] = _mm512_fmadd_ps(hi[z], x1, _mm512_fmadd_ps(lo[z], x0, acc[m][z]));
            }
        }
    } else {
        for (int64_t e = 0; e < k; e++) {
            __m512 w[4];
            for (int z = 0; z < NZ; z++) w[z] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(packed + (g + z) * group_bytes + 32 * e)));
            if (prefetch && (e & 1) == 0) prefetch_groups(packed, g, NZ, group_bytes, 32 * e);
            for (int m = 0; m < M; m++) {
                const __m512 xv = _mm512_set1_ps(x[(b0 + m) * k + e]);
                for (int z = 0; z < NZ; z++) acc[m][z] = _mm512_fmadd_ps(w[z], xv, acc[m][z]);
            }
        }
    }
    for (int m = 0; m < M; m++)
        for (int z = 0; z < NZ; z++) _mm512_storeu_ps(out + (b0 + m) * os + 16 * (g + z), acc[m][z]);
}

// The rows left after the 6-row tiles, in one tile (each weight load serves all of them).
#define TILE512_ROWS(NZ)                                                                                            \
    switch (c1 - b) {                                                                                                \
    case 5: tile512(type, bf16, 5, NZ, packed, k, g, b, b == c0, x, xb, out, os); break;                            \
    case 4: tile512(type, bf16, 4, NZ, packed, k, g, b, b == c0, x, xb, out, os); break;                            \
    case 3: tile512(type, bf16, 3, NZ, packed, k, g, b, b == c0, x, xb, out, os); break;                            \
    case 2: tile512(type, bf16, 2, NZ, packed, k, g, b, b == c0, x, xb, out, os); break;                            \
    case 1: tile512(type, bf16, 1, NZ, packed, k, g, b, b == c0, x, xb, out, os); break;                            \
    }

INLINE512 void matmul512(const int type, const int bf16, const uint8_t *packed, int64_t k, int64_t g0, int64_t g1,
                         const float *x, const uint16_t *xb, int64_t batch, float *out, int64_t os) {
    if (batch == 1) {
        // Decode: 4 groups at a time are 4 independent chains (latency hidden), each still in k order.
        int64_t g = g0;
        for (; g + 4 <= g1; g += 4) tile512(type, bf16, 1, 4, packed, k, g, 0, 1, x, xb, out, os);
        for (; g < g1; g++) tile512(type, bf16, 1, 1, packed, k, g, 0, 1, x, xb, out, os);
        return;
    }
    for (int64_t c0 = 0; c0 < batch; c0 += 64) {
        const int64_t c1 = c0 + 64 < batch ? c0 + 64 : batch;
        int64_t g = g0;
        // BF16 dot products: 4 groups × 6 rows, 24 accumulators, so each pass over k loads 10
        // vectors per 24 vdpbf16ps (measured +3% on the 1.1B BF16 pp512 against 2 groups).
        for (; bf16 && g + 4 <= g1; g += 4) {
            int64_t b = c0;
            for (; b + 6 <= c1; b += 6) tile512(type, bf16, 6, 4, packed, k, g, b, b == c0, x, xb, out, os);
            TILE512_ROWS(4)
        }
        for (; g + 2 <= g1; g += 2) {
            int64_t b = c0;
            for (; b + 6 <= c1; b += 6) tile512(type, bf16, 6, 2, packed, k, g, b, b == c0, x, xb, out, os);
            TILE512_ROWS(2)
        }
        for (; g < g1; g++) {
            int64_t b = c0;
            for (; b + 6 <= c1; b += 6) tile512(type, bf16, 6, 1, packed, k, g, b, b == c0, x, xb, out, os);
            TILE512_ROWS(1)
        }
    }
}

TARGET512 static void f16_512(const uint8_t *p, int64_t k, int64_t g0, int64_t g1, const float *x, int64_t batch, float *out, int64_t os) {
    matmul512(BORA_F16, 0, p, k, g0, g1, x, NULL, batch, out, os);
}
TARGET512 static void bf16_512_dot(const uint8_t *p, int64_t k, int64_t g0, int64_t g1, const uint16_t *xb, int64_t batch, float *out, int64_t os) {
    matmul512(BORA_BF16, 1, p, k, g0, g1, NULL, xb, batch, out, os);
}

// ---- AVX2: M activation rows × the two 8-row halves of one group ----

INLINE256 void tile256(const int type, const int M, const int NG, const uint8_t *packed, int64_t k, int64_t g, int64_t b0,
                       const int prefetch, const float *x, float *out, int64_t os) {
    __m256 acc[4][4];
    for (int m = 0; m < M; m++)
        for (int h = 0; h < 2 * NG; h++) acc[m][h] = _mm256_setzero_ps();
    const size_t group_bytes = (size_t)k * 32;
    if (type == BORA_BF16) {
        const __m256i high = _mm256_set1_epi32((int)0xFFFF0000u);
        for (int64_t p = 0; p < k / 2; p++) {
            __m256 lo[4], hi[4];
            for (int h = 0; h < 2 * NG; h++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(packed + (g + h / 2) * group_bytes + 64 * p + 32 * (h & 1)));
                lo[h] = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
                hi[h] = _mm256_castsi256_ps(_mm256_and_si256(v, high));
            }
            if (prefetch) prefetch_groups(packed, g, NG, group_bytes, 64 * p);
            for (int m = 0; m < M; m++) {
                const __m256 x0 = _mm256_set1_ps(x[(b0 + m) * k + 2 * p]), x1 = _mm256_set1_ps(x[(b0 + m) * k + 2 * p + 1]);
                for (int h = 0; h < 2 * NG; h++) acc[m][h] = _mm256_fmadd_ps(hi[h], x1, _mm256_fmadd_ps(lo[h], x0, acc[m][h]));
            }
        }
    } else {
        for (int64_t e = 0; e < k; e++) {
            __m256 w[4];
            for (int h = 0; h < 2 * NG; h++)
                w[h] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(packed + (g + h / 2) * group_bytes + 32 * e + 16 * (h & 1))));
            if (prefetch && (e & 1) == 0) prefetch_groups(packed, g, NG, group_bytes, 32 * e);
            for (int m = 0; m < M; m++) {
                const __m256 xv = _mm256_set1_ps(x[(b0 + m) * k + e]);
                for (int h = 0; h < 2 * NG; h++) acc[m][h] = _mm256_fmadd_ps(w[h], xv, acc[m][h]);
            }
        }
    }
    for (int m = 0; m < M; m++)
        for (int h = 0; h < 2 * NG; h++) _mm256_storeu_ps(out + (b0 + m) * os + 16 * g + 8 * h, acc[m][h]);
}

INLINE256 void matmul256(const int type, const uint8_t *packed, int64_t k, int64_t g0, int64_t g1, const float *x,
                         int64_t batch, float *out, int64_t os) {
    if (batch == 1) {
        int64_t g = g0;
        for (; g + 2 <= g1; g += 2) tile256(type, 1, 2, packed, k, g, 0, 1, x, out, os);
        for (; g < g1; g++) tile256(type, 1, 1, packed, k, g, 0, 1, x, out, os);
        return;
    }
    for (int64_t c0 = 0; c0 < batch; c0 += 64) {
        const int64_t c1 = c0 + 64 < batch ? c0 + 64 : batch;
        for (int64_t g = g0; g < g1; g++) {
            int64_t b = c0;
            for (; b + 4 <= c1; b += 4) tile256(type, 4, 1, packed, k, g, b, b == c0, x, out, os);
            switch (c1 - b) {
            case 3: tile256(type, 3, 1, packed, k, g, b, b == c0, x, out, os); break;
            case 2: tile256(type, 2, 1, packed, k, g, b, b == c0, x, out, os); break;
            case 1: tile256(type, 1, 1, packed, k, g, b, b == c0, x, out, os); break;
            }
        }
    }
}

TARGET256 static void f16_256(const uint8_t *p, int64_t k, int64_t g0, int64_t g1, const float *x, int64_t batch, float *out, int64_t os) {
    matmul256(BORA_F16, p, k, g0, g1, x, batch, out, os);
}
TARGET256 static void bf16_256(const uint8_t *p, int64_t k, int64_t g0, int64_t g1, const float *x, int64_t batch, float *out, int64_t os) {
    matmul256(BORA_BF16, p, k, g0, g1, x, batch, out, os);
}
TARGET512 static void bf16_512_fma(const uint8_t *p, int64_t k, int64_t g0, int64_t g1, const float *x, int64_t batch, float *out, int64_t os) {
    matmul512(BORA_BF16, 0, p, k, g0, g1, x, NULL, batch, out, os);
}

// ---- Activations rounded to BF16 (round to nearest even, as vcvtneps2bf16 does) ----

TARGET512 static void to_bf16_512(const float *x, uint16_t *y, size_t n) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
        _mm512_storeu_si512(y + i, (__m512i)v);
    }
    for (; i < n; i++) y[i] = bora_bf16_from_float(x[i]);
}

void bora_matmul_packed_float_avx(int bf16_dot, int wide, int type, const void *packed, int64_t k, int64_t g0, int64_t g1,
                                  const float *x, const uint16_t *xb, int64_t batch, float *out, int64_t os) {
    if (type == BORA_F16) {
        if (wide) f16_512(packed, k, g0, g1, x, batch, out, os);
        else f16_256(packed, k, g0, g1, x, batch, out, os);
    } else if (bf16_dot) {
        bf16_512_dot(packed, k, g0, g1, xb, batch, out, os);
    } else if (wide) {
        bf16_512_fma(packed, k, g0, g1, x, batch, out, os);
    } else {
        bf16_256(packed, k, g0, g1, x, batch, out, os);
    }
}

void bora_to_bf16_avx512(const float *x, uint16_t *y, size_t n) { to_bf16_512(x, y, n); }
#endif
