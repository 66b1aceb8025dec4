// Attention over one tile of keys with an online softmax (flash-attention style): no row of scores
// longer than a tile is ever held. The caller walks the key tiles of a query block in time order,
// tiles aligned to absolute positions (multiples of BORA_KEY_TILE), and keeps each query row's running
// maximum m, sum of weights l and unnormalized output o between tiles.
//
// A row's arithmetic depends only on its query, its visible keys and the tile boundaries, never on
// the other rows it is computed with: decode (one token) and any chunking of a prompt give the same
// bits. The body is written once on 16-float vectors (clang's vector extension) and compiled per
// instruction set: AVX-512 and AVX2 (both with FMA, so they agree bit for bit) and portable. On
// arm64 the portable body is NEON code already (each 16-float vector is four NEON registers, and
// NEON is part of every arm64 CPU); there it also reads F16 caches directly (fcvtl is exact).
#include "CBoraKernels.h"
#include <string.h>

// The 16-float helpers are static and always inlined into their kernel, so passing vectors between
// them never crosses a calling convention (which -Wpsabi warns about for the AVX2 and portable copies).
#pragma clang diagnostic ignored "-Wpsabi"

typedef float vf16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));

#define BODY(NAME, TARGET)                                                                                  \
    TARGET static inline __attribute__((always_inline)) vf16 NAME##_load(const float *p) { vf16 v; memcpy(&v, p, 64); return v; }          \
    TARGET static inline __attribute__((always_inline)) void NAME##_store(float *p, vf16 v) { memcpy(p, &v, 64); }                         \
    TARGET static inline __attribute__((always_inline)) float NAME##_hsum(vf16 v) {                                                        \
        typedef float vf8 __attribute__((vector_size(32)));                                                  \
        typedef float vf4 __attribute__((vector_size(16)));                                                  \
        vf8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15); \
        vf4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);       \
        return (b[0] + b[2]) + (b[1] + b[3]);                                                                \
    }                                                                                                       \
    /* e^x for x ≤ 0 (Cephes' expf polynomial; relative error ~1e-7); NaN stays NaN, so a broken */   \
    /* score reaches the output instead of weighing 0. */                                                \
    TARGET static inline __attribute__((always_inline)) vf16 NAME##_exp(vf16 x) {                                                          \
        const vi16 nan = x != x;                                                                             \
        x = __builtin_elementwise_max(x, (vf16){} - 87.0f);                                                  \
        vf16 t = x * 1.44269504088896341f;                                                                   \
        vf16 n = t + 12582912.0f;                                                                            \
        n = n - 12582912.0f;                                                                                 \
        vf16 r = x - n * 0.693359375f;                                                                       \
        r = r - n * -2.12194440e-4f;                                                                         \
        vf16 p = r * 1.9875691500e-4f + 1.3981999507e-3f;                                                    \
        p = p * r + 8.3334519073e-3f;                                                                        \
        p = p * r + 4.1665795894e-2f;                                                                        \
        p = p * r + 1.6666665459e-1f;                                                                        \
        p = p * r + 5.0000001201e-1f;                                                                        \
        vf16 y = p * (r * r) + r + 1.0f;                                                                     \
        vi16 e = (__builtin_convertvector(n, vi16) + 127) << 23;                                             \
        vf16 scale;                                                                                          \
        memcpy(&scale, &e, 64);                                                                              \
        vi16 bits;                                                                                           \
        y = y * scale;                                                                                       \
        memcpy(&bits, &y, 64);                                                                               \
        bits = (bits & ~nan) | (0x7FC00000 & nan);                                                           \
        memcpy(&y, &bits, 64);                                                                               \
        return y;                                                                                            \
    }                                                                                                       \
    /* The sums of a[0..3] (reduce2x2) or a[0..15] (reduce4x4) at once, out[e] holding a[e]'s, through */ \
    /* hsum's halving tree: lanes i and i+8, then i and i+4, then i and i+2, then i and i+1. */          \
    TARGET static inline __attribute__((always_inline, unused)) void NAME##_reduce2x2(const vf16 *a, float *out) { \
        typedef float vf8 __attribute__((vector_size(32)));                                              \
        typedef float vf4 __attribute__((vector_size(16)));                                              \
        vf8 t[4], u[2];                                                                                  \
        for (int e = 0; e < 4; e++)                                                                      \
            t[e] = __builtin_shufflevector(a[e], a[e], 0, 1, 2, 3, 4, 5, 6, 7)                           \
                 + __builtin_shufflevector(a[e], a[e], 8, 9, 10, 11, 12, 13, 14, 15);                    \
        for (int e = 0; e < 2; e++)                                                                      \
            u[e] = __builtin_shufflevector(t[2 * e], t[2 * e + 1], 0, 1, 2, 3, 8, 9, 10, 11)             \
                 + __builtin_shufflevector(t[2 * e], t[2 * e + 1], 4, 5, 6, 7, 12, 13, 14, 15);          \
        const vf8 w = __builtin_shufflevector(u[0], u[1], 0, 1, 4, 5, 8, 9, 12, 13)                      \
                    + __builtin_shufflevector(u[0], u[1], 2, 3, 6, 7, 10, 11, 14, 15);                   \
        const vf4 r = __builtin_shufflevector(w, w, 0, 2, 4, 6) + __builtin_shufflevector(w, w, 1, 3, 5, 7); \
        memcpy(out, &r, 16);                                                                             \
    }                                                                                                    \
    TARGET static inline __attribute__((always_inline, unused)) void NAME##_reduce4x4(const vf16 *a, float *out) { \
        vf16 t[8], u[4], w[2];                                                                           \
        for (int e = 0; e < 8; e++)                                                                      \
            t[e] = __builtin_shufflevector(a[2 * e], a[2 * e + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) \
                 + __builtin_shufflevector(a[2 * e], a[2 * e + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31); \
        for (int e = 0; e < 4; e++)                                                                      \
            u[e] = __builtin_shufflevector(t[2 * e], t[2 * e + 1], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) \
                 + __builtin_shufflevector(t[2 * e], t[2 * e + 1], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31); \
        for (int e = 0; e < 2; e++)                                                                      \
            w[e] = __builtin_shufflevector(u[2 * e], u[2 * e + 1], 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) \
                 + __builtin_shufflevector(u[2 * e], u[2 * e + 1], 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31); \
        const vf16 r = __builtin_shufflevector(w[0], w[1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) \
                     + __builtin_shufflevector(w[0], w[1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31); \
        memcpy(out, &r, 64);                                                                             \
    }                                                                                                    \
    TARGET static inline __attribute__((always_inline)) float NAME##_dot(const float *a, const float *b, int64_t n) {                             \
        vf16 acc = {};                                                                                       \
        int64_t i = 0;                                                                                       \
        for (; i + 16 <= n; i += 16) acc += NAME##_load(a + i) * NAME##_load(b + i);                        \
        float sum = NAME##_hsum(acc);                                                                        \
        for (; i < n; i++) sum += a[i] * b[i];                                                               \
        return sum;                                                                                          \
    }                                                                                                       \
    /* Folds a later span's softmax state (m2, l2, o2) into (m, l, o): both rescaled to the larger max. */ \
    TARGET static void NAME##_merge(int64_t rows, int64_t hd, float *m, float *l, float *o,                \
                                    const float *m2, const float *l2, const float *o2) {                    \
        for (int64_t r = 0; r < rows; r++) {                                                                 \
            if (m2[r] == -__builtin_inff()) continue;                                                        \
            const float mnew = m[r] > m2[r] ? m[r] : m2[r];                                                  \
            const float a = m[r] == -__builtin_inff() ? 0.0f : NAME##_exp((vf16){} + (m[r] - mnew))[0];      \
            const float b = NAME##_exp((vf16){} + (m2[r] - mnew))[0];                                        \
            float *out = o + r * hd;                                                                         \
            const float *in = o2 + r * hd;                                                                   \
            int64_t c = 0;                                                                                   \
            for (; c + 16 <= hd; c += 16) NAME##_store(out + c, NAME##_load(out + c) * a + NAME##_load(in + c) * b); \
            for (; c < hd; c++) out[c] = out[c] * a + in[c] * b;                                             \
            l[r] = l[r] * a + l2[r] * b;                                                                     \
            m[r] = mnew;                                                                                     \
        }                                                                                                    \
    }

// The tile kernel, for keys and values in F32 (KT float) or read straight from an F16 cache (KT
// _Float16: converted exactly as they load, so both give the same bits for the same values).
#define TILE(NAME, FN, TARGET, KT, KLOAD, KDOT, SUB)                                                            \
    /* o += Σ_j p_j v_j for `count` rows (1…4) that see the same keys lo…hi: each value vector loaded */ \
    /* once for all of them, in key order for every output element. */                                  \
    TARGET static inline __attribute__((always_inline)) void FN##_values(const int count, int64_t hd, const KT *v, \
                                                                     int64_t lo, int64_t hi, const float *s, float *o) { \
        const int64_t KT_ = BORA_KEY_TILE;                                                                    \
        for (int64_t c = 0; c < hd; c += 16) {                                                               \
            vf16 acc[4];                                                                                     \
            for (int i = 0; i < count; i++) acc[i] = NAME##_load(o + i * hd + c);                            \
            for (int64_t j = lo; j <= hi; j++) {                                                             \
                const vf16 vv = KLOAD(v + j * hd + c);                                                       \
                for (int i = 0; i < count; i++) acc[i] += s[i * KT_ + j] * vv;                               \
            }                                                                                                \
            for (int i = 0; i < count; i++) NAME##_store(o + i * hd + c, acc[i]);                            \
        }                                                                                                    \
    }                                                                                                        \
    TARGET static void FN(const float *q, int64_t rows, int64_t hd, const KT *k, const KT *v,              \
                            int64_t n, int64_t kpos0, const int64_t *first, const int64_t *last, float scale, \
                            float *m, float *l, float *o, float *s) {                                        \
        const int64_t KT_ = BORA_KEY_TILE;                                                                    \
        for (int64_t r0 = 0; r0 < rows; r0 += 4) {                                                           \
            const int64_t rb = rows - r0 < 4 ? rows - r0 : 4;                                                \
            int64_t lo[4], hi[4], jlo = n, jhi = -1;                                                         \
            for (int64_t i = 0; i < rb; i++) {                                                               \
                lo[i] = first[r0 + i] - kpos0 > 0 ? first[r0 + i] - kpos0 : 0;                               \
                hi[i] = last[r0 + i] - kpos0 < n - 1 ? last[r0 + i] - kpos0 : n - 1;                         \
                if (lo[i] <= hi[i]) {                                                                        \
                    jlo = lo[i] < jlo ? lo[i] : jlo;                                                         \
                    jhi = hi[i] > jhi ? hi[i] : jhi;                                                         \
                }                                                                                            \
            }                                                                                                \
            if (jlo > jhi) continue;                                                                         \
            /* Scores, 4 rows × 4 keys at a time in SUB × SUB blocks: SUB² dot products in 16-lane   */   \
            /* partial sums, reduced together (reduce4x4, reduce2x2) by the same halving tree hsum     */   \
            /* applies to one, so a score has the same bits whichever way it was grouped. SUB is 4    */   \
            /* on AVX-512, whose 32 registers hold a 4 × 4 block's 16 accumulators, and 2 where the   */   \
            /* register file is half that (AVX2's 16 ymm, NEON's 32 q: a 16-float vector is 2 or 4 of  */   \
            /* them), which spilled a 4 × 4 block to the stack on every step of the head dimension    */   \
            /* (AVX2 measured: Benchmarks/attention-tile.sh). Rows past rb repeat row r0 and are     */   \
            /* dropped; a block of rows wholly past rb is skipped, and with SUB 2 a last lone row is  */   \
            /* scored against 4 keys at once instead of beside a copy of row r0.                      */   \
            int64_t j = jlo;                                                                         \
            if (hd % 16 == 0)                                                                        \
                for (; j + 4 <= jhi + 1; j += 4)                                                     \
                    for (int i0 = 0; i0 < 4 && i0 < rb; i0 += SUB) {                                 \
                        if (SUB == 2 && i0 + 1 == rb) {                                              \
                            /* One row left (3 query heads per KV head): 1 row × 4 keys. */          \
                            vf16 a[4];                                                               \
                            for (int e = 0; e < 4; e++) a[e] = (vf16){};                             \
                            for (int64_t c = 0; c < hd; c += 16) {                                   \
                                const vf16 qv = NAME##_load(q + (r0 + i0) * hd + c);                 \
                                for (int e = 0; e < 4; e++) a[e] += qv * KLOAD(k + (j + e) * hd + c); \
                            }                                                                        \
                            float sums[4];                                                           \
                            NAME##_reduce2x2(a, sums);                                               \
                            for (int e = 0; e < 4; e++) s[(r0 + i0) * KT_ + j + e] = sums[e] * scale; \
                            continue;                                                                \
                        }                                                                            \
                        for (int e0 = 0; e0 < 4; e0 += SUB) {                                        \
                            vf16 a[SUB * SUB];                                                       \
                            for (int e = 0; e < SUB * SUB; e++) a[e] = (vf16){};                     \
                            const float *qr[SUB];                                                    \
                            for (int i = 0; i < SUB; i++) qr[i] = q + (r0 + (i0 + i < rb ? i0 + i : 0)) * hd; \
                            for (int64_t c = 0; c < hd; c += 16) {                                   \
                                vf16 kv[SUB];                                                        \
                                for (int e = 0; e < SUB; e++) kv[e] = KLOAD(k + (j + e0 + e) * hd + c); \
                                for (int i = 0; i < SUB; i++) {                                      \
                                    const vf16 qv = NAME##_load(qr[i] + c);                          \
                                    for (int e = 0; e < SUB; e++) a[SUB * i + e] += qv * kv[e];      \
                                }                                                                    \
                            }                                                                        \
                            float sums[SUB * SUB];                                                   \
                            NAME##_reduce##SUB##x##SUB(a, sums);                                     \
                            for (int i = 0; i < SUB && i0 + i < rb; i++)                             \
                                for (int e = 0; e < SUB; e++)                                        \
                                    s[(r0 + i0 + i) * KT_ + j + e0 + e] = sums[SUB * i + e] * scale; \
                        }                                                                            \
                    }                                                                                \
            for (; j <= jhi; j++)                                                                    \
                for (int64_t i = 0; i < rb; i++)                                                     \
                    s[(r0 + i) * KT_ + j] = KDOT(q + (r0 + i) * hd, k + j * hd, hd) * scale;    \
            /* Online softmax per row, over its own visible keys; the others get weight 0. */               \
            for (int64_t i = 0; i < rb; i++) {                                                               \
                float *row = s + (r0 + i) * KT_;                                                              \
                float *out = o + (r0 + i) * hd;                                                              \
                if (lo[i] > hi[i]) {                                                                         \
                    for (int64_t j = jlo; j <= jhi; j++) row[j] = 0;                                         \
                    continue;                                                                                \
                }                                                                                            \
                /* 16 keys at a time, then the rest one by one: the order depends on lo and hi only. */ \
                float tmax = row[lo[i]];                                                                     \
                int64_t j = lo[i];                                                                           \
                if (j + 16 <= hi[i] + 1) {                                                                   \
                    vf16 vmax = NAME##_load(row + j);                                                        \
                    for (j += 16; j + 16 <= hi[i] + 1; j += 16) vmax = __builtin_elementwise_max(vmax, NAME##_load(row + j)); \
                    for (int e = 0; e < 16; e++) tmax = vmax[e] > tmax ? vmax[e] : tmax;                    \
                }                                                                                            \
                for (; j <= hi[i]; j++) tmax = row[j] > tmax ? row[j] : tmax;                                \
                const float old = m[r0 + i], mnew = old > tmax ? old : tmax;                                 \
                const float alpha = old == -__builtin_inff() ? 0.0f : NAME##_exp((vf16){} + (old - mnew))[0]; \
                vf16 vsum = {};                                                                              \
                for (j = lo[i]; j + 16 <= hi[i] + 1; j += 16) {                                              \
                    const vf16 p = NAME##_exp(NAME##_load(row + j) - mnew);                                  \
                    NAME##_store(row + j, p);                                                                \
                    vsum += p;                                                                               \
                }                                                                                            \
                float sum = NAME##_hsum(vsum);                                                               \
                if (j <= hi[i]) {                                                                            \
                    float chunk[16];                                                                         \
                    for (int e = 0; e < 16; e++) chunk[e] = j + e <= hi[i] ? row[j + e] - mnew : 0;          \
                    const vf16 p = NAME##_exp(NAME##_load(chunk));                                           \
                    for (int e = 0; j + e <= hi[i]; e++) { row[j + e] = p[e]; sum += p[e]; }                 \
                }                                                                                            \
                for (int64_t j = jlo; j < lo[i]; j++) row[j] = 0;                                            \
                for (int64_t j = hi[i] + 1; j <= jhi; j++) row[j] = 0;                                       \
                l[r0 + i] = l[r0 + i] * alpha + sum;                                                         \
                m[r0 + i] = mnew;                                                                            \
                for (int64_t c = 0; c < hd; c++) out[c] *= alpha;                                            \
            }                                                                                                \
            /* o += Σ_j p_j v_j, in key order for every output element. Rows that see the same keys */     \
            /* (the query heads of one token) share each value vector's load: the same operations per */   \
            /* element in the same order, so the same bits. */                                              \
            int same = hd % 16 == 0 && lo[0] <= hi[0];                                                       \
            for (int64_t i = 1; i < rb; i++) same = same && lo[i] == lo[0] && hi[i] == hi[0];                \
            if (same) {                                                                                      \
                /* A constant row count, so the accumulators stay in registers (a count known only at  */ \
                /* run time kept them on the stack, a store and a load on every multiply-add).          */ \
                switch (rb) {                                                                                \
                case 4: FN##_values(4, hd, v, lo[0], hi[0], s + r0 * KT_, o + r0 * hd); break;               \
                case 3: FN##_values(3, hd, v, lo[0], hi[0], s + r0 * KT_, o + r0 * hd); break;               \
                case 2: FN##_values(2, hd, v, lo[0], hi[0], s + r0 * KT_, o + r0 * hd); break;               \
                default: FN##_values(1, hd, v, lo[0], hi[0], s + r0 * KT_, o + r0 * hd); break;              \
                }                                                                                            \
                continue;                                                                                    \
            }                                                                                                \
            for (int64_t i = 0; i < rb; i++) {                                                               \
                const float *row = s + (r0 + i) * KT_;                                                        \
                float *out = o + (r0 + i) * hd;                                                              \
                if (lo[i] > hi[i]) continue;                                                                 \
                int64_t c = 0;                                                                               \
                for (; c + 16 <= hd; c += 16) {                                                              \
                    vf16 acc = NAME##_load(out + c);                                                         \
                    for (int64_t j = lo[i]; j <= hi[i]; j++) acc += row[j] * KLOAD(v + j * hd + c);     \
                    NAME##_store(out + c, acc);                                                              \
                }                                                                                            \
                for (; c < hd; c++)                                                                          \
                    for (int64_t j = lo[i]; j <= hi[i]; j++) out[c] += row[j] * (float)v[j * hd + c];               \
            }                                                                                                \
        }                                                                                                    \
    }

// The F16 loads: 16 halves converted exactly to floats, and a row's dot with a query row (head
// dimensions that are multiples of 16 only, so it is NAME##_dot's sum without its scalar tail).
#define F16_HELPERS(NAME, TARGET)                                                                           \
    typedef _Float16 NAME##_vh16 __attribute__((vector_size(32)));                                           \
    TARGET static inline __attribute__((always_inline)) vf16 NAME##_load_h(const _Float16 *p) {              \
        NAME##_vh16 h;                                                                                       \
        memcpy(&h, p, 32);                                                                                   \
        return __builtin_convertvector(h, vf16);                                                             \
    }                                                                                                       \
    TARGET static inline __attribute__((always_inline)) float NAME##_dot_h(const float *a, const _Float16 *b, int64_t n) { \
        vf16 acc = {};                                                                                       \
        for (int64_t i = 0; i + 16 <= n; i += 16) acc += NAME##_load(a + i) * NAME##_load_h(b + i);         \
        return NAME##_hsum(acc);                                                                             \
    }

#if defined(__x86_64__)
BODY(tile_avx512, __attribute__((target("avx512f,avx2,fma"))))
TILE(tile_avx512, tile_avx512, __attribute__((target("avx512f,avx2,fma"))), float, tile_avx512_load, tile_avx512_dot, 4)
F16_HELPERS(tile_avx512, __attribute__((target("avx512f,avx2,fma,f16c"))))
TILE(tile_avx512, tile_avx512_f16, __attribute__((target("avx512f,avx2,fma,f16c"))), _Float16, tile_avx512_load_h, tile_avx512_dot_h, 4)
BODY(tile_avx2, __attribute__((target("avx2,fma"))))
TILE(tile_avx2, tile_avx2, __attribute__((target("avx2,fma"))), float, tile_avx2_load, tile_avx2_dot, 2)
F16_HELPERS(tile_avx2, __attribute__((target("avx2,fma,f16c"))))
TILE(tile_avx2, tile_avx2_f16, __attribute__((target("avx2,fma,f16c"))), _Float16, tile_avx2_load_h, tile_avx2_dot_h, 2)
#endif
BODY(tile_portable, )
TILE(tile_portable, tile_portable, , float, tile_portable_load, tile_portable_dot, 2)
#if defined(__aarch64__)
F16_HELPERS(tile_portable, )
TILE(tile_portable, tile_portable_f16, , _Float16, tile_portable_load_h, tile_portable_dot_h, 2)
#endif
void bora_attention_tile_isa(int isa, const float *q, int64_t rows, int64_t hd, const float *k, const float *v, int64_t n,
                             int64_t kpos0, const int64_t *first, const int64_t *last, float scale,
                             float *m, float *l, float *o, float *s) {
    if (isa > bora_isa()) isa = bora_isa();
#if defined(__x86_64__)
    if (isa >= BORA_ISA_AVX512_VNNI) { tile_avx512(q, rows, hd, k, v, n, kpos0, first, last, scale, m, l, o, s); return; }
    if (isa >= BORA_ISA_AVX2) { tile_avx2(q, rows, hd, k, v, n, kpos0, first, last, scale, m, l, o, s); return; }
#endif
    tile_portable(q, rows, hd, k, v, n, kpos0, first, last, scale, m, l, o, s);
}

void bora_attention_tile(const float *q, int64_t rows, int64_t hd, const float *k, const float *v, int64_t n,
                         int64_t kpos0, const int64_t *first, const int64_t *last, float scale,
                         float *m, float *l, float *o, float *s) {
    bora_attention_tile_isa(bora_isa(), q, rows, hd, k, v, n, kpos0, first, last, scale, m, l, o, s);
}

int bora_attention_tile_f16_isa(int isa, const float *q, int64_t rows, int64_t hd, const uint16_t *k, const uint16_t *v, int64_t n,
                                 int64_t kpos0, const int64_t *first, const int64_t *last, float scale,
                                 float *m, float *l, float *o, float *s) {
    if (isa > bora_isa()) isa = bora_isa();
    if (hd % 16 != 0) return 0;
#if defined(__x86_64__)
    const _Float16 *kh = (const _Float16 *)k, *vh = (const _Float16 *)v;
    if (isa >= BORA_ISA_AVX512_VNNI) { tile_avx512_f16(q, rows, hd, kh, vh, n, kpos0, first, last, scale, m, l, o, s); return 1; }
    if (isa >= BORA_ISA_AVX2) { tile_avx2_f16(q, rows, hd, kh, vh, n, kpos0, first, last, scale, m, l, o, s); return 1; }
#elif defined(__aarch64__)
    if (isa >= BORA_ISA_NEON) {
        tile_portable_f16(q, rows, hd, (const _Float16 *)k, (const _Float16 *)v, n, kpos0, first, last, scale, m, l, o, s);
        return 1;
    }
#endif
    (void)q; (void)rows; (void)k; (void)v; (void)n; (void)kpos0; (void)first; (void)last; (void)scale; (void)m; (void)l; (void)o; (void)s;
    return 0;
}

int bora_attention_tile_f16(const float *q, int64_t rows, int64_t hd, const uint16_t *k, const uint16_t *v, int64_t n,
                            int64_t kpos0, const int64_t *first, const int64_t *last, float scale,
                            float *m, float *l, float *o, float *s) {
    return bora_attention_tile_f16_isa(bora_isa(), q, rows, hd, k, v, n, kpos0, first, last, scale, m, l, o, s);
}

void bora_attention_merge_isa(int isa, int64_t rows, int64_t hd, float *m, float *l, float *o,
                              const float *m2, const float *l2, const float *o2) {
    if (isa > bora_isa()) isa = bora_isa();
#if defined(__x86_64__)
    if (isa >= BORA_ISA_AVX512_VNNI) { tile_avx512_merge(rows, hd, m, l, o, m2, l2, o2); return; }
    if (isa >= BORA_ISA_AVX2) { tile_avx2_merge(rows, hd, m, l, o, m2, l2, o2); return; }
#endif
    tile_portable_merge(rows, hd, m, l, o, m2, l2, o2);
}

void bora_attention_merge(int64_t rows, int64_t hd, float *m, float *l, float *o,
                          const float *m2, const float *l2, const float *o2) {
    bora_attention_merge_isa(bora_isa(), rows, hd, m, l, o, m2, l2, o2);
}
