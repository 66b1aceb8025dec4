// Matrix products on weights repacked for AVX-512 VNNI (see CBoraKernels.h).
//
// Why repack: with ggml's row-major blocks every row's scale is a scalar and every dot product
// needs its own horizontal reduction. Interleaving 16 rows puts one row in each 32-bit lane: a
// single vpdpbusd multiplies 4 activations (broadcast) with 4 weights of each of 16 rows, the 16
// block scales load as one vector, and nothing is reduced horizontally (measurements: README,
// performance section).
//
// Layout of one group of 16 rows, unit by unit (a unit is 32 elements of every row):
//   Q4_0: 16 × f16 d,                 4 × 64 B of nibbles                 (288 B)
//   Q4_1: 16 × f16 d, 16 × f16 m,     4 × 64 B of nibbles                 (320 B)
//   Q8_0: 16 × f16 d,                 8 × 64 B of weights + 128 (unsigned) (544 B)
//   Q4_K: per 256-element super-block: 16 × f16 d, 16 × f16 dmin, 8 × 16 sub-block scales,
//         8 × 16 sub-block mins (u8), then 8 units of 4 × 64 B of nibbles  (2368 B)
// In a 64-byte vector of nibbles, byte 4·l + b (row l) holds element 8v + b in its low nibble and
// element 8v + 4 + b in its high nibble; for Q8_0, vector s holds elements 4s..4s+3 of each row.
#include "CBoraKernels.h"
#include "blocks.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline)) TARGET

static int64_t unit_bytes(int type) {
    switch (type) {
    case BORA_Q4_0: return 288;
    case BORA_Q4_1: return 320;
    case BORA_Q8_0: return 544;
    case BORA_Q4_K: return 2368;  // per super-block of 8 units
    default: return 0;
    }
}

int bora_packed_supported(int type) {
    if (bora_isa() < BORA_ISA_AVX512_VNNI) return 0;
    return type == BORA_Q4_0 || type == BORA_Q4_1 || type == BORA_Q8_0 || type == BORA_Q4_K;
}

size_t bora_packed_bytes(int type, int64_t groups, int64_t k) {
    int64_t units = type == BORA_Q4_K ? k / 256 : k / 32;
    return (size_t)(groups * units * unit_bytes(type));
}

// ---- Packing (scalar: runs once at load) ----

static inline uint8_t nibble(int type, const uint8_t *row, int64_t unit, int e) {
    if (type == BORA_Q4_K) {
        const uint8_t *b = row + (unit / 8) * 144;
        int sub = (int)(unit % 8);
        uint8_t byte = b[16 + 32 * (sub / 2) + e];
        return (sub & 1) ? byte >> 4 : byte & 0xF;
    }
    const uint8_t *qs = row + unit * (type == BORA_Q4_0 ? 18 : 20) + (type == BORA_Q4_0 ? 2 : 4);
    return e < 16 ? qs[e] & 0xF : qs[e - 16] >> 4;
}

static void pack_nibbles(int type, const uint8_t *w, size_t row_bytes, int64_t unit, int64_t g, uint8_t *out) {
    for (int v = 0; v < 4; v++)
        for (int l = 0; l < 16; l++) {
            const uint8_t *row = w + (size_t)(16 * g + l) * row_bytes;
            for (int b = 0; b < 4; b++)
                out[64 * v + 4 * l + b] = nibble(type, row, unit, 8 * v + b) | (uint8_t)(nibble(type, row, unit, 8 * v + 4 + b) << 4);
        }
}

void bora_pack(int type, const void *weights, size_t row_bytes, int64_t k, int64_t g0, int64_t g1, void *packed) {
    const uint8_t *w = weights;
    uint8_t *p = packed;
    if (type == BORA_Q4_K) {
        int64_t supers = k / 256;
        for (int64_t g = g0; g < g1; g++)
            for (int64_t J = 0; J < supers; J++) {
                uint8_t *o = p + (size_t)(g * supers + J) * 2368;
                for (int l = 0; l < 16; l++) {
                    const uint8_t *b = w + (size_t)(16 * g + l) * row_bytes + J * 144;
                    memcpy(o + 2 * l, b, 2);
                    memcpy(o + 32 + 2 * l, b + 2, 2);
                    for (int s = 0; s < 8; s++) bora_scale_min_k4(s, b + 4, o + 64 + 16 * s + l, o + 192 + 16 * s + l);
                }
                for (int s = 0; s < 8; s++) pack_nibbles(type, w, row_bytes, 8 * J + s, g, o + 320 + 256 * s);
            }
        return;
    }
    int64_t units = k / 32, ub = unit_bytes(type);
    int bb = bora_block_bytes(type);
    for (int64_t g = g0; g < g1; g++)
        for (int64_t j = 0; j < units; j++) {
            uint8_t *o = p + (size_t)(g * units + j) * ub;
            for (int l = 0; l < 16; l++) {
                const uint8_t *b = w + (size_t)(16 * g + l) * row_bytes + j * bb;
                memcpy(o + 2 * l, b, 2);
                if (type == BORA_Q4_1) memcpy(o + 32 + 2 * l, b + 2, 2);
            }
            if (type == BORA_Q8_0) {
                for (int s = 0; s < 8; s++)
                    for (int l = 0; l < 16; l++) {
                        const uint8_t *b = w + (size_t)(16 * g + l) * row_bytes + j * 34 + 2;
                        for (int e = 0; e < 4; e++) o[32 + 64 * s + 4 * l + e] = (uint8_t)(b[4 * s + e] + 128);
                    }
            } else {
                pack_nibbles(type, w, row_bytes, j, g, o + (type == BORA_Q4_0 ? 32 : 64));
            }
        }
}

// ---- Kernels ----

/// Where unit j of group g starts (its scales) and where its weights start.
INLINE const uint8_t *unit_base(const int type, const uint8_t *packed, int64_t units, int64_t g, int64_t j) {
    if (type == BORA_Q4_K) return packed + (size_t)(g * (units / 8) + j / 8) * 2368;
    return packed + (size_t)(g * units + j) * unit_bytes(type);
}

INLINE const uint8_t *unit_weights(const int type, const uint8_t *base, int64_t j) {
    switch (type) {
    case BORA_Q4_K: return base + 320 + 256 * (j & 7);
    case BORA_Q4_1: return base + 64;
    default: return base + 32;
    }
}

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
    const int64_t stride = type == BORA_Q4_K ? 2368 / 8 : unit_bytes(type);
    for (int64_t g = g0; g < g1; g++) {
        __m512 acc = _mm512_setzero_ps();
        for (int64_t j = 0; j < units; j++) {
            const uint8_t *base = unit_base(type, packed, units, g, j);
            const uint8_t *q = unit_weights(type, base, j);
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
            base[z] = unit_base(type, packed, units, g + z, j);
            q[z] = unit_weights(type, base[z], j);
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

void bora_matmul_packed(int type, const void *packed, int64_t k, int64_t g0, int64_t g1, const int8_t *xq,
                        const float *xd, const float *xs16, const int32_t *xsum, int64_t batch, float *out, int64_t os) {
    switch (type) {
    case BORA_Q4_0: packed_q4_0(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q4_1: packed_q4_1(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q8_0: packed_q8_0(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q4_K: packed_q4_k(packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    }
}

#else

int bora_packed_supported(int type) { (void)type; return 0; }
size_t bora_packed_bytes(int type, int64_t groups, int64_t k) { (void)type; (void)groups; (void)k; return 0; }
void bora_pack(int type, const void *w, size_t row_bytes, int64_t k, int64_t g0, int64_t g1, void *packed) {
    (void)type; (void)w; (void)row_bytes; (void)k; (void)g0; (void)g1; (void)packed;
}
void bora_matmul_packed(int type, const void *packed, int64_t k, int64_t g0, int64_t g1, const int8_t *xq,
                        const float *xd, const float *xs16, const int32_t *xsum, int64_t batch, float *out, int64_t os) {
    (void)type; (void)packed; (void)k; (void)g0; (void)g1; (void)xq; (void)xd; (void)xs16; (void)xsum; (void)batch; (void)out; (void)os;
}
#endif
