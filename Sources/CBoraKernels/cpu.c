#include "CBoraKernels.h"
#include <stdlib.h>
#include <string.h>

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

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

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

#elif defined(__aarch64__)

#if defined(__APPLE__)
#include <sys/sysctl.h>

/// 1 when the sysctl `name` (hw.optional.arm.FEAT_*) reads as a nonzero integer.
static int sysctl_flag(const char *name) {
    int value = 0;
    size_t size = sizeof(value);
    return sysctlbyname(name, &value, &size, NULL, 0) == 0 && value != 0;
}

static int detect_dotprod(void) { return sysctl_flag("hw.optional.arm.FEAT_DotProd"); }
static int detect_i8mm(void) { return sysctl_flag("hw.optional.arm.FEAT_I8MM"); }
#elif defined(__linux__)
#include <sys/auxv.h>

// The kernel's bits for the features (arch/arm64/include/uapi/asm/hwcap.h), spelled out so that
// older C libraries' headers need not define them.
#define BORA_HWCAP_ASIMDDP (1UL << 20)
#define BORA_HWCAP2_I8MM (1UL << 13)

static int detect_dotprod(void) { return (getauxval(AT_HWCAP) & BORA_HWCAP_ASIMDDP) != 0; }
static int detect_i8mm(void) { return (getauxval(AT_HWCAP2) & BORA_HWCAP2_I8MM) != 0; }
#else
static int detect_dotprod(void) { return 0; }
static int detect_i8mm(void) { return 0; }
#endif

void bora_cpu_relax(void) { __asm__ __volatile__("yield"); }

int bora_has_bf16_dot_isa(int isa) { (void)isa; return 0; }

/// BORA_ISA=portable|neon|dotprod in the environment caps the kernels (to measure or test a lower level).
static int environment_cap(void) {
    const char *name = getenv("BORA_ISA");
    if (!name) return BORA_ISA_NEON_I8MM;
    if (strcmp(name, "portable") == 0) return BORA_ISA_PORTABLE;
    if (strcmp(name, "neon") == 0) return BORA_ISA_NEON;
    if (strcmp(name, "dotprod") == 0) return BORA_ISA_NEON_DOTPROD;
    return BORA_ISA_NEON_I8MM;
}

/// NEON (Advanced SIMD) is part of every arm64 CPU; dotprod and i8mm are optional (Armv8.2/8.6).
static int detect_isa(void) {
    int best = BORA_ISA_NEON;
    if (detect_dotprod()) best = detect_i8mm() ? BORA_ISA_NEON_I8MM : BORA_ISA_NEON_DOTPROD;
    int cap = environment_cap();
    return best < cap ? best : cap;
}

int bora_isa(void) {
    static int cached = -1;
    CACHED(cached, detect_isa());
}

#else

void bora_cpu_relax(void) {}

int bora_isa(void) { return BORA_ISA_PORTABLE; }

int bora_has_bf16_dot_isa(int isa) { (void)isa; return 0; }

#endif

int bora_has_bf16_dot(void) { return bora_has_bf16_dot_isa(bora_isa()); }

void bora_prefetch_l2(const void *p, int64_t bytes) {
    const char *c = (const char *)p;
    for (int64_t i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 0, 2);
}

int64_t bora_take_chunk(uint64_t *range, int from_back) {
    uint64_t v = __atomic_load_n(range, __ATOMIC_RELAXED);
    for (;;) {
        const uint32_t first = (uint32_t)v, end = (uint32_t)(v >> 32);
        if (first >= end) return -1;
        const uint64_t next = from_back ? ((uint64_t)(end - 1) << 32 | first) : v + 1;
        if (__atomic_compare_exchange_n(range, &v, next, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return from_back ? (int64_t)end - 1 : (int64_t)first;
    }
}
