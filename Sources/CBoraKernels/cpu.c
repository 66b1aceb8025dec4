#include "CBoraKernels.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

/// Returns the cached value of a detection, computing it on first use. Each detection is idempotent,
/// so threads racing on the first call store the same value; the cache is atomic only so that the
/// race is defined behaviour (relaxed order suffices).
#define CACHED(cache, expression)                                         \
    do {                                                                  \
        int value = __atomic_load_n(&(cache), __ATOMIC_RELAXED);          \
        if (value < 0) {                                                  \
            value = (expression);                                         \
            __atomic_store_n(&(cache), value, __ATOMIC_RELAXED);          \
        }                                                                 \
        return value;                                                     \
    } while (0)

static int detect_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

static int cpu_has_avx2(void) {
    static int cached = -1;
    CACHED(cached, detect_avx2());
}

void bora_cpu_relax(void) { _mm_pause(); }

static int detect_avx512_vnni(void) {
    __builtin_cpu_init();
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

static int cpu_has_avx512_vnni(void) {
    static int cached = -1;
    CACHED(cached, detect_avx512_vnni());
}

static int detect_avx512_bf16(void) {
    __builtin_cpu_init();
    return cpu_has_avx512_vnni() && __builtin_cpu_supports("avx512bf16");
}

static int cpu_has_avx512_bf16(void) {
    static int cached = -1;
    CACHED(cached, detect_avx512_bf16());
}

int bora_has_bf16_dot_isa(int isa) { return isa >= BORA_ISA_AVX512_VNNI && bora_isa() >= BORA_ISA_AVX512_VNNI && cpu_has_avx512_bf16(); }

/// BORA_ISA=portable|avx2 in the environment caps the kernels (to measure or debug a slower path).
static int environment_cap(void) {
    const char *name = getenv("BORA_ISA");
    if (!name) return BORA_ISA_AVX512_VNNI;
    if (strcmp(name, "portable") == 0) return BORA_ISA_PORTABLE;
    if (strcmp(name, "avx2") == 0) return BORA_ISA_AVX2;
    return BORA_ISA_AVX512_VNNI;
}

static int detect_isa(void) {
    int best = cpu_has_avx512_vnni() ? BORA_ISA_AVX512_VNNI : cpu_has_avx2() ? BORA_ISA_AVX2 : BORA_ISA_PORTABLE;
    int cap = environment_cap();
    return best < cap ? best : cap;
}

int bora_isa(void) {
    static int cached = -1;
    CACHED(cached, detect_isa());
}

#else

void bora_cpu_relax(void) {
#if defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

int bora_isa(void) { return BORA_ISA_PORTABLE; }

int bora_has_bf16_dot_isa(int isa) { (void)isa; return 0; }

#endif

int bora_has_bf16_dot(void) { return bora_has_bf16_dot_isa(bora_isa()); }
