#include "CBoraKernels.h"
#include <math.h>

/// A block holding NaN or infinity: its scale and sums become NaN, so every product with it is NaN
/// (max and rounding would otherwise squash the value into finite-looking codes).
static void quantize_block_non_finite(int8_t *q, float *d, float *s16, int32_t *sum32) {
    for (int i = 0; i < 32; i++) q[i] = 0;
    *d = NAN;
    s16[0] = s16[1] = NAN;
    *sum32 = 0;
}

static void quantize_block_portable(const float *x, int8_t *q, float *d, float *s16, int32_t *sum32) {
    float amax = 0;
    for (int i = 0; i < 32; i++) {
        if (!isfinite(x[i])) { quantize_block_non_finite(q, d, s16, sum32); return; }
        amax = fmaxf(amax, fabsf(x[i]));
    }
    float scale = amax / 127.0f, inverse = scale > 0 ? 1.0f / scale : 0;
    int sa = 0, sb = 0;
    for (int i = 0; i < 32; i++) {
        int v = (int)lrintf(x[i] * inverse);
        q[i] = (int8_t)v;
        if (i < 16) sa += v; else sb += v;
    }
    *d = scale;
    s16[0] = scale * (float)sa;
    s16[1] = scale * (float)sb;
    *sum32 = sa + sb;
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma")))
static void quantize_block_avx2(const float *x, int8_t *q, float *d, float *s16, int32_t *sum32) {
    __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    // x · 0 is NaN exactly for NaN and infinite x.
    const __m256 zero = _mm256_setzero_ps();
    const __m256 probe = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(v0, zero), _mm256_mul_ps(v1, zero)),
                                       _mm256_add_ps(_mm256_mul_ps(v2, zero), _mm256_mul_ps(v3, zero)));
    if (_mm256_movemask_ps(_mm256_cmp_ps(probe, probe, _CMP_UNORD_Q))) { quantize_block_non_finite(q, d, s16, sum32); return; }
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                             _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float amax = _mm_cvtss_f32(m4);
    float scale = amax / 127.0f, inverse = scale > 0 ? 1.0f / scale : 0;
    const __m256 mul = _mm256_set1_ps(inverse);
    // Round to nearest even, as lrintf does in the portable path.
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, mul)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, mul));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, mul)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, mul));
    __m256i sum_a = _mm256_add_epi32(i0, i1), sum_b = _mm256_add_epi32(i2, i3);
    __m128i ha = _mm_add_epi32(_mm256_castsi256_si128(sum_a), _mm256_extracti128_si256(sum_a, 1));
    __m128i hb = _mm_add_epi32(_mm256_castsi256_si128(sum_b), _mm256_extracti128_si256(sum_b, 1));
    ha = _mm_hadd_epi32(ha, hb);
    ha = _mm_hadd_epi32(ha, ha);
    __m256i p01 = _mm256_packs_epi32(i0, i1), p23 = _mm256_packs_epi32(i2, i3);
    __m256i p = _mm256_packs_epi16(p01, p23);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, p);
    *d = scale;
    int32_t sa = _mm_extract_epi32(ha, 0), sb = _mm_extract_epi32(ha, 1);
    s16[0] = scale * (float)sa;
    s16[1] = scale * (float)sb;
    *sum32 = sa + sb;
}
#elif defined(__aarch64__)
#include <arm_neon.h>

/// The portable block's arithmetic on NEON: the same scale, inverse and products, rounded to nearest
/// even (fcvtns, as lrintf in the default rounding mode), so the same bits.
static void quantize_block_neon(const float *x, int8_t *q, float *d, float *s16, int32_t *sum32) {
    float32x4_t v[8];
    for (int i = 0; i < 8; i++) v[i] = vld1q_f32(x + 4 * i);
    // x · 0 is NaN exactly for NaN and infinite x.
    float32x4_t probe = vmulq_n_f32(v[0], 0.0f);
    for (int i = 1; i < 8; i++) probe = vaddq_f32(probe, vmulq_n_f32(v[i], 0.0f));
    if (vmaxvq_u32(vmvnq_u32(vceqq_f32(probe, probe)))) { quantize_block_non_finite(q, d, s16, sum32); return; }
    float32x4_t m = vabsq_f32(v[0]);
    for (int i = 1; i < 8; i++) m = vmaxq_f32(m, vabsq_f32(v[i]));
    const float amax = vmaxvq_f32(m);
    const float scale = amax / 127.0f, inverse = scale > 0 ? 1.0f / scale : 0;
    int32x4_t n[8];
    for (int i = 0; i < 8; i++) n[i] = vcvtnq_s32_f32(vmulq_n_f32(v[i], inverse));
    const int32_t sa = vaddvq_s32(vaddq_s32(vaddq_s32(n[0], n[1]), vaddq_s32(n[2], n[3])));
    const int32_t sb = vaddvq_s32(vaddq_s32(vaddq_s32(n[4], n[5]), vaddq_s32(n[6], n[7])));
    for (int h = 0; h < 2; h++) {
        const int16x8_t lo = vcombine_s16(vmovn_s32(n[4 * h]), vmovn_s32(n[4 * h + 1]));
        const int16x8_t hi = vcombine_s16(vmovn_s32(n[4 * h + 2]), vmovn_s32(n[4 * h + 3]));
        vst1q_s8(q + 16 * h, vcombine_s8(vmovn_s16(lo), vmovn_s16(hi)));
    }
    *d = scale;
    s16[0] = scale * (float)sa;
    s16[1] = scale * (float)sb;
    *sum32 = sa + sb;
}
#endif

void bora_quantize_q8(const float *x, int64_t k, int64_t rows, int8_t *q, float *d, float *s16, int32_t *sum32) {
    bora_quantize_q8_isa(bora_isa(), x, k, rows, q, d, s16, sum32);
}

void bora_quantize_q8_isa(int isa, const float *x, int64_t k, int64_t rows, int8_t *q, float *d, float *s16, int32_t *sum32) {
    int64_t blocks = k / 32;
#if defined(__x86_64__)
    if (isa >= BORA_ISA_AVX2 && bora_isa() >= BORA_ISA_AVX2) {
        for (int64_t b = 0; b < rows * blocks; b++) quantize_block_avx2(x + 32 * b, q + 32 * b, d + b, s16 + 2 * b, sum32 + b);
        return;
    }
#elif defined(__aarch64__)
    if (isa >= BORA_ISA_NEON && bora_isa() >= BORA_ISA_NEON) {
        for (int64_t b = 0; b < rows * blocks; b++) quantize_block_neon(x + 32 * b, q + 32 * b, d + b, s16 + 2 * b, sum32 + b);
        return;
    }
#endif
    for (int64_t b = 0; b < rows * blocks; b++) quantize_block_portable(x + 32 * b, q + 32 * b, d + b, s16 + 2 * b, sum32 + b);
}
