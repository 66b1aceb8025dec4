// Vector helpers for attention, norms and activations: portable bodies and AVX2 bodies.
#include "CBoraKernels.h"
#include "blocks.h"
#include <math.h>

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

#if defined(__x86_64__)
#include <immintrin.h>
#define TARGET __attribute__((target("avx2,fma,f16c")))

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

// exp and the sigmoid stay scalar (libm) so results match the reference path exactly; they are a
// small share of a token's time next to the matrix products.
void bora_silu_mul(float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}


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
