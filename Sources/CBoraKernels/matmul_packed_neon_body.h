// One level of the NEON quantized kernels, included by matmul_packed_neon.c with LEVEL (1 NEON,
// 2 dotprod, 3 i8mm), TARGET (that level's function attribute) and FN (a name suffix) defined.
// DOT(acc, w, x, lane): acc[l] += Σ_{i<4} w[4l + i] · x[4·lane + i] for the 4 rows of w.
#if LEVEL == 1
#define DOT(acc, w, x, lane) \
    dot_lanes_emulated(acc, vreinterpretq_s8_u8(w), vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(x), lane)))
#define UNSIGNED_CODES 0
#elif LEVEL == 2
#define DOT(acc, w, x, lane) vdotq_laneq_s32(acc, vreinterpretq_s8_u8(w), x, lane)
#define UNSIGNED_CODES 0
#else
#define DOT(acc, w, x, lane) vusdotq_laneq_s32(acc, w, x, lane)
#define UNSIGNED_CODES 1
#endif

/// Σ code·x of one quarter's codes c (k-step s = elements 4s..4s+3 of the unit in c[s]) with the
/// unit's activations x0 (elements 0–15) and x1 (16–31): per-16 formats into ia (elements 0–15) and
/// ib (16–31), the others even steps into ia and odd ones into ib (two chains; only ia + ib is used).
INLINE TARGET void FN(quarter_dots)(const int type, const uint8x16_t c[8], const int8x16_t x0, const int8x16_t x1,
                                    int32x4_t *ia, int32x4_t *ib) {
    int32x4_t a = vdupq_n_s32(0), b = vdupq_n_s32(0);
    if (per16(type)) {
        a = DOT(a, c[0], x0, 0); a = DOT(a, c[1], x0, 1); a = DOT(a, c[2], x0, 2); a = DOT(a, c[3], x0, 3);
        b = DOT(b, c[4], x1, 0); b = DOT(b, c[5], x1, 1); b = DOT(b, c[6], x1, 2); b = DOT(b, c[7], x1, 3);
    } else {
        a = DOT(a, c[0], x0, 0); b = DOT(b, c[1], x0, 1); a = DOT(a, c[2], x0, 2); b = DOT(b, c[3], x0, 3);
        a = DOT(a, c[4], x1, 0); b = DOT(b, c[5], x1, 1); a = DOT(a, c[6], x1, 2); b = DOT(b, c[7], x1, 3);
    }
    *ia = a;
    *ib = b;
}

/// M activation rows (b0…) × group g's 16 weight rows, every unit; decode is M = 1. Each quarter's
/// codes and factors are decoded once and serve all M rows.
INLINE TARGET void FN(tile)(const int type, const int M, const uint8_t *packed, const int64_t k, const int64_t g,
                            const int64_t b0, const int8_t *xq, const float *xd, const float *xs16, const int32_t *xsum,
                            float *out, const int64_t os) {
    const int64_t units = k / 32;
    const int ups = bora_units_per_super(type), multiplier = sum_multiplier(type, UNSIGNED_CODES);
    float32x4_t acc[4][4];  // [activation row][quarter]
    for (int m = 0; m < M; m++)
        for (int r = 0; r < 4; r++) acc[m][r] = vdupq_n_f32(0);
    const uint8_t *base = packed;
    for (int64_t j = 0; j < units; j++) {
        if (j % ups == 0) base = bora_unit_base(type, packed, units, g, j);
        const uint8_t *q = bora_unit_weights(type, base, j);
        for (int r = 0; r < 4; r++) {
            uint8x16_t c[8];
            for (int v = 0; v < 4; v++) quarter_codes(type, UNSIGNED_CODES, q, v, r, &c[2 * v], &c[2 * v + 1]);
            const quarter_factors f = factors(type, base, j, r);
            for (int m = 0; m < M; m++) {
                const int64_t block = (b0 + m) * units + j;
                const int8_t *x = xq + 32 * block;
                int32x4_t ia, ib;
                FN(quarter_dots)(type, c, vld1q_s8(x), vld1q_s8(x + 16), &ia, &ib);
                acc[m][r] = accumulate(type, multiplier, acc[m][r], ia, ib, &f, xd[block], xs16 + 2 * block, xsum[block]);
            }
        }
    }
    for (int m = 0; m < M; m++)
        for (int r = 0; r < 4; r++) vst1q_f32(out + (b0 + m) * os + 16 * g + 4 * r, acc[m][r]);
}

#if LEVEL == 3
/// The i8mm prompt tile: 2P activation rows (b0…) × group g, by usmmla, which multiplies a 2×8 block
/// of unsigned codes (2 weight rows × 8 elements) with a 2×8 block of activations (2 rows × the same
/// 8 elements) into a 2×2 block of int32 sums: 32 products per instruction, twice usdot's 16. A
/// quarter's even and odd codes of k-step pair v, zipped by 32-bit lanes, are that 2×8 block for its
/// rows 0–1 and 2–3. The sums are the same integers as the dot products', unzipped to one weight row
/// per lane, and go through the same float epilogue: the same bits as decode (usdot).
INLINE TARGET void FN(tile_mmla)(const int type, const int P, const uint8_t *packed, const int64_t k, const int64_t g,
                                 const int64_t b0, const int8_t *xq, const float *xd, const float *xs16, const int32_t *xsum,
                                 float *out, const int64_t os) {
    const int64_t units = k / 32;
    const int ups = bora_units_per_super(type), multiplier = sum_multiplier(type, UNSIGNED_CODES);
    float32x4_t acc[4][4];  // [activation row][quarter]
    for (int m = 0; m < 2 * P; m++)
        for (int r = 0; r < 4; r++) acc[m][r] = vdupq_n_f32(0);
    const uint8_t *base = packed;
    for (int64_t j = 0; j < units; j++) {
        if (j % ups == 0) base = bora_unit_base(type, packed, units, g, j);
        const uint8_t *q = bora_unit_weights(type, base, j);
        for (int r = 0; r < 4; r++) {
            // sums[half][row pair][activation pair]: lanes (row 2i, act 2p), (2i, 2p+1), (2i+1, 2p), (2i+1, 2p+1).
            int32x4_t sums[2][2][2];
            for (int h = 0; h < 2; h++)
                for (int i = 0; i < 2; i++)
                    for (int p = 0; p < P; p++) sums[h][i][p] = vdupq_n_s32(0);
            for (int v = 0; v < 4; v++) {
                uint8x16_t even, odd;
                quarter_codes(type, UNSIGNED_CODES, q, v, r, &even, &odd);
                const uint8x16_t rows01 = vreinterpretq_u8_u32(vzip1q_u32(vreinterpretq_u32_u8(even), vreinterpretq_u32_u8(odd)));
                const uint8x16_t rows23 = vreinterpretq_u8_u32(vzip2q_u32(vreinterpretq_u32_u8(even), vreinterpretq_u32_u8(odd)));
                const int h = per16(type) && v >= 2;
                for (int p = 0; p < P; p++) {
                    const int8_t *x0 = xq + 32 * ((b0 + 2 * p) * units + j) + 8 * v, *x1 = x0 + 32 * units;
                    const int8x16_t xs = vcombine_s8(vld1_s8(x0), vld1_s8(x1));
                    sums[h][0][p] = vusmmlaq_s32(sums[h][0][p], rows01, xs);
                    sums[h][1][p] = vusmmlaq_s32(sums[h][1][p], rows23, xs);
                }
            }
            const quarter_factors f = factors(type, base, j, r);
            for (int p = 0; p < P; p++)
                for (int e = 0; e < 2; e++) {
                    const int m = 2 * p + e;
                    const int64_t block = (b0 + m) * units + j;
                    const int32x4_t ia = e ? vuzp2q_s32(sums[0][0][p], sums[0][1][p]) : vuzp1q_s32(sums[0][0][p], sums[0][1][p]);
                    const int32x4_t ib = !per16(type) ? vdupq_n_s32(0)
                                         : e ? vuzp2q_s32(sums[1][0][p], sums[1][1][p]) : vuzp1q_s32(sums[1][0][p], sums[1][1][p]);
                    acc[m][r] = accumulate(type, multiplier, acc[m][r], ia, ib, &f, xd[block], xs16 + 2 * block, xsum[block]);
                }
        }
    }
    for (int m = 0; m < 2 * P; m++)
        for (int r = 0; r < 4; r++) vst1q_f32(out + (b0 + m) * os + 16 * g + 4 * r, acc[m][r]);
}
#endif

INLINE TARGET void FN(matmul_type)(const int type, const uint8_t *packed, int64_t k, int64_t g0, int64_t g1,
                                   const int8_t *xq, const float *xd, const float *xs16, const int32_t *xsum,
                                   int64_t batch, float *out, int64_t os) {
    if (batch == 1) {
        for (int64_t g = g0; g < g1; g++) FN(tile)(type, 1, packed, k, g, 0, xq, xd, xs16, xsum, out, os);
        return;
    }
    // Activation rows in chunks that stay in cache while the weight groups stream past them; per-16
    // formats carry two integer sums and two factors per quarter, so 3 rows at a time, else 4.
    for (int64_t c0 = 0; c0 < batch; c0 += 128) {
        const int64_t c1 = c0 + 128 < batch ? c0 + 128 : batch;
        for (int64_t g = g0; g < g1; g++) {
            int64_t b = c0;
#if LEVEL == 3
            for (; b + 4 <= c1; b += 4) FN(tile_mmla)(type, 2, packed, k, g, b, xq, xd, xs16, xsum, out, os);
            if (b + 2 <= c1) {
                FN(tile_mmla)(type, 1, packed, k, g, b, xq, xd, xs16, xsum, out, os);
                b += 2;
            }
#endif
            if (per16(type)) for (; b + 3 <= c1; b += 3) FN(tile)(type, 3, packed, k, g, b, xq, xd, xs16, xsum, out, os);
            else for (; b + 4 <= c1; b += 4) FN(tile)(type, 4, packed, k, g, b, xq, xd, xs16, xsum, out, os);
            switch (c1 - b) {
            case 3: FN(tile)(type, 3, packed, k, g, b, xq, xd, xs16, xsum, out, os); break;
            case 2: FN(tile)(type, 2, packed, k, g, b, xq, xd, xs16, xsum, out, os); break;
            case 1: FN(tile)(type, 1, packed, k, g, b, xq, xd, xs16, xsum, out, os); break;
            }
        }
    }
}

#define DEFINE_PACKED(NAME, TYPE)                                                                              \
    TARGET static void FN(NAME)(const uint8_t *p, int64_t k, int64_t g0, int64_t g1, const int8_t *xq, const float *xd, \
                                const float *xs16, const int32_t *xsum, int64_t batch, float *out, int64_t os) {  \
        FN(matmul_type)(TYPE, p, k, g0, g1, xq, xd, xs16, xsum, batch, out, os);                                \
    }
DEFINE_PACKED(q4_0, BORA_Q4_0)
DEFINE_PACKED(q4_1, BORA_Q4_1)
DEFINE_PACKED(q8_0, BORA_Q8_0)
DEFINE_PACKED(q4_k, BORA_Q4_K)
DEFINE_PACKED(q5_0, BORA_Q5_0)
DEFINE_PACKED(q5_1, BORA_Q5_1)
DEFINE_PACKED(q5_k, BORA_Q5_K)
DEFINE_PACKED(q6_k, BORA_Q6_K)
DEFINE_PACKED(q3_k, BORA_Q3_K)
DEFINE_PACKED(q2_k, BORA_Q2_K)
DEFINE_PACKED(iq4_nl, BORA_IQ4_NL)
DEFINE_PACKED(iq4_xs, BORA_IQ4_XS)
#undef DEFINE_PACKED

static void FN(matmul)(int type, const void *p, int64_t k, int64_t g0, int64_t g1, const int8_t *xq, const float *xd,
                       const float *xs16, const int32_t *xsum, int64_t batch, float *out, int64_t os) {
    switch (type) {
    case BORA_Q4_0: FN(q4_0)(p, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q4_1: FN(q4_1)(p, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q8_0: FN(q8_0)(p, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q4_K: FN(q4_k)(p, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q5_0: FN(q5_0)(p, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q5_1: FN(q5_1)(p, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q5_K: FN(q5_k)(p, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q6_K: FN(q6_k)(p, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q3_K: FN(q3_k)(p, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_Q2_K: FN(q2_k)(p, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_IQ4_NL: FN(iq4_nl)(p, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    case BORA_IQ4_XS: FN(iq4_xs)(p, k, g0, g1, xq, xd, xs16, xsum, batch, out, os); break;
    }
}

#undef DOT
#undef UNSIGNED_CODES
