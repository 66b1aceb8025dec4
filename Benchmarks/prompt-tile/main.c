// Prefill's matrix products without the model: the packed product of B activation rows with one
// matrix of N rows × 4096 (in the caches' reach, so arithmetic, not memory, is measured), on one
// thread. Prints each format's multiply-adds per nanosecond, the median of ROUNDS timings.
//
//   Benchmarks/prompt-tile.sh [REVISION [N]] [-- ROWS BATCH ROUNDS [FORMAT]]
//
// The bytes are random codes with normal f16 scales: speed does not depend on the values.
#include "CBoraKernels.h"
#include "blocks.h"
#include "packed.h"
#include "../kernel-bench.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { K = 4096 };

static int by_value(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const int64_t rows = argc > 1 ? atoll(argv[1]) : 512;
    const int64_t batch = argc > 2 ? atoll(argv[2]) : 128;
    const int rounds = argc > 3 ? atoi(argv[3]) : 7;
    const char *only = argc > 4 ? argv[4] : NULL;
    if (rows < 16 || rows % 16 || rows > 65536 || batch < 1 || batch > 4096 || rounds < 1 || rounds > 1000) {
        fprintf(stderr, "usage: prompt-tile [ROWS: multiple of 16, ≤ 65536] [BATCH 1…4096] [ROUNDS 1…1000] [FORMAT]\n");
        return 2;
    }
    const int64_t groups = rows / 16, units = K / 32;
    const size_t most = (size_t)groups * (size_t)units * 1024;  // beyond every format's bytes per unit
    uint8_t *weights = aligned_alloc(4096, most);
    int8_t *xq = malloc((size_t)(batch * K));
    float *xd = malloc(sizeof(float) * (size_t)(batch * units)), *xs16 = malloc(sizeof(float) * (size_t)(2 * batch * units));
    int32_t *xsum = malloc(sizeof(int32_t) * (size_t)(batch * units));
    float *out = malloc(sizeof(float) * (size_t)(batch * rows));
    if (!weights || !xq || !xd || !xs16 || !xsum || !out) { fprintf(stderr, "out of memory\n"); return 1; }
    srand(1);
    for (size_t i = 0; i < most; i++) weights[i] = (uint8_t)(0x30 | (rand() & 15));
    for (int64_t i = 0; i < batch * K; i++) xq[i] = (int8_t)(rand() % 255 - 127);
    for (int64_t i = 0; i < batch * units; i++) { xd[i] = 0.01f; xs16[2 * i] = xs16[2 * i + 1] = 0.5f; xsum[i] = 3; }
    printf("%lld rows x %d, batch %lld, one thread, isa %d; multiply-adds per ns (median of %d)\n", (long long)rows, K,
           (long long)batch, bora_isa(), rounds);
    int measured = 0;
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        if (only && strcmp(only, formats[f].name) != 0) continue;
        measured++;
        const int type = formats[f].type;
        double times[1000];
        bora_matmul_packed(type, weights, K, 0, groups, xq, xd, xs16, xsum, batch, out, rows);  // warm the caches
        for (int r = 0; r < rounds; r++) {
            const double t0 = now();
            bora_matmul_packed(type, weights, K, 0, groups, xq, xd, xs16, xsum, batch, out, rows);
            times[r] = now() - t0;
        }
        qsort(times, (size_t)rounds, sizeof times[0], by_value);
        printf("%-7s %7.2f\n", formats[f].name, (double)rows * K * batch / times[rounds / 2] / 1e9);
    }
    free(weights); free(xq); free(xd); free(xs16); free(xsum); free(out);
    if (!measured) { fprintf(stderr, "no format named %s (Q8_0, Q4_0, … IQ4_XS)\n", only); return 2; }
    return 0;
}
