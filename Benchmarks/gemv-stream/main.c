// Decode's weight stream without the model: the packed product of one activation row (batch 1)
// over a matrix much larger than the caches, on T threads, interleaved with the bandwidth probe
// (bora_read_bytes) on the same bytes. Prints each format's read rate and its share of the probe.
//
//   Benchmarks/gemv-stream.sh [MEGABYTES] [THREADS] [PASSES] [CHUNK] [BATCH]
//
// CHUNK > 0 deals the groups of 16 rows out in chunks of CHUNK groups, thread t taking chunks t,
// t + THREADS, … (as the engine deals a matrix's chunks to threads as they come free), instead of
// one contiguous half per thread: each chunk's start is where a stream begins cold. BATCH > 1
// multiplies that many activation rows (the prompt tiles, as a speculative verification step of
// BATCH rows runs them): the rate is still the weights' bytes over the time.
// The bytes are random codes with normal f16 scales: speed does not depend on the values.
#include "CBoraKernels.h"
#include "blocks.h"
#include "packed.h"
#include "../kernel-bench.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

enum { K = 4096, MAX_BATCH = 64 };
static int type, threads, passes, probing, batch;
static int64_t chunk;
static int64_t groups, total;
static uint8_t *weights;
static int8_t xq[MAX_BATCH * K];
static float xd[MAX_BATCH * K / 32], xs16[MAX_BATCH * K / 16], *out;
static int32_t xsum[MAX_BATCH * K / 32];
static uint64_t sink[64];
static pthread_barrier_t barrier;

static void *worker(void *arg) {
    const long t = (long)arg;
    for (int i = 0; i < 2 * passes; i++) {
        pthread_barrier_wait(&barrier);
        if (probing) {
            const int64_t part = total / threads / 128 * 128;
            sink[t] += bora_read_bytes(weights + t * part, part);
        } else if (chunk > 0) {
            for (int64_t g = t * chunk; g < groups; g += threads * chunk)
                bora_matmul_packed(type, weights, K, g, g + chunk < groups ? g + chunk : groups, xq, xd, xs16, xsum, batch,
                                   out, 16 * groups);
        } else {
            bora_matmul_packed(type, weights, K, groups * t / threads, groups * (t + 1) / threads, xq, xd, xs16, xsum, batch,
                               out, 16 * groups);
        }
        pthread_barrier_wait(&barrier);
    }
    return NULL;
}

int main(int argc, char **argv) {
    const int64_t megabytes = argc > 1 ? atoll(argv[1]) : 128;
    threads = argc > 2 ? atoi(argv[2]) : 2;
    passes = argc > 3 ? atoi(argv[3]) : 200;
    chunk = argc > 4 ? atoll(argv[4]) : 0;
    batch = argc > 5 ? atoi(argv[5]) : 1;
    if (threads < 1 || threads > 64 || megabytes < 1 || passes < 1 || chunk < 0 || batch < 1 || batch > MAX_BATCH) {
        fprintf(stderr, "usage: gemv-stream [MEGABYTES ≥ 1] [THREADS 1…64] [PASSES ≥ 1] [CHUNK ≥ 0 groups] [BATCH 1…%d rows]\n", MAX_BATCH);
        return 2;
    }
    weights = aligned_alloc(4096, (size_t)(megabytes << 20) + 4096);
    out = malloc(sizeof(float) * (size_t)batch * (size_t)(megabytes << 20) / 16);
    if (!weights || !out) { fprintf(stderr, "out of memory\n"); return 1; }
    srand(1);
    for (int64_t i = 0; i < (megabytes << 20); i++) weights[i] = (uint8_t)(0x30 | (rand() & 15));
    for (int i = 0; i < MAX_BATCH * K; i++) xq[i] = (int8_t)(rand() % 255 - 127);
    for (int i = 0; i < MAX_BATCH * K / 32; i++) xd[i] = 0.01f;
    printf("%lld MB, %d threads, %d passes each, %d activation rows, interleaved%s; GB/s over all passes\n", (long long)megabytes,
           threads, passes, batch, chunk ? ", groups dealt in chunks" : "");
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        type = formats[f].type;
        const int64_t group_bytes = K / 32 / bora_units_per_super(type) * bora_super_bytes(type);
        groups = (megabytes << 20) / group_bytes;
        total = groups * group_bytes;
        pthread_barrier_init(&barrier, NULL, threads + 1);
        pthread_t pool[64];
        for (long t = 0; t < threads; t++) pthread_create(&pool[t], NULL, worker, (void *)t);
        double kernel = 0, probe = 0;
        for (int i = 0; i < 2 * passes; i++) {
            probing = i & 1;
            pthread_barrier_wait(&barrier);
            const double t0 = now();
            pthread_barrier_wait(&barrier);
            *(probing ? &probe : &kernel) += now() - t0;
        }
        for (int t = 0; t < threads; t++) pthread_join(pool[t], NULL);
        pthread_barrier_destroy(&barrier);
        printf("%-7s kernel %6.2f GB/s  probe %6.2f GB/s  %4.0f%%\n", formats[f].name, passes * total / kernel / 1e9,
               passes * total / probe / 1e9, 100 * probe / kernel);
    }
    return (int)(sink[0] & 0);
}
