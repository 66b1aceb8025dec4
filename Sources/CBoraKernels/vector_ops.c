// Vector helpers for attention, norms and activations: portable bodies, AVX2 bodies and NEON bodies.
#include "CBoraKernels.h"
#include "blocks.h"
#include <math.h>
#include <string.h>

static uint16_t half_from_float(float value) {
    union { float f; uint32_t u; } v = {value};
    uint32_t bits = v.u;
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
    int exponent = (int)((bits >> 23) & 0xFF);
    uint32_t mantissa = bits & 0x7FFFFF;
    if (exponent == 0xFF) return sign | 0x7C00 | (mantissa ? 0x200 : 0);
    int e = exponent - 127 + 15;
    if (e >= 31) return sign | 0x7C00;
    if (e <= 0) {
        if (e < -10) return sign;
        mantissa |= 0x800000;
        uint32_t shift = (uint32_t)(14 - e), half = mantissa >> shift, rem = mantissa & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return sign | (uint16_t)half;
    }
    uint32_t half = ((uint32_t)e << 10) | (mantissa >> 13), rem = mantissa & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
    return sign | (uint16_t)half;
}

// ---- SiLU ----
// exp(x) by Cody–Waite reduction, r = x − n·ln 2 with n = round(x·log2 e) (|r| ≤ ln 2 / 2), and
// Cephes' degree-6 polynomial for e^r, scaled by 2^n through the exponent bits. Every step is an
// IEEE operation or a fused multiply-add, so the portable, AVX2 and NEON bodies give the same bits.
// No call into libm: its expf takes a slow path (errno) on overflow and underflow, which random or
// large gate values hit for most elements. x is clamped to [−87, 88]: below, e^x < 2^−125 and
// 1 + e^x is 1 exactly as it is for any x < −17; above, e^x is taken as infinity, so g / (1 + e^x)
// is −0 (it would be at most 2^−120 in size). NaN gates stay NaN.
#define SILU_LOG2E 1.44269504088896341f
#define SILU_SHIFTER 12582912.0f  // 1.5 · 2^23: x·log2 e + this rounds x·log2 e to an integer
#define SILU_SHIFTER_BITS 0x4B400000
#define SILU_LN2_HI 0.693359375f
#define SILU_LN2_LO -2.12194440e-4f
#define SILU_P0 1.9875691500e-4f
#define SILU_P1 1.3981999507e-3f
#define SILU_P2 8.3334519073e-3f
#define SILU_P3 4.1665795894e-2f
#define SILU_P4 1.6666665459e-1f
#define SILU_P5 5.0000001201e-1f

static inline float silu_mul_one(float g, float up) {
    float x = -g;
    x = x < -87.0f ? -87.0f : x;
    const int overflows = x > 88.0f;
    x = x > 88.0f ? 88.0f : x;
    const float t = fmaf(x, SILU_LOG2E, SILU_SHIFTER);
    const float n = t - SILU_SHIFTER;
    float r = fmaf(n, -SILU_LN2_HI, x);
    r = fmaf(n, -SILU_LN2_LO, r);
    float p = fmaf(SILU_P0, r, SILU_P1);
    p = fmaf(p, r, SILU_P2);
    p = fmaf(p, r, SILU_P3);
    p = fmaf(p, r, SILU_P4);
    p = fmaf(p, r, SILU_P5);
    const float r2 = r * r;
    const float y = fmaf(p, r2, r) + 1.0f;
    int32_t bits;
    memcpy(&bits, &t, 4);
    bits = (bits - SILU_SHIFTER_BITS + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    const float e = overflows ? INFINITY : y * scale;
    const float d = 1.0f + e;
    return g / d * up;
}

static void silu_mul_portable(float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) gate[i] = silu_mul_one(gate[i], up[i]);
}

#if defined(__x86_64__)
#include <immintrin.h>
#define TARGET __attribute__((target("avx2,fma,f16c")))

TARGET static void silu_mul_avx2(float *gate, const float *up, size_t n) {
    const __m256 lo = _mm256_set1_ps(-87.0f), hi = _mm256_set1_ps(88.0f), one = _mm256_set1_ps(1.0f);
    const __m256 shifter = _mm256_set1_ps(SILU_SHIFTER), sign = _mm256_set1_ps(-0.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        __m256 x = _mm256_max_ps(_mm256_xor_ps(g, sign), lo);
        const __m256 overflows = _mm256_cmp_ps(x, hi, _CMP_GT_OQ);
        x = _mm256_min_ps(x, hi);
        const __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(SILU_LOG2E), shifter);
        const __m256 nf = _mm256_sub_ps(t, shifter);
        __m256 r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(SILU_LN2_HI), x);
        r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(SILU_LN2_LO), r);
        __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(SILU_P0), r, _mm256_set1_ps(SILU_P1));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SILU_P2));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SILU_P3));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SILU_P4));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SILU_P5));
        const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), one);
        const __m256i k = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(SILU_SHIFTER_BITS - 127));
        const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(k, 23));
        const __m256 e = _mm256_blendv_ps(_mm256_mul_ps(y, scale), _mm256_set1_ps(INFINITY), overflows);
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
    }
    silu_mul_portable(gate + i, up + i, n - i);
}

static inline TARGET float hsum256(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

TARGET static float dot_f32_avx2(const float *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float sum = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

TARGET static void axpy_f32_avx2(float *y, float a, const float *x, size_t n) {
    __m256 av = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

TARGET static void f32_to_f16_avx2(const float *x, uint16_t *y, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = half_from_float(x[i]);
}

TARGET static void round_to_f16_avx2(float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; i++) x[i] = _cvtsh_ss(half_from_float(x[i]));
}

TARGET static void f16_to_f32_avx2(const uint16_t *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++) y[i] = _cvtsh_ss(x[i]);
}

TARGET static void scale_mul_avx2(const float *x, float scale, const float *g, float *out, size_t n) {
    __m256 sv = _mm256_set1_ps(scale);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), sv), _mm256_loadu_ps(g + i)));
    for (; i < n; i++) out[i] = x[i] * scale * g[i];
}
#elif defined(__aarch64__)
#include <arm_neon.h>

static float dot_f32_neon(const float *a, const float *b, size_t n) {
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

static void axpy_f32_neon(float *y, float a, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; i++) y[i] += a * x[i];
}

// fcvtn/fcvtl round to nearest even in the default FPCR mode (IEEE halves, subnormals kept), as
// half_from_float does; only a NaN's payload may differ.
static void f32_to_f16_neon(const float *x, uint16_t *y, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; i++) y[i] = half_from_float(x[i]);
}

static void round_to_f16_neon(float *x, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vcvt_f32_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; i++) x[i] = bora_half(half_from_float(x[i]));
}

static void f16_to_f32_neon(const uint16_t *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i))));
    for (; i < n; i++) y[i] = bora_half(x[i]);
}

static void scale_mul_neon(const float *x, float scale, const float *g, float *out, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(out + i, vmulq_f32(vmulq_n_f32(vld1q_f32(x + i), scale), vld1q_f32(g + i)));
    for (; i < n; i++) out[i] = x[i] * scale * g[i];
}

static void silu_mul_neon(float *gate, const float *up, size_t n) {
    const float32x4_t lo = vdupq_n_f32(-87.0f), hi = vdupq_n_f32(88.0f), one = vdupq_n_f32(1.0f);
    const float32x4_t shifter = vdupq_n_f32(SILU_SHIFTER);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t g = vld1q_f32(gate + i);
        float32x4_t x = vmaxq_f32(vnegq_f32(g), lo);
        const uint32x4_t overflows = vcgtq_f32(x, hi);
        x = vminq_f32(x, hi);
        const float32x4_t t = vfmaq_f32(shifter, x, vdupq_n_f32(SILU_LOG2E));
        const float32x4_t nf = vsubq_f32(t, shifter);
        float32x4_t r = vfmsq_f32(x, nf, vdupq_n_f32(SILU_LN2_HI));
        r = vfmsq_f32(r, nf, vdupq_n_f32(SILU_LN2_LO));
        float32x4_t p = vfmaq_f32(vdupq_n_f32(SILU_P1), vdupq_n_f32(SILU_P0), r);
        p = vfmaq_f32(vdupq_n_f32(SILU_P2), p, r);
        p = vfmaq_f32(vdupq_n_f32(SILU_P3), p, r);
        p = vfmaq_f32(vdupq_n_f32(SILU_P4), p, r);
        p = vfmaq_f32(vdupq_n_f32(SILU_P5), p, r);
        const float32x4_t y = vaddq_f32(vfmaq_f32(r, p, vmulq_f32(r, r)), one);
        const int32x4_t k = vsubq_s32(vreinterpretq_s32_f32(t), vdupq_n_s32(SILU_SHIFTER_BITS - 127));
        const float32x4_t scale = vreinterpretq_f32_s32(vshlq_n_s32(k, 23));
        const float32x4_t e = vbslq_f32(overflows, vdupq_n_f32(INFINITY), vmulq_f32(y, scale));
        vst1q_f32(gate + i, vmulq_f32(vdivq_f32(g, vaddq_f32(one, e)), vld1q_f32(up + i)));
    }
    silu_mul_portable(gate + i, up + i, n - i);
}
#endif

float bora_dot_f32(const float *a, const float *b, size_t n) {
#if defined(__x86_64__)
    if (bora_isa() >= BORA_ISA_AVX2) return dot_f32_avx2(a, b, n);
#elif defined(__aarch64__)
    if (bora_isa() >= BORA_ISA_NEON) return dot_f32_neon(a, b, n);
#endif
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
    float sum = 0;
    for (; i < n; i++) sum += a[i] * b[i];
    for (int k = 0; k < 8; k++) sum += acc[k];
    return sum;
}

void bora_axpy_f32(float *y, float a, const float *x, size_t n) {
#if defined(__x86_64__)
    if (bora_isa() >= BORA_ISA_AVX2) { axpy_f32_avx2(y, a, x, n); return; }
#elif defined(__aarch64__)
    if (bora_isa() >= BORA_ISA_NEON) { axpy_f32_neon(y, a, x, n); return; }
#endif
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

void bora_f32_to_f16(const float *x, uint16_t *y, size_t n) {
#if defined(__x86_64__)
    if (bora_isa() >= BORA_ISA_AVX2) { f32_to_f16_avx2(x, y, n); return; }
#elif defined(__aarch64__)
    if (bora_isa() >= BORA_ISA_NEON) { f32_to_f16_neon(x, y, n); return; }
#endif
    for (size_t i = 0; i < n; i++) y[i] = half_from_float(x[i]);
}

void bora_f16_to_f32(const uint16_t *x, float *y, size_t n) {
#if defined(__x86_64__)
    if (bora_isa() >= BORA_ISA_AVX2) { f16_to_f32_avx2(x, y, n); return; }
#elif defined(__aarch64__)
    if (bora_isa() >= BORA_ISA_NEON) { f16_to_f32_neon(x, y, n); return; }
#endif
    for (size_t i = 0; i < n; i++) y[i] = bora_half(x[i]);
}

void bora_round_to_f16(float *x, size_t n) {
#if defined(__x86_64__)
    if (bora_isa() >= BORA_ISA_AVX2) { round_to_f16_avx2(x, n); return; }
#elif defined(__aarch64__)
    if (bora_isa() >= BORA_ISA_NEON) { round_to_f16_neon(x, n); return; }
#endif
    for (size_t i = 0; i < n; i++) x[i] = bora_half(half_from_float(x[i]));
}

void bora_scale_mul(const float *x, float scale, const float *g, float *out, size_t n) {
#if defined(__x86_64__)
    if (bora_isa() >= BORA_ISA_AVX2) { scale_mul_avx2(x, scale, g, out, n); return; }
#elif defined(__aarch64__)
    if (bora_isa() >= BORA_ISA_NEON) { scale_mul_neon(x, scale, g, out, n); return; }
#endif
    for (size_t i = 0; i < n; i++) out[i] = x[i] * scale * g[i];
}

void bora_silu_mul_isa(int isa, float *gate, const float *up, size_t n) {
#if defined(__x86_64__)
    if (isa >= BORA_ISA_AVX2 && bora_isa() >= BORA_ISA_AVX2) { silu_mul_avx2(gate, up, n); return; }
#elif defined(__aarch64__)
    if (isa >= BORA_ISA_NEON && bora_isa() >= BORA_ISA_NEON) { silu_mul_neon(gate, up, n); return; }
#else
    (void)isa;
#endif
    silu_mul_portable(gate, up, n);
}

void bora_silu_mul(float *gate, const float *up, size_t n) { bora_silu_mul_isa(bora_isa(), gate, up, n); }


int bora_all_finite(const float *x, size_t n) {
    // x · 0 is 0 for finite x and NaN for NaN and infinity, so one NaN in the sum answers.
    float acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int e = 0; e < 16; e++) acc[e] += x[i + e] * 0.0f;
    float sum = 0;
    for (int e = 0; e < 16; e++) sum += acc[e];
    for (; i < n; i++) sum += x[i] * 0.0f;
    return sum == sum;
}

int64_t bora_argmax(const float *x, size_t n) {
    // The first index of the largest value (NaN never wins a comparison).
    int64_t best = 0;
    for (size_t i = 1; i < n; i++) if (x[i] > x[best]) best = (int64_t)i;
    return best;
}
