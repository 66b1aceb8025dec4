// Attention's key-tile kernel without the model: ROWS query rows of one KV head (its query heads ×
// the tokens of a step: 3 per token on SmolLM2, 4 on Mistral 7B and Llama 2 70B-style GQA) over KEYS
// cached keys and values, walked in tiles of BORA_KEY_TILE positions as Attention walks them, on one
// thread, with every row seeing every key. KEYS × HEAD_DIM halves fit the caches at the sizes below,
// so arithmetic, not memory, is measured. Prints, per row count, the F16 tile (read straight from an
// F16 cache) and the F32 tile in GFLOP/s (4 · HEAD_DIM per row and key: the scores and the weighted
// sum of values), the median of ROUNDS timings of 20 walks each.
//
//   Benchmarks/attention-tile.sh [REVISION [N]] [-- HEAD_DIM KEYS ROUNDS ROWS…]
#include "CBoraKernels.h"
#include "../kernel-bench.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WALKS = 20, MOST_ROWS = 256 };

static int by_value(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint16_t half(float f) {
    _Float16 h = (_Float16)f;
    uint16_t bits;
    memcpy(&bits, &h, 2);
    return bits;
}

int main(int argc, char **argv) {
    const int64_t hd = argc > 1 ? atoll(argv[1]) : 64;
    const int64_t keys = argc > 2 ? atoll(argv[2]) : 1400;
    const int rounds = argc > 3 ? atoi(argv[3]) : 15;
    int64_t sizes[64] = {3, 9, 15, 27};
    int count = 4;
    if (argc > 4) {
        count = 0;
        for (int a = 4; a < argc && count < 64; a++) sizes[count++] = atoll(argv[a]);
    }
    int sane = hd >= 16 && hd % 16 == 0 && hd <= 256 && keys >= 1 && keys <= 32768 && rounds >= 1 && rounds <= 1000;
    for (int i = 0; i < count; i++) sane = sane && sizes[i] >= 1 && sizes[i] <= MOST_ROWS;
    if (!sane) {
        fprintf(stderr, "usage: attention-tile [HEAD_DIM: multiple of 16, ≤ 256] [KEYS 1…32768] [ROUNDS 1…1000] [ROWS 1…%d …]\n",
                MOST_ROWS);
        return 2;
    }
    const int64_t tile = BORA_KEY_TILE;
    float *q = malloc(sizeof(float) * (size_t)(MOST_ROWS * hd));
    float *kf = malloc(sizeof(float) * (size_t)(keys * hd)), *vf = malloc(sizeof(float) * (size_t)(keys * hd));
    uint16_t *kh = malloc(2 * (size_t)(keys * hd)), *vh = malloc(2 * (size_t)(keys * hd));
    float *m = malloc(sizeof(float) * MOST_ROWS), *l = malloc(sizeof(float) * MOST_ROWS);
    float *o = malloc(sizeof(float) * (size_t)(MOST_ROWS * hd)), *s = malloc(sizeof(float) * (size_t)(MOST_ROWS * tile));
    int64_t *first = malloc(sizeof(int64_t) * MOST_ROWS), *last = malloc(sizeof(int64_t) * MOST_ROWS);
    if (!q || !kf || !vf || !kh || !vh || !m || !l || !o || !s || !first || !last) { fprintf(stderr, "out of memory\n"); return 1; }
    srand(1);
    for (int64_t i = 0; i < MOST_ROWS * hd; i++) q[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (int64_t i = 0; i < keys * hd; i++) {
        kh[i] = half((float)rand() / (float)RAND_MAX - 0.5f);
        vh[i] = half((float)rand() / (float)RAND_MAX - 0.5f);
        _Float16 a, b;
        memcpy(&a, &kh[i], 2);
        memcpy(&b, &vh[i], 2);
        kf[i] = (float)a;
        vf[i] = (float)b;
    }
    for (int64_t r = 0; r < MOST_ROWS; r++) { first[r] = 0; last[r] = keys - 1; }
    const float scale = 1.0f / sqrtf((float)hd);
    printf("head dim %lld, %lld keys, one thread, isa %d; GFLOP/s (median of %d)\n", (long long)hd, (long long)keys, bora_isa(), rounds);
    printf("%6s %8s %8s\n", "rows", "F16", "F32");
    for (int c = 0; c < count; c++) {
        const int64_t rows = sizes[c];
        double rate[2];
        for (int f16 = 1; f16 >= 0; f16--) {
            double times[1000];
            for (int r = -1; r < rounds; r++) {  // round -1 warms the caches
                const double t0 = now();
                for (int w = 0; w < WALKS; w++) {
                    for (int64_t i = 0; i < rows; i++) { m[i] = -INFINITY; l[i] = 0; }
                    memset(o, 0, sizeof(float) * (size_t)(rows * hd));
                    for (int64_t start = 0; start < keys; start += tile) {
                        const int64_t n = keys - start < tile ? keys - start : tile;
                        if (f16)
                            bora_attention_tile_f16(q, rows, hd, kh + start * hd, vh + start * hd, n, start, first, last, scale, m, l, o, s);
                        else
                            bora_attention_tile(q, rows, hd, kf + start * hd, vf + start * hd, n, start, first, last, scale, m, l, o, s);
                    }
                }
                if (r >= 0) times[r] = now() - t0;
            }
            qsort(times, (size_t)rounds, sizeof times[0], by_value);
            rate[f16] = 4.0 * (double)(rows * keys * hd) * WALKS / times[rounds / 2] / 1e9;
        }
        printf("%6lld %8.2f %8.2f\n", (long long)rows, rate[1], rate[0]);
    }
    free(q); free(kf); free(vf); free(kh); free(vh); free(m); free(l); free(o); free(s); free(first); free(last);
    return 0;
}
