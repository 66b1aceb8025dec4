// What the kernel benchmarks (gemv-stream, prompt-tile) share: the block formats they time, by
// name, and a monotonic clock.
#ifndef BORA_KERNEL_BENCH_H
#define BORA_KERNEL_BENCH_H

#include "CBoraKernels.h"
#include <time.h>

static const struct { int type; const char *name; } formats[] = {
    {BORA_Q8_0, "Q8_0"}, {BORA_Q4_0, "Q4_0"}, {BORA_Q4_1, "Q4_1"}, {BORA_Q5_0, "Q5_0"}, {BORA_Q5_1, "Q5_1"},
    {BORA_Q2_K, "Q2_K"}, {BORA_Q3_K, "Q3_K"}, {BORA_Q4_K, "Q4_K"}, {BORA_Q5_K, "Q5_K"}, {BORA_Q6_K, "Q6_K"},
    {BORA_IQ4_NL, "IQ4_NL"}, {BORA_IQ4_XS, "IQ4_XS"},
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#endif
