// The innermost SIMD loops of Bora, and nothing else. Everything around them (blocking, threading,
// model logic) is Swift. Each function has a portable body plus, where it pays, an AVX2/FMA/F16C
// (x86-64) or NEON (arm64) body chosen at run time, so the package needs no unsafe build flags.
#ifndef CBORA_KERNELS_H
#define CBORA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when the running CPU has AVX2, FMA and F16C (x86-64), 0 otherwise. Cached after the first call.
int bora_cpu_has_avx2(void);

/// A short pause for spin-wait loops (PAUSE on x86, YIELD on arm64).
void bora_cpu_relax(void);

/// sum(a[i] * b[i]) over n floats.
float bora_dot_f32(const float *a, const float *b, size_t n);

#ifdef __cplusplus
}
#endif

#endif
