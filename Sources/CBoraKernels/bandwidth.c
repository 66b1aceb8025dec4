// The memory-bandwidth probe behind `bora bench`: a streaming read, the access pattern of decode,
// prefetching as far ahead as the decode kernels do (a plain read without it reaches only ~70–75% of
// this on Zen 4), into L2, where a plain read streams fastest (see BORA_PREFETCH_DISTANCE).
#include "CBoraKernels.h"
#include "blocks.h"
#include "packed.h"

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx2")))
static uint64_t read_avx2(const void *p, size_t n) {
    const __m256i *v = (const __m256i *)p;
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (size_t i = 0; i < n / 32; i += 4) {
        _mm_prefetch((const char *)(v + i) + BORA_PREFETCH_DISTANCE, _MM_HINT_T1);
        a = _mm256_add_epi64(a, _mm256_loadu_si256(v + i));
        b = _mm256_add_epi64(b, _mm256_loadu_si256(v + i + 1));
        c = _mm256_add_epi64(c, _mm256_loadu_si256(v + i + 2));
        d = _mm256_add_epi64(d, _mm256_loadu_si256(v + i + 3));
    }
    a = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
    return (uint64_t)_mm256_extract_epi64(a, 0) + (uint64_t)_mm256_extract_epi64(a, 1) +
           (uint64_t)_mm256_extract_epi64(a, 2) + (uint64_t)_mm256_extract_epi64(a, 3);
}
#elif defined(__aarch64__)
#include <arm_neon.h>
/// The same stream in 128-bit loads, four independent sums; no software prefetch, as in the NEON
/// kernels (matmul_packed_neon.c), so the probe reads the way they do.
static uint64_t read_neon(const void *p, size_t n) {
    const uint8_t *v = p;
    uint64x2_t a = vdupq_n_u64(0), b = a, c = a, d = a;
    for (size_t i = 0; i + 64 <= n; i += 64) {
        a = vaddq_u64(a, vreinterpretq_u64_u8(vld1q_u8(v + i)));
        b = vaddq_u64(b, vreinterpretq_u64_u8(vld1q_u8(v + i + 16)));
        c = vaddq_u64(c, vreinterpretq_u64_u8(vld1q_u8(v + i + 32)));
        d = vaddq_u64(d, vreinterpretq_u64_u8(vld1q_u8(v + i + 48)));
    }
    return vaddvq_u64(vaddq_u64(vaddq_u64(a, b), vaddq_u64(c, d)));
}
#endif

uint64_t bora_read_bytes(const void *p, size_t n) {
#if defined(__x86_64__)
    if (bora_isa() >= BORA_ISA_AVX2) return read_avx2(p, n);
#elif defined(__aarch64__)
    if (bora_isa() >= BORA_ISA_NEON) return read_neon(p, n);
#endif
    const uint64_t *v = (const uint64_t *)p;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i < n / 8; i += 4) { a += v[i]; b += v[i + 1]; c += v[i + 2]; d += v[i + 3]; }
    return a + b + c + d;
}
