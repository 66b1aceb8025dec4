// Decode's packed products without the memory wall: one activation row against a weight matrix
// small enough to stay in one core's L2, multiplied again and again on one thread, beside the
// bandwidth probe (bora_read_bytes) over the same cached bytes. What a kernel reads per second here
// is its arithmetic rate: a format whose rate is not well above a core's share of the DRAM stream
// (gemv-stream) cannot keep up with the stream, whatever its prefetching.
//
//   Benchmarks/gemv-compute.sh [KILOBYTES] [PASSES] [FORMATS]
//
// KILOBYTES of packed weights (default 384: inside a 1 MB L2 with room for the rest), PASSES
// products per timing (default 2000), best of 5 timings; FORMATS a comma-separated subset
// (e.g. Q3_K,Q6_K). Prints GB/s of weights, ns per unit (32 elements of 16 rows, the kernels'
// step, scales included) and the probe's GB/s over the same bytes.
#include "CBoraKernels.h"
#include "blocks.h"
#include "packed.h"
#include "../kernel-bench.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { K = 4096 };
static int8_t xq[K];
static float xd[K / 32], xs16[K / 16];
static int32_t xsum[K / 32];

/// Whether `name` is one of the comma-separated `list` (all when there is no list).
static int selected(const char *list, const char *name) {
    if (!list) return 1;
    const size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)); p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == 0)) return 1;
    return 0;
}

int main(int argc, char **argv) {
    const int64_t kilobytes = argc > 1 ? atoll(argv[1]) : 384;
    const int passes = argc > 2 ? atoi(argv[2]) : 2000;
    const char *only = argc > 3 ? argv[3] : NULL;
    if (kilobytes < 128 || kilobytes > (1 << 20) || passes < 1) {
        fprintf(stderr, "usage: gemv-compute [KILOBYTES 128…] [PASSES ≥ 1] [FORMATS, e.g. Q3_K,Q6_K]\n");
        return 2;
    }
    const int64_t bytes = kilobytes << 10;
    uint8_t *weights = aligned_alloc(4096, (size_t)bytes + BORA_PREFETCH_DISTANCE);
    float *out = malloc((size_t)bytes);  // at least 16 outputs per group of ≥ 64 bytes
    if (!weights || !out) { fprintf(stderr, "out of memory\n"); return 1; }
    srand(1);
    // Random codes with normal f16 scales (0x3030…): speed does not depend on the values.
    for (int64_t i = 0; i < bytes + BORA_PREFETCH_DISTANCE; i++) weights[i] = (uint8_t)(0x30 | (rand() & 15));
    for (int i = 0; i < K; i++) xq[i] = (int8_t)(rand() % 255 - 127);
    for (int i = 0; i < K / 32; i++) xd[i] = 0.01f;
    printf("%lld KB, one thread, isa %d, %d passes per timing, best of 5\n", (long long)kilobytes, bora_isa(), passes);
    uint64_t sink = 0;
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        if (!selected(only, formats[f].name)) continue;
        const int type = formats[f].type;
        const int64_t group_bytes = K / 32 / bora_units_per_super(type) * bora_super_bytes(type);
        const int64_t groups = bytes / group_bytes, total = groups * group_bytes;
        double kernel = 1e30, probe = 1e30;
        for (int round = 0; round < 5; round++) {
            const double t0 = now();
            for (int p = 0; p < passes; p++) bora_matmul_packed(type, weights, K, 0, groups, xq, xd, xs16, xsum, 1, out, 16 * groups);
            const double t1 = now();
            for (int p = 0; p < passes; p++) sink += bora_read_bytes(weights, (size_t)total);
            const double t2 = now();
            if (t1 - t0 < kernel) kernel = t1 - t0;
            if (t2 - t1 < probe) probe = t2 - t1;
        }
        printf("%-7s kernel %6.1f GB/s  %5.2f ns/unit  probe %6.1f GB/s\n", formats[f].name, passes * total / kernel / 1e9,
               kernel / passes / (double)(groups * K / 32) * 1e9, passes * total / probe / 1e9);
    }
    return (int)(sink & 0);
}
