// Products on repacked weights with NEON (arm64), on the 16-row groups of pack.c read as four
// 4-row quarters: bytes 16r..16r+15 of each 64-byte vector hold 4 codes of each of rows 4r..4r+3,
// which is exactly the operand of one sdot/usdot "by element" (4 rows × 4 products against one
// 4-activation lane of a register). Three levels, chosen at run time (cpu.c):
//   NEON      (every arm64 CPU): smull/smull2 + addp + sadalp emulate the 4-way dot product;
//   dotprod   (Armv8.2+, FEAT_DotProd): sdot, signed × signed;
//   i8mm      (Armv8.6+, FEAT_I8MM): usdot, unsigned × signed, the codes exactly as stored (VNNI's
//             vpdpbusd), in decode; usmmla (2 weight rows × 2 activation rows × 8 elements) in
//             prompt tiles of 2 or 4 activation rows.
// The signed levels read Q8_0's codes (stored as w + 128) with their top bit flipped, which is w, and
// IQ4's through the signed table, so their sums need no −128·Σx correction; the other codes are
// below 128 and read the same either way. Every level's integer sums are exact, so they agree with
// one another, and the float epilogue per row is the same sequence of fused multiply-adds for one
// activation row (decode) as in a tile of several: a row's result does not depend on the batch.
//
// The kernel bodies that use the dot product live in matmul_packed_neon_body.h, compiled once per
// level with that level's `target` attribute; the helpers here use baseline NEON only, so they
// inline into each. No software prefetch: unlike the x86 kernels (packed.h), nothing was measured
// on arm64 hardware, and its hardware prefetchers follow a sequential stream on their own.
#if defined(__aarch64__)
#include "CBoraKernels.h"
#include "blocks.h"
#include "packed.h"
#include <arm_neon.h>

#define INLINE static inline __attribute__((always_inline))

INLINE int has_min(const int type) { return type == BORA_Q4_1 || type == BORA_Q4_K || type == BORA_Q5_1 || type == BORA_Q5_K; }
INLINE int per16(const int type) { return bora_scale_per_16(type); }
INLINE float half_offset(const int type) { return type == BORA_Q6_K ? -32.0f : type == BORA_Q3_K ? -4.0f : 0.0f; }

/// The integer offset per activation sum, for codes stored as q + offset (see the file comment):
/// unsigned codes (i8mm) need Q8_0's and IQ4's −128 as well.
INLINE int sum_multiplier(const int type, const int unsigned_codes) {
    switch (type) {
    case BORA_Q4_0: return -8;
    case BORA_Q5_0: return -16;
    case BORA_Q8_0: case BORA_IQ4_NL: case BORA_IQ4_XS: return unsigned_codes ? -128 : 0;
    default: return 0;
    }
}

/// x shifted left by s bits (right for s < 0) in each byte; s is a constant once inlined.
INLINE uint8x16_t shift_bytes(uint8x16_t x, const int s) { return vshlq_u8(x, vdupq_n_s8((int8_t)s)); }

/// The codes of k-steps 2v ("even") and 2v+1 ("odd") of quarter r (rows 4r..4r+3) of a unit's
/// weights `q` (layout: pack.c). Unsigned as stored when `unsigned_codes`, else signed values for
/// Q8_0 and IQ4 (the other formats' codes are the same bytes either way).
INLINE void quarter_codes(const int type, const int unsigned_codes, const uint8_t *q, const int v, const int r,
                          uint8x16_t *even, uint8x16_t *odd) {
#define LOAD(offset) vld1q_u8(q + (offset) + 16 * r)
    if (type == BORA_Q8_0) {
        const uint8x16_t flip = vdupq_n_u8(unsigned_codes ? 0 : 0x80);
        *even = veorq_u8(LOAD(128 * v), flip);
        *odd = veorq_u8(LOAD(128 * v + 64), flip);
        return;
    }
    if (type == BORA_Q2_K) {
        const uint8x16_t three = vdupq_n_u8(3);
        *even = vandq_u8(shift_bytes(LOAD(0), -2 * v), three);
        *odd = vandq_u8(shift_bytes(LOAD(64), -2 * v), three);
        return;
    }
    if (type == BORA_Q3_K) {
        // Pairs 0–2: whole codes in plane v; pair 3: bit p of each code in bits 3 and 7 of plane p.
        const uint8x16_t seven = vdupq_n_u8(7);
        if (v < 3) {
            const uint8x16_t p = LOAD(64 * v);
            *even = vandq_u8(p, seven);
            *odd = vandq_u8(vshrq_n_u8(p, 4), seven);
            return;
        }
        const uint8x16_t p0 = LOAD(0), p1 = LOAD(64), p2 = LOAD(128);
        *even = vorrq_u8(vorrq_u8(vandq_u8(vshrq_n_u8(p0, 3), vdupq_n_u8(1)), vandq_u8(vshrq_n_u8(p1, 2), vdupq_n_u8(2))),
                         vandq_u8(vshrq_n_u8(p2, 1), vdupq_n_u8(4)));
        *odd = vorrq_u8(vorrq_u8(vshrq_n_u8(p0, 7), vandq_u8(vshrq_n_u8(p1, 6), vdupq_n_u8(2))), vandq_u8(vshrq_n_u8(p2, 5), vdupq_n_u8(4)));
        return;
    }
    if (type == BORA_Q5_0 || type == BORA_Q5_1 || type == BORA_Q5_K) {
        // Whole codes in planes 0–4 (bits 0–4); the codes of elements 20–23, 24–27 and 28–31 in their
        // spare bits (pack.c).
        const uint8x16_t five = vdupq_n_u8(0x1F);
        if (v < 2) {
            *even = vandq_u8(LOAD(128 * v), five);
            *odd = vandq_u8(LOAD(128 * v + 64), five);
            return;
        }
        if (v == 2) {
            *even = vandq_u8(LOAD(256), five);
            *odd = vorrq_u8(vshrq_n_u8(LOAD(0), 5), vandq_u8(vshrq_n_u8(LOAD(64), 2), vdupq_n_u8(0x18)));
            return;
        }
        *even = vorrq_u8(vorrq_u8(vshrq_n_u8(LOAD(64), 7), vandq_u8(vshrq_n_u8(LOAD(128), 4), vdupq_n_u8(0x0E))),
                         vandq_u8(vshrq_n_u8(LOAD(192), 1), vdupq_n_u8(0x10)));
        *odd = vorrq_u8(vshrq_n_u8(LOAD(192), 6), vandq_u8(vshrq_n_u8(LOAD(256), 3), vdupq_n_u8(0x1C)));
        return;
    }
    if (type == BORA_Q6_K) {
        // Pairs 0–2: whole codes in planes 2v and 2v + 1; pair 3: two bits of each code in bits 6–7
        // of planes 0–2 (even) and 3–5 (odd).
        const uint8x16_t six = vdupq_n_u8(0x3F);
        if (v < 3) {
            *even = vandq_u8(LOAD(128 * v), six);
            *odd = vandq_u8(LOAD(128 * v + 64), six);
            return;
        }
        const uint8x16_t m1 = vdupq_n_u8(0x0C), m2 = vdupq_n_u8(0x30);
        *even = vorrq_u8(vorrq_u8(vshrq_n_u8(LOAD(0), 6), vandq_u8(vshrq_n_u8(LOAD(64), 4), m1)), vandq_u8(vshrq_n_u8(LOAD(128), 2), m2));
        *odd = vorrq_u8(vorrq_u8(vshrq_n_u8(LOAD(192), 6), vandq_u8(vshrq_n_u8(LOAD(256), 4), m1)), vandq_u8(vshrq_n_u8(LOAD(320), 2), m2));
        return;
    }
    const uint8x16_t raw = LOAD(64 * v);
    *even = vandq_u8(raw, vdupq_n_u8(0x0F));
    *odd = vshrq_n_u8(raw, 4);
    if (type == BORA_IQ4_NL || type == BORA_IQ4_XS) {
        // The table's values, + 128 when the codes must stay unsigned.
        const uint8x16_t table = vaddq_u8(vreinterpretq_u8_s8(vld1q_s8(bora_iq4_values)), vdupq_n_u8(unsigned_codes ? 0x80 : 0));
        *even = vqtbl1q_u8(table, *even);
        *odd = vqtbl1q_u8(table, *odd);
    }
#undef LOAD
}

/// 4 consecutive f16 / unsigned bytes / signed bytes as 4 floats.
INLINE float32x4_t f16x4(const uint8_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)p))); }
INLINE float32x4_t u8x4(const uint8_t *p) {
    uint32_t bytes;
    memcpy(&bytes, p, 4);
    return vcvtq_f32_u32(vmovl_u16(vget_low_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(bytes))))));
}
INLINE float32x4_t s8x4(const uint8_t *p) {
    uint32_t bytes;
    memcpy(&bytes, p, 4);
    return vcvtq_f32_s32(vmovl_s16(vget_low_s16(vmovl_s8(vreinterpret_s8_u32(vdup_n_u32(bytes))))));
}

/// The per-row factors of quarter r of unit j (base: its super-block, layout packed.h): w = scale·q +
/// min over the whole unit (sa, ma), or per 16-element half (sa, ma then sb, mb) for Q6_K, Q3_K, Q2_K.
typedef struct { float32x4_t sa, ma, sb, mb; } quarter_factors;

INLINE void half_factors(const int type, const uint8_t *base, const int t, const int r, float32x4_t *scale, float32x4_t *min) {
    const float32x4_t d = f16x4(base + 8 * r);
    if (type == BORA_Q2_K) {
        uint32_t bytes;
        memcpy(&bytes, base + 64 + 16 * t + 4 * r, 4);
        const uint32x4_t raw = vmovl_u16(vget_low_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(bytes)))));
        *scale = vmulq_f32(d, vcvtq_f32_u32(vandq_u32(raw, vdupq_n_u32(15))));
        *min = vnegq_f32(vmulq_f32(f16x4(base + 32 + 8 * r), vcvtq_f32_u32(vshrq_n_u32(raw, 4))));
        return;
    }
    *scale = vmulq_f32(d, s8x4(base + 32 + 16 * t + 4 * r));
    *min = vdupq_n_f32(0);
}

INLINE quarter_factors factors(const int type, const uint8_t *base, const int64_t j, const int r) {
    quarter_factors f;
    const int s = (int)(j & 7);
    if (per16(type)) {
        half_factors(type, base, 2 * s, r, &f.sa, &f.ma);
        half_factors(type, base, 2 * s + 1, r, &f.sb, &f.mb);
        return f;
    }
    const float32x4_t d = f16x4(base + 8 * r);
    switch (type) {
    case BORA_Q4_K: case BORA_Q5_K:
        f.sa = vmulq_f32(d, u8x4(base + 64 + 16 * s + 4 * r));
        f.ma = vnegq_f32(vmulq_f32(f16x4(base + 32 + 8 * r), u8x4(base + 192 + 16 * s + 4 * r)));
        break;
    case BORA_Q4_1: case BORA_Q5_1:
        f.sa = d;
        f.ma = f16x4(base + 32 + 8 * r);
        break;
    case BORA_IQ4_XS:
        f.sa = vmulq_f32(d, s8x4(base + 32 + 16 * s + 4 * r));
        f.ma = vdupq_n_f32(0);
        break;
    default:
        f.sa = d;
        f.ma = vdupq_n_f32(0);
    }
    f.sb = f.sa;
    f.mb = f.ma;
    return f;
}

/// acc += the quarter's contribution for one activation row: from the integer sums of its two
/// halves (per-16 formats) or of its whole 32 elements (ia + ib), with the activation block's scale
/// dx, its half sums s16 and integer sum sum32 (see bora_quantize_q8).
INLINE float32x4_t accumulate(const int type, const int multiplier, float32x4_t acc, int32x4_t ia, int32x4_t ib,
                              const quarter_factors *f, const float dx, const float *s16, const int32_t sum32) {
    if (per16(type)) {
        const float32x4_t vdx = vdupq_n_f32(dx);
        acc = vfmaq_f32(acc, f->sa, vfmaq_f32(vdupq_n_f32(half_offset(type) * s16[0]), vcvtq_f32_s32(ia), vdx));
        acc = vfmaq_f32(acc, f->sb, vfmaq_f32(vdupq_n_f32(half_offset(type) * s16[1]), vcvtq_f32_s32(ib), vdx));
        if (type == BORA_Q2_K) {
            acc = vfmaq_f32(acc, f->ma, vdupq_n_f32(s16[0]));
            acc = vfmaq_f32(acc, f->mb, vdupq_n_f32(s16[1]));
        }
        return acc;
    }
    int32x4_t total = vaddq_s32(ia, ib);
    if (multiplier) total = vaddq_s32(total, vdupq_n_s32(multiplier * sum32));
    acc = vfmaq_f32(acc, vcvtq_f32_s32(total), vmulq_f32(f->sa, vdupq_n_f32(dx)));
    if (has_min(type)) acc = vfmaq_f32(acc, f->ma, vdupq_n_f32(s16[0] + s16[1]));
    return acc;
}

/// The baseline level's 4-way dot product: acc[l] += Σ_{i<4} w[4l + i] · x[4·lane + i].
INLINE int32x4_t dot_lanes_emulated(int32x4_t acc, int8x16_t w, int8x16_t xb) {
    // Each product fits int16 and so does a sum of two (|w| ≤ 128, |x| ≤ 127).
    const int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(xb)), hi = vmull_high_s8(w, xb);
    return vpadalq_s16(acc, vpaddq_s16(lo, hi));
}

// ---- Packed F16 / BF16 (layout: pack.c) ----
//
// F16: element e of the 16 rows as 16 halves, converted exactly (fcvtl) and multiplied with the F32
// activation by fused multiply-adds; BF16: pairs of elements per row, widened exactly (a shift).
// Every output is one chain over k in order, in decode and in tiles alike (as on x86).

/// The 16 rows' weights of element e (F16) or of pair p (BF16: lo = element 2p, hi = 2p + 1), quarter by quarter.
INLINE void float_weights(const int type, const uint8_t *group, const int64_t i, float32x4_t lo[4], float32x4_t hi[4]) {
    if (type == BORA_F16) {
        const uint16_t *h = (const uint16_t *)(group + 32 * i);
        for (int r = 0; r < 2; r++) {
            const float16x8_t v = vreinterpretq_f16_u16(vld1q_u16(h + 8 * r));
            lo[2 * r] = vcvt_f32_f16(vget_low_f16(v));
            lo[2 * r + 1] = vcvt_high_f32_f16(v);
        }
        return;
    }
    for (int r = 0; r < 4; r++) {
        const uint32x4_t v = vld1q_u32((const uint32_t *)(group + 64 * i + 16 * r));
        lo[r] = vreinterpretq_f32_u32(vshlq_n_u32(v, 16));
        hi[r] = vreinterpretq_f32_u32(vandq_u32(v, vdupq_n_u32(0xFFFF0000u)));
    }
}

/// M activation rows × NZ groups: out[(b0 + m)·os + 16(g + z) ...].
INLINE void float_tile(const int type, const int M, const int NZ, const uint8_t *packed, const int64_t k, const int64_t g,
                       const int64_t b0, const float *x, float *out, const int64_t os) {
    float32x4_t acc[4][2][4];
    for (int m = 0; m < M; m++)
        for (int z = 0; z < NZ; z++)
            for (int r = 0; r < 4; r++) acc[m][z][r] = vdupq_n_f32(0);
    const size_t group_bytes = (size_t)k * 32;
    const int64_t steps = type == BORA_F16 ? k : k / 2;
    for (int64_t i = 0; i < steps; i++) {
        float32x4_t lo[2][4], hi[2][4];
        for (int z = 0; z < NZ; z++) float_weights(type, packed + (size_t)(g + z) * group_bytes, i, lo[z], hi[z]);
        for (int m = 0; m < M; m++) {
            const float *xr = x + (b0 + m) * k;
            if (type == BORA_F16) {
                const float32x4_t xv = vdupq_n_f32(xr[i]);
                for (int z = 0; z < NZ; z++)
                    for (int r = 0; r < 4; r++) acc[m][z][r] = vfmaq_f32(acc[m][z][r], lo[z][r], xv);
            } else {
                const float32x4_t x0 = vdupq_n_f32(xr[2 * i]), x1 = vdupq_n_f32(xr[2 * i + 1]);
                for (int z = 0; z < NZ; z++)
                    for (int r = 0; r < 4; r++) acc[m][z][r] = vfmaq_f32(vfmaq_f32(acc[m][z][r], lo[z][r], x0), hi[z][r], x1);
            }
        }
    }
    for (int m = 0; m < M; m++)
        for (int z = 0; z < NZ; z++)
            for (int r = 0; r < 4; r++) vst1q_f32(out + (b0 + m) * os + 16 * (g + z) + 4 * r, acc[m][z][r]);
}

INLINE void float_matmul(const int type, const uint8_t *packed, int64_t k, int64_t g0, int64_t g1, const float *x,
                         int64_t batch, float *out, int64_t os) {
    if (batch == 1) {
        // Two groups at a time: 8 independent chains, each still in k order.
        int64_t g = g0;
        for (; g + 2 <= g1; g += 2) float_tile(type, 1, 2, packed, k, g, 0, x, out, os);
        for (; g < g1; g++) float_tile(type, 1, 1, packed, k, g, 0, x, out, os);
        return;
    }
    for (int64_t c0 = 0; c0 < batch; c0 += 64) {
        const int64_t c1 = c0 + 64 < batch ? c0 + 64 : batch;
        for (int64_t g = g0; g < g1; g++) {
            int64_t b = c0;
            for (; b + 4 <= c1; b += 4) float_tile(type, 4, 1, packed, k, g, b, x, out, os);
            for (; b < c1; b++) float_tile(type, 1, 1, packed, k, g, b, x, out, os);
        }
    }
}

static void packed_f16(const uint8_t *p, int64_t k, int64_t g0, int64_t g1, const float *x, int64_t batch, float *out, int64_t os) {
    float_matmul(BORA_F16, p, k, g0, g1, x, batch, out, os);
}
static void packed_bf16(const uint8_t *p, int64_t k, int64_t g0, int64_t g1, const float *x, int64_t batch, float *out, int64_t os) {
    float_matmul(BORA_BF16, p, k, g0, g1, x, batch, out, os);
}

void bora_matmul_packed_float_neon(int type, const void *packed, int64_t k, int64_t g0, int64_t g1, const float *x,
                                   int64_t batch, float *out, int64_t os) {
    if (type == BORA_F16) packed_f16(packed, k, g0, g1, x, batch, out, os);
    else if (type == BORA_BF16) packed_bf16(packed, k, g0, g1, x, batch, out, os);
}

// ---- The quantized kernels, once per level ----

#define LEVEL 1
#define TARGET
#define FN(name) name##_neon
#include "matmul_packed_neon_body.h"
#undef LEVEL
#undef TARGET
#undef FN

#define LEVEL 2
#define TARGET __attribute__((target("dotprod")))
#define FN(name) name##_dotprod
#include "matmul_packed_neon_body.h"
#undef LEVEL
#undef TARGET
#undef FN

#define LEVEL 3
#define TARGET __attribute__((target("dotprod,i8mm")))
#define FN(name) name##_i8mm
#include "matmul_packed_neon_body.h"
#undef LEVEL
#undef TARGET
#undef FN

void bora_matmul_packed_neon(int isa, int type, const void *packed, int64_t k, int64_t g0, int64_t g1, const int8_t *xq,
                             const float *xd, const float *xs16, const int32_t *xsum, int64_t batch, float *out, int64_t os) {
    if (isa >= BORA_ISA_NEON_I8MM) matmul_i8mm(type, packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os);
    else if (isa >= BORA_ISA_NEON_DOTPROD) matmul_dotprod(type, packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os);
    else matmul_neon(type, packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os);
}

#endif
