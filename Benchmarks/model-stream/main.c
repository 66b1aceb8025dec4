// Decode's weight stream in the model's shape, without the model: the packed products of one
// activation row over TinyLlama-1.1B's 22 layers of matrices (Q, K, V, O, gate, up, down), dispatched
// as the forward pass dispatches them (Q+K+V in one job, O, gate+up, down, a barrier after each job;
// each matrix cut into chunks, 8 per thread, numbered across the job; each thread takes its own
// contiguous run of chunks in order and then helps from the back of the other's, as
// MatMul.ProductJob does), and dealt out one chunk at a time to whichever thread is free (the engine
// before 2026-12-07), beside the same bytes as one matrix (one stream per thread, no barriers) and
// the bandwidth probe, each on memory with 4 KB pages and on memory advised for 2 MB pages
// (MADV_HUGEPAGE). Variants are interleaved pass by pass, so each rate is read over the same moments
// of a host whose bandwidth moves within seconds.
//
//   Benchmarks/model-stream.sh [PASSES] [FORMAT]      (FORMAT: a name from kernel-bench.h, Q4_K default)
//
// The bytes are random codes with normal f16 scales: speed does not depend on the values.
#include "CBoraKernels.h"
#include "blocks.h"
#include "packed.h"
#include "../kernel-bench.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

enum { LAYERS = 22, DIM = 2048, KV = 256, FFN = 5632, THREADS = 2, HUGE_PAGE = 2 << 20 };
typedef struct { const uint8_t *w; int64_t k, groups; float *out; } Mat;
static const int64_t shape[7][2] = {{DIM, DIM}, {KV, DIM}, {KV, DIM}, {DIM, DIM}, {FFN, DIM}, {FFN, DIM}, {DIM, FFN}};
static Mat layers[2][LAYERS][7], whole[2];
static uint8_t *memory[2];
static int64_t total;
static int type = BORA_Q4_K, chunks_per_thread = 8;
static int8_t xq[FFN];
static float xd[FFN / 32], xs16[FFN / 16];
static int32_t xsum[FFN / 32];
static uint64_t sink[THREADS];

// The job now running: a probe of memory[probe] (probe ≥ 0), half of whole[halves] per thread
// (halves ≥ 0), or up to three matrices, in runs per thread (runs = 1) or dealt one chunk at a time.
static int probe = -1, halves = -1, runs = 1;
static uint64_t run_of[THREADS];
static int64_t first_chunk[4], per_chunk[3];
static Mat *job[3];
static int job_count;
static _Atomic long epoch, pending, next_chunk;

static int64_t group_bytes(int64_t k) { return k / 32 / bora_units_per_super(type) * bora_super_bytes(type); }

static void plan(const Mat *m, int64_t *per, int64_t *chunks) {
    int64_t p = m->groups / (THREADS * chunks_per_thread);
    if (p < 2) p = 2;
    p += p & 1;
    *per = p;
    *chunks = (m->groups + p - 1) / p;
}

static void execute(int t) {
    if (probe >= 0) {
        const int64_t part = total / THREADS / 128 * 128;
        sink[t] += bora_read_bytes(memory[probe] + t * part, part);
        return;
    }
    if (halves >= 0) {
        const Mat *m = &whole[halves];
        bora_matmul_packed(type, m->w, m->k, m->groups * t / THREADS, m->groups * (t + 1) / THREADS, xq, xd, xs16, xsum, 1, m->out,
                           16 * m->groups);
        return;
    }
    if (runs) {
        for (int r = 0; r < THREADS; r++)
            for (int64_t c; (c = bora_take_chunk(&run_of[(t + r) % THREADS], r != 0)) >= 0;) {
                int i = 0;
                while (c >= first_chunk[i + 1]) i++;
                const int64_t s = (c - first_chunk[i]) * per_chunk[i], e = s + per_chunk[i] < job[i]->groups ? s + per_chunk[i] : job[i]->groups;
                bora_matmul_packed(type, job[i]->w, job[i]->k, s, e, xq, xd, xs16, xsum, 1, job[i]->out, 16 * job[i]->groups);
            }
        return;
    }
    int i = 0;
    long first = 0;
    int64_t per, chunks;
    plan(job[0], &per, &chunks);
    for (;;) {
        const long c = atomic_fetch_add_explicit(&next_chunk, 1, memory_order_relaxed);
        while (c >= first + chunks) {
            first += chunks;
            if (++i >= job_count) return;
            plan(job[i], &per, &chunks);
        }
        const int64_t s = (c - first) * per, e = s + per < job[i]->groups ? s + per : job[i]->groups;
        bora_matmul_packed(type, job[i]->w, job[i]->k, s, e, xq, xd, xs16, xsum, 1, job[i]->out, 16 * job[i]->groups);
    }
}

static void *worker(void *arg) {
    const int t = (int)(long)arg;
    long seen = 0;
    for (;;) {
        long e;
        while ((e = atomic_load_explicit(&epoch, memory_order_acquire)) == seen) bora_cpu_relax();
        if (e < 0) return NULL;
        seen = e;
        execute(t);
        atomic_fetch_sub_explicit(&pending, 1, memory_order_release);
    }
}

static void run(void) {
    atomic_store(&next_chunk, 0);
    atomic_store(&pending, THREADS - 1);
    atomic_fetch_add(&epoch, 1);
    execute(0);
    while (atomic_load_explicit(&pending, memory_order_acquire) > 0) bora_cpu_relax();
}

// As MatMul.ProductJob.reset: runs of about equal work (all matrices of a job have the same columns).
static void dispatch(int n, Mat *a, Mat *b, Mat *c) {
    job[0] = a, job[1] = b, job[2] = c, job_count = n;
    if (runs) {
        int64_t units = 0, chunks;
        for (int i = 0; i < n; i++) {
            plan(job[i], &per_chunk[i], &chunks);
            first_chunk[i + 1] = first_chunk[i] + chunks;
            units += job[i]->groups;
        }
        int64_t first = 0;
        for (int t = 0; t < THREADS; t++) {
            int64_t end = first_chunk[n];
            if (t + 1 < THREADS) {
                int64_t target = units * (t + 1) / THREADS;
                int i = 0;
                while (i + 1 < n && target >= job[i]->groups) target -= job[i++]->groups;
                end = first_chunk[i] + target / per_chunk[i];
                if (end > first_chunk[i + 1]) end = first_chunk[i + 1];
                if (end < first) end = first;
            }
            run_of[t] = (uint64_t)end << 32 | (uint64_t)first;
            first = end;
        }
    }
    run();
}

static void token(int pages) {
    for (int l = 0; l < LAYERS; l++) {
        Mat *m = layers[pages][l];
        dispatch(3, &m[0], &m[1], &m[2]);
        dispatch(1, &m[3], NULL, NULL);
        dispatch(2, &m[4], &m[5], NULL);
        dispatch(1, &m[6], NULL, NULL);
    }
}

int main(int argc, char **argv) {
    const int passes = argc > 1 ? atoi(argv[1]) : 20;
    const char *name = argc > 2 ? argv[2] : "Q4_K";
    type = -1;
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++)
        if (!strcmp(name, formats[f].name)) type = formats[f].type;
    if (passes < 1 || type < 0 || !bora_packed_supported(type, DIM) || !bora_packed_supported(type, FFN)) {
        fprintf(stderr, "usage: model-stream [PASSES ≥ 1] [FORMAT with packed kernels for rows of %d and %d]\n", DIM, FFN);
        return 2;
    }
    for (int j = 0; j < 7; j++) total += LAYERS * shape[j][0] / 16 * group_bytes(shape[j][1]);
    const int64_t whole_groups = total / group_bytes(DIM), whole_bytes = whole_groups * group_bytes(DIM);
    float *out = malloc(sizeof(float) * 16 * (size_t)whole_groups);
    for (int pages = 0; pages < 2; pages++) {
        // Both layouts in one buffer: the layers' matrices end to end (as PackedArena lays them out),
        // and the same bytes read as one matrix of DIM columns.
        const size_t size = ((size_t)total + HUGE_PAGE) / HUGE_PAGE * HUGE_PAGE;
        void *p = NULL;
        if (posix_memalign(&p, pages ? HUGE_PAGE : 4096, size)) { fprintf(stderr, "out of memory\n"); return 1; }
#if defined(__linux__)
        if (pages) madvise(p, size, MADV_HUGEPAGE);
#endif
        memory[pages] = p;
        srand(1);
        for (size_t i = 0; i < size; i++) memory[pages][i] = (uint8_t)(0x30 | (rand() & 15));
        const uint8_t *at = memory[pages];
        for (int l = 0; l < LAYERS; l++)
            for (int j = 0; j < 7; j++) {
                Mat *m = &layers[pages][l][j];
                *m = (Mat){at, shape[j][1], shape[j][0] / 16, out};
                at += m->groups * group_bytes(m->k);
            }
        whole[pages] = (Mat){memory[pages], DIM, whole_groups, out};
    }
    for (int i = 0; i < FFN; i++) xq[i] = (int8_t)(rand() % 255 - 127);
    for (int i = 0; i < FFN / 32; i++) xd[i] = 0.01f;
    pthread_t pool[THREADS];
    for (long t = 1; t < THREADS; t++) pthread_create(&pool[t], NULL, worker, (void *)t);

    static const char *names[] = {"probe", "one matrix", "model-shaped", "dealt 1 by 1"};
    double seconds[4][2] = {{0}};
    for (int pass = 0; pass < passes; pass++)
        for (int v = 0; v < 4; v++)
            for (int pages = 0; pages < 2; pages++) {
                const double t0 = now();
                if (v == 0) {
                    probe = pages;
                    run();
                    probe = -1;
                } else if (v == 1) {
                    halves = pages;
                    run();
                    halves = -1;
                } else {
                    runs = v == 2;
                    token(pages);
                    runs = 1;
                }
                seconds[v][pages] += now() - t0;
            }
    atomic_store(&epoch, -1);
    for (long t = 1; t < THREADS; t++) pthread_join(pool[t], NULL);
    printf("%s, %.0f MB per pass (TinyLlama-1.1B's matrices), %d threads, %d passes, interleaved; GB/s and share of the probe on 4 KB pages\n",
           name, total / 1e6, THREADS, passes);
    printf("%-13s %18s %18s\n", "", "4 KB pages", "2 MB pages");
    for (int v = 0; v < 4; v++) {
        printf("%-13s", names[v]);
        for (int pages = 0; pages < 2; pages++) {
            const double rate = (double)passes * (v == 1 ? whole_bytes : total) / seconds[v][pages];
            printf("   %6.2f GB/s %4.0f%%", rate / 1e9, 100 * rate / (passes * total / seconds[0][0]));
        }
        printf("\n");
    }
    return (int)(sink[0] & 0);
}
