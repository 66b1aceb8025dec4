#include "CBoraKernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

int bora_cpu_has_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    }
    return cached;
}

void bora_cpu_relax(void) { _mm_pause(); }

#else

int bora_cpu_has_avx2(void) { return 0; }

void bora_cpu_relax(void) {
#if defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
