// The arm64 kernels against the portable C and exact references, for Tools/neon-check.sh: built with
// the CBoraKernels sources for aarch64-linux-gnu and run under qemu-aarch64 at each CPU feature level.
// It checks every level the CPU reports (NEON, dotprod, i8mm), on random blocks and on shapes that
// are not multiples of any tile (rows past the last group of 16, activation rows past every tile and
// past the 128-row chunk):
//   - quantized row-major products: the portable path's bits;
//   - quantized packed products: within 1e-5 of the exact product of the dequantized weights and
//     8-bit activations (the Swift tests' bound), bit-identical across levels, each activation row
//     bit-identical alone and in the batch, and threads' group ranges giving the same bits;
//   - activation quantization: bit-identical to the portable path, non-finite blocks included;
//   - packed F16/BF16 and row-major F32/F16/BF16 products: within 1e-6 of the exact product, and
//     batch-invariant bit for bit;
//   - F16 conversions: every half exactly, and ties to even; SiLU the portable path's bits and within
//     3.5 ulp of the exact value; the other vector ops (and the bandwidth probe's checksum) against
//     scalar references; the attention tile on an F16 cache bit-identical to the F32 tile on
//     converted keys, and within 1e-5 of a direct softmax.
// Prints one line per group of checks and its first failures; exits 1 if any fails.
#include "CBoraKernels.h"
#include "../../Sources/CBoraKernels/blocks.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0, checks = 0;

#define EXPECT(cond, ...)                                    \
    do {                                                     \
        checks++;                                            \
        if (!(cond)) {                                       \
            if (failures < 40) { printf("FAIL: "); printf(__VA_ARGS__); printf("\n"); } \
            failures++;                                      \
        }                                                    \
    } while (0)

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
/// Uniform in [-1, 1).
static float next_float(void) { return (float)(next_u32() & 0xFFFFFF) / 8388608.0f - 1.0f; }

static uint16_t half_bits(float f) {
    _Float16 h = (_Float16)f;
    uint16_t b;
    memcpy(&b, &h, 2);
    return b;
}

/// Random blocks of `type`: random bytes, with every f16 field a finite scale of moderate size.
static void random_blocks(int type, uint8_t *w, size_t bytes) {
    for (size_t i = 0; i < bytes; i++) w[i] = (uint8_t)next_u32();
    const int bb = bora_block_bytes(type);
    int fields[2] = {-1, -1};
    switch (type) {
    case BORA_Q8_0: case BORA_Q4_0: case BORA_Q5_0: case BORA_IQ4_NL: case BORA_IQ4_XS: fields[0] = 0; break;
    case BORA_Q4_1: case BORA_Q5_1: case BORA_Q4_K: case BORA_Q5_K: fields[0] = 0; fields[1] = 2; break;
    case BORA_Q6_K: fields[0] = 208; break;
    case BORA_Q2_K: fields[0] = 80; fields[1] = 82; break;
    case BORA_Q3_K: fields[0] = 108; break;
    }
    for (size_t b = 0; b + bb <= bytes; b += bb)
        for (int f = 0; f < 2; f++)
            if (fields[f] >= 0) {
                const uint16_t h = half_bits(next_float() * 0.05f);
                memcpy(w + b + fields[f], &h, 2);
            }
}

static const char *type_name(int type) {
    static const char *names[] = {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K",
                                  "Q2_K", "Q3_K", "IQ4_NL", "IQ4_XS"};
    return names[type];
}

static const char *level_name(int isa) {
    static const char *names[] = {"portable", "neon", "dotprod", "i8mm"};
    return names[isa];
}

static void *aligned(size_t bytes) {
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) { printf("out of memory\n"); exit(2); }
    return p;
}

// ---- Quantized packed products ----

static void check_quantized(int type, int rows, int64_t k, int batch) {
    const int64_t blocks = k / 32, row_bytes = k / bora_block_elements(type) * bora_block_bytes(type);
    uint8_t *w = aligned((size_t)(rows * row_bytes));
    random_blocks(type, w, (size_t)(rows * row_bytes));
    float *x = aligned(sizeof(float) * batch * k);
    for (int64_t i = 0; i < batch * k; i++) x[i] = next_float() * 3;
    int8_t *xq = aligned((size_t)(batch * k));
    float *xd = aligned(sizeof(float) * batch * blocks), *s16 = aligned(sizeof(float) * 2 * batch * blocks);
    int32_t *sum32 = aligned(sizeof(int32_t) * batch * blocks);
    bora_quantize_q8(x, k, batch, xq, xd, s16, sum32);

    const int groups = rows / 16;
    EXPECT(bora_packed_supported(type, k), "%s: packed kernels reported unsupported", type_name(type));
    uint8_t *packed = aligned(bora_packed_bytes(type, groups, k));
    bora_pack(type, w, (size_t)row_bytes, k, 0, groups, packed);

    // The exact product, and Σ|w·x| for the bound.
    double *exact = aligned(sizeof(double) * batch * rows), *magnitude = aligned(sizeof(double) * batch * rows);
    for (int r = 0; r < rows; r++)
        for (int b = 0; b < batch; b++) {
            double sum = 0, mag = 0;
            for (int64_t j = 0; j < blocks; j++) {
                int16_t q[32];
                bora_block_scales s;
                bora_load_block(type, w + r * row_bytes, j, q, &s);
                for (int i = 0; i < 32; i++) {
                    const double wi = i < 16 ? (double)s.sa * q[i] + s.ca : (double)s.sb * q[i] + s.cb;
                    const double xi = (double)xd[b * blocks + j] * xq[b * k + 32 * j + i];
                    sum += wi * xi;
                    mag += fabs(wi * xi);
                }
            }
            exact[b * rows + r] = sum;
            magnitude[b * rows + r] = mag;
        }

    // The portable row-major product meets the same bound (the reference is read right).
    float *out = aligned(sizeof(float) * batch * rows), *first = aligned(sizeof(float) * batch * rows);
    bora_matmul_q_isa(BORA_ISA_PORTABLE, type, w, (size_t)row_bytes, k, 0, rows, xq, xd, s16, batch, out, rows);
    for (int i = 0; i < batch * rows; i++)
        EXPECT(fabs(out[i] - exact[i]) <= 1e-5 * magnitude[i] + 1e-6, "%s portable %dx%d [%d]: %g vs %g", type_name(type), rows, batch, i, out[i], exact[i]);

    // The NEON row-major product: the portable path's bits (same integer sums, same float terms),
    // in two row ranges as two threads would split them.
    float *rowwise = aligned(sizeof(float) * batch * rows);
    bora_matmul_q_isa(BORA_ISA_NEON, type, w, (size_t)row_bytes, k, 0, rows / 2, xq, xd, s16, batch, rowwise, rows);
    bora_matmul_q_isa(BORA_ISA_NEON, type, w, (size_t)row_bytes, k, rows / 2, rows, xq, xd, s16, batch, rowwise, rows);
    EXPECT(memcmp(rowwise, out, sizeof(float) * batch * rows) == 0, "%s row-major NEON %dx%d: differs from the portable path",
           type_name(type), rows, batch);
    free(rowwise);

    float *single = aligned(sizeof(float) * rows);
    for (int isa = BORA_ISA_NEON; isa <= bora_isa(); isa++) {
        for (int i = 0; i < batch * rows; i++) out[i] = NAN;
        // Two group ranges, as two threads would split them.
        const int split = groups / 2;
        bora_matmul_packed_isa(isa, type, packed, k, 0, split, xq, xd, s16, sum32, batch, out, rows);
        bora_matmul_packed_isa(isa, type, packed, k, split, groups, xq, xd, s16, sum32, batch, out, rows);
        int bad = 0;
        for (int b = 0; b < batch; b++)
            for (int r = 0; r < 16 * groups; r++) {
                const int i = b * rows + r;
                if (!(fabs(out[i] - exact[i]) <= 1e-5 * magnitude[i] + 1e-6)) {
                    if (!bad) EXPECT(0, "%s %s %dx%dx%lld [%d, %d]: %g vs exact %g", type_name(type), level_name(isa), rows, batch, (long long)k, b, r, out[i], exact[i]);
                    bad = 1;
                }
            }
        if (!bad) EXPECT(1, "");
        if (isa == BORA_ISA_NEON) memcpy(first, out, sizeof(float) * batch * rows);
        else {
            int same = 1;
            for (int b = 0; b < batch; b++)
                for (int r = 0; r < 16 * groups; r++) same = same && memcmp(&out[b * rows + r], &first[b * rows + r], 4) == 0;
            EXPECT(same, "%s %s %dx%d: differs from the NEON level", type_name(type), level_name(isa), rows, batch);
        }
        int invariant = 1;
        for (int b = 0; b < batch; b++) {
            bora_matmul_packed_isa(isa, type, packed, k, 0, groups, xq + b * k, xd + b * blocks, s16 + 2 * b * blocks,
                                   sum32 + b * blocks, 1, single, rows);
            for (int r = 0; r < 16 * groups; r++) invariant = invariant && memcmp(&single[r], &out[b * rows + r], 4) == 0;
        }
        EXPECT(invariant, "%s %s %dx%d: a row alone differs from the batch", type_name(type), level_name(isa), rows, batch);
    }
    free(w); free(x); free(xq); free(xd); free(s16); free(sum32); free(packed); free(exact); free(magnitude);
    free(out); free(first); free(single);
}

// ---- Activation quantization ----

static void check_quantize(void) {
    const int64_t k = 256, rows = 5, blocks = k / 32;
    float *x = aligned(sizeof(float) * k * rows);
    for (int64_t i = 0; i < k * rows; i++) x[i] = next_float() * (i % 7 == 0 ? 100 : 2);
    for (int i = 32; i < 64; i++) x[i] = 0;        // an all-zero block
    x[70] = NAN; x[140] = INFINITY; x[200] = -INFINITY;  // three non-finite blocks
    x[300] = 0.5f * 127; x[301] = -1.5f;           // a block whose largest value is exactly 63.5
    for (int i = 320; i < 352; i++) x[i] = (float)(i - 336) * 0.5f;  // halves: ties to even
    int8_t q[2][256 * 5];
    float d[2][8 * 5], s16[2][16 * 5];
    int32_t sum[2][8 * 5];
    for (int isa = 0; isa <= 1; isa++)
        bora_quantize_q8_isa(isa == 0 ? BORA_ISA_PORTABLE : BORA_ISA_NEON, x, k, rows, q[isa], d[isa], s16[isa], sum[isa]);
    EXPECT(memcmp(q[0], q[1], sizeof q[0]) == 0, "quantize: codes differ from the portable path");
    EXPECT(memcmp(d[0], d[1], sizeof d[0]) == 0, "quantize: scales differ from the portable path");
    EXPECT(memcmp(s16[0], s16[1], sizeof s16[0]) == 0, "quantize: half sums differ from the portable path");
    EXPECT(memcmp(sum[0], sum[1], sizeof sum[0]) == 0, "quantize: integer sums differ from the portable path");
    EXPECT(isnan(d[1][2]) && isnan(d[1][4]) && isnan(d[1][6]) && d[1][1] == 0, "quantize: non-finite or zero blocks misread");
    (void)blocks;
}

// ---- Float products ----

static float weight_value(int type, const uint8_t *row, int64_t i) {
    if (type == BORA_F16) return bora_half(bora_u16(row + 2 * i));
    if (type == BORA_BF16) return bora_bf16(bora_u16(row + 2 * i));
    float f;
    memcpy(&f, row + 4 * i, 4);
    return f;
}

static void check_float(int type, int rows, int64_t k, int batch, int packed_form) {
    const size_t es = type == BORA_F32 ? 4 : 2, row_bytes = (size_t)k * es;
    uint8_t *w = aligned(rows * row_bytes);
    for (int64_t i = 0; i < rows * k; i++) {
        const float f = next_float();
        if (type == BORA_F32) memcpy(w + 4 * i, &f, 4);
        else {
            uint16_t h;
            if (type == BORA_F16) h = half_bits(f);
            else { uint32_t u; memcpy(&u, &f, 4); h = (uint16_t)(u >> 16); }
            memcpy(w + 2 * i, &h, 2);
        }
    }
    float *x = aligned(sizeof(float) * batch * k), *out = aligned(sizeof(float) * batch * rows), *single = aligned(sizeof(float) * rows);
    for (int64_t i = 0; i < batch * k; i++) x[i] = next_float() * 2;
    const int groups = rows / 16, checked = packed_form ? 16 * groups : rows;
    uint8_t *packed = NULL;
    if (packed_form) {
        EXPECT(bora_packed_supported(type, k), "%s: packed kernels reported unsupported", type_name(type));
        packed = aligned(bora_packed_bytes(type, groups, k));
        bora_pack(type, w, row_bytes, k, 0, groups, packed);
    }
    for (int i = 0; i < batch * rows; i++) out[i] = NAN;
    if (packed_form) bora_matmul_packed_float_isa(BORA_ISA_NEON, type, packed, k, 0, groups, x, NULL, batch, out, rows);
    else bora_matmul_f_isa(BORA_ISA_NEON, type, w, row_bytes, k, 0, rows, x, batch, out, rows);
    int bad = 0, invariant = 1;
    for (int b = 0; b < batch; b++) {
        for (int r = 0; r < checked; r++) {
            double exact = 0, mag = 0;
            for (int64_t i = 0; i < k; i++) {
                const double p = (double)weight_value(type, w + r * row_bytes, i) * x[b * k + i];
                exact += p;
                mag += fabs(p);
            }
            if (!(fabs(out[b * rows + r] - exact) <= 1e-6 * mag + 1e-7) && !bad) {
                EXPECT(0, "%s %s %dx%dx%lld [%d, %d]: %g vs exact %g", type_name(type), packed_form ? "packed" : "row-major",
                       rows, batch, (long long)k, b, r, out[b * rows + r], exact);
                bad = 1;
            }
        }
        if (packed_form) bora_matmul_packed_float_isa(BORA_ISA_NEON, type, packed, k, 0, groups, x + b * k, NULL, 1, single, rows);
        else bora_matmul_f_isa(BORA_ISA_NEON, type, w, row_bytes, k, 0, rows, x + b * k, 1, single, rows);
        for (int r = 0; r < checked; r++) invariant = invariant && memcmp(&single[r], &out[b * rows + r], 4) == 0;
    }
    if (!bad) EXPECT(1, "");
    EXPECT(invariant, "%s %s %dx%d: a row alone differs from the batch", type_name(type), packed_form ? "packed" : "row-major", rows, batch);
    free(w); free(x); free(out); free(single); free(packed);
}

// ---- Vector ops ----

static void check_vector_ops(void) {
    // Every finite half converts exactly, and back.
    static uint16_t halves[65536], back[65536];
    static float floats[65536];
    int n = 0;
    for (uint32_t h = 0; h < 65536; h++)
        if (((h >> 10) & 0x1F) != 0x1F) halves[n++] = (uint16_t)h;
    bora_f16_to_f32(halves, floats, (size_t)n);
    int exact = 1;
    for (int i = 0; i < n; i++) exact = exact && memcmp(&floats[i], &(float){bora_half(halves[i])}, 4) == 0;
    EXPECT(exact, "f16 → f32 differs from the exact value");
    bora_f32_to_f16(floats, back, (size_t)n);
    EXPECT(memcmp(halves, back, sizeof(uint16_t) * n) == 0, "f32 → f16 does not return every half");
    // Midpoints between neighbouring positive halves round to the even one; past the largest, to infinity.
    int ties = 1;
    for (uint16_t h = 0; h < 0x7BFF; h += 37) {
        float mid[5] = {(bora_half(h) + bora_half(h + 1)) / 2, 0, 0, 0, 0};
        uint16_t r[5];
        float rounded[5];
        memcpy(rounded, mid, sizeof mid);
        bora_f32_to_f16(mid, r, 4);
        bora_round_to_f16(rounded, 4);
        const uint16_t even = (h & 1) ? h + 1 : h;
        ties = ties && r[0] == even && rounded[0] == bora_half(even);
    }
    EXPECT(ties, "f32 → f16 ties do not round to even");
    float big[4] = {70000, -70000, 65519, 65520};
    uint16_t hb[4];
    bora_f32_to_f16(big, hb, 4);
    EXPECT(hb[0] == 0x7C00 && hb[1] == 0xFC00 && hb[2] == 0x7BFF && hb[3] == 0x7C00, "f32 → f16 overflow: %04x %04x %04x %04x", hb[0], hb[1], hb[2], hb[3]);

    for (size_t len = 1; len < 200; len += 13) {
        float a[200], b[200], y[200], z[200], g[200];
        double dot = 0, mag = 0;
        for (size_t i = 0; i < len; i++) {
            a[i] = next_float(); b[i] = next_float(); y[i] = z[i] = next_float(); g[i] = next_float();
            dot += (double)a[i] * b[i];
            mag += fabs((double)a[i] * b[i]);
        }
        EXPECT(fabs(bora_dot_f32(a, b, len) - dot) <= 1e-6 * mag + 1e-7, "dot of %zu", len);
        bora_axpy_f32(y, 0.75f, a, len);
        int ok = 1;
        for (size_t i = 0; i < len; i++) ok = ok && fabs(y[i] - (z[i] + 0.75 * a[i])) <= 1e-6 * (fabs(z[i]) + fabs(a[i])) + 1e-7;
        EXPECT(ok, "axpy of %zu", len);
        float out[200];
        bora_scale_mul(a, 1.25f, g, out, len);
        ok = 1;
        for (size_t i = 0; i < len; i++) ok = ok && out[i] == a[i] * 1.25f * g[i];
        EXPECT(ok, "scale_mul of %zu", len);
    }
    // The bandwidth probe's checksum: the sum of the 64-bit words it read.
    uint64_t words[512], sum = 0;
    for (int i = 0; i < 512; i++) { words[i] = ((uint64_t)next_u32() << 32) | next_u32(); sum += words[i]; }
    EXPECT(bora_read_bytes(words, sizeof words) == sum, "read_bytes: checksum differs from the words' sum");

    // SiLU · up: the portable path's bits in the vector body and the tail, within 3.5 ulp of the
    // double-precision value, and the edges (overflowing and underflowing exp, ±inf, NaN).
    enum { SILU = 4099 };
    static float gate[SILU], up[SILU], neon[SILU], portable[SILU];
    const float edges[] = {0.0f, -0.0f, 1e-40f, -1e-40f, 16.6f, -16.6f, 17.0f, -17.0f, 87.0f, -87.0f, 88.5f, -88.5f,
                           -1000.0f, 1000.0f, INFINITY, -INFINITY, NAN};
    const float scales[] = {4.0f, 30.0f, 200.0f, 1e-3f};
    for (int i = 0; i < SILU; i++) {
        gate[i] = i < (int)(sizeof edges / sizeof edges[0]) ? edges[i] : next_float() * scales[i % 4];
        up[i] = next_float();
    }
    memcpy(neon, gate, sizeof gate);
    memcpy(portable, gate, sizeof gate);
    bora_silu_mul(neon, up, SILU);
    bora_silu_mul_isa(BORA_ISA_PORTABLE, portable, up, SILU);
    int same = 1, close = 1;
    for (int i = 0; i < SILU; i++) {
        same = same && (memcmp(&neon[i], &portable[i], 4) == 0 || (isnan(neon[i]) && isnan(portable[i])));
        const double g = gate[i], u = up[i];
        if (isnan(g) || g == -INFINITY) { close = close && isnan(neon[i]); continue; }
        if (isinf(g)) { close = close && neon[i] == (float)(u * INFINITY); continue; }
        const double exact = g / (1 + exp(-g)) * u;
        if (fabs(exact) < 1e-35) { close = close && fabs(neon[i]) < 1e-35; continue; }
        const double ulp = fabs(exact) < 0x1p-126 ? 0x1p-149 : ldexp(1.0, ilogb(exact) - 23);
        const int ok = fabs(neon[i] - exact) <= 3.5 * ulp;
        if (!ok && close) fprintf(stderr, "  silu(%g) · %g = %g, exact %g\n", g, u, neon[i], exact);
        close = close && ok;
    }
    EXPECT(same, "silu_mul: NEON differs from the portable path");
    EXPECT(close, "silu_mul: beyond 3.5 ulp of the exact value");
}

// ---- Attention on an F16 cache ----

static void check_attention(void) {
    const int n = 64, rows = 6, hd = 64;
    static uint16_t kh[64 * 64], vh[64 * 64];
    static float kf[64 * 64], vf[64 * 64], q[6 * 64];
    for (int i = 0; i < n * hd; i++) {
        kh[i] = half_bits(next_float() * 2); vh[i] = half_bits(next_float());
        kf[i] = bora_half(kh[i]); vf[i] = bora_half(vh[i]);
    }
    for (int i = 0; i < rows * hd; i++) q[i] = next_float() * 4;
    const int64_t first[6] = {0, 3, 10, 0, 63, 20}, last[6] = {63, 40, 63, 5, 63, 63};
    float m1[6], l1[6], o1[6 * 64], s1[6 * 64], m2[6], l2[6], o2[6 * 64], s2[6 * 64];
    for (int i = 0; i < rows; i++) { m1[i] = m2[i] = -INFINITY; l1[i] = l2[i] = 0; }
    memset(o1, 0, sizeof o1); memset(o2, 0, sizeof o2);
    bora_attention_tile_isa(BORA_ISA_NEON, q, rows, hd, kf, vf, n, 0, first, last, 0.125f, m1, l1, o1, s1);
    EXPECT(bora_attention_tile_f16_isa(BORA_ISA_NEON, q, rows, hd, kh, vh, n, 0, first, last, 0.125f, m2, l2, o2, s2) == 1,
           "attention: no F16 tile on NEON");
    EXPECT(memcmp(o1, o2, sizeof o1) == 0 && memcmp(l1, l2, sizeof l1) == 0 && memcmp(m1, m2, sizeof m1) == 0,
           "attention: the F16 tile differs from the F32 tile on converted keys");
    // Against a direct softmax in double.
    int ok = 1;
    for (int r = 0; r < rows; r++) {
        double mx = -INFINITY, w[64], l = 0;
        for (int j = (int)first[r]; j <= last[r]; j++) {
            double s = 0;
            for (int c = 0; c < hd; c++) s += (double)q[r * hd + c] * kf[j * hd + c];
            w[j] = s * 0.125;
            if (w[j] > mx) mx = w[j];
        }
        for (int j = (int)first[r]; j <= last[r]; j++) { w[j] = exp(w[j] - mx); l += w[j]; }
        for (int c = 0; c < hd; c++) {
            double o = 0;
            for (int j = (int)first[r]; j <= last[r]; j++) o += w[j] * vf[j * hd + c];
            ok = ok && fabs(o / l - o1[r * hd + c] / l1[r]) <= 1e-5;
        }
    }
    EXPECT(ok, "attention: differs from a direct softmax");
}

int main(void) {
    printf("level: %s (BORA_ISA=%s)\n", level_name(bora_isa()), getenv("BORA_ISA") ? getenv("BORA_ISA") : "unset");
    const int types[] = {BORA_Q8_0, BORA_Q4_0, BORA_Q4_1, BORA_Q5_0, BORA_Q5_1, BORA_Q4_K, BORA_Q5_K, BORA_Q6_K,
                         BORA_Q2_K, BORA_Q3_K, BORA_IQ4_NL, BORA_IQ4_XS};
    const int shapes[][2] = {{37, 1}, {48, 1}, {53, 7}, {37, 131}, {16, 2}, {35, 5}, {64, 3}};
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        const int before = failures;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            const int64_t k = bora_block_elements(types[t]) == 256 ? (s % 2 ? 768 : 512) : (s % 2 ? 160 : 96);
            check_quantized(types[t], shapes[s][0], k, shapes[s][1]);
        }
        printf("%-7s packed: %s\n", type_name(types[t]), failures == before ? "ok" : "FAILED");
    }
    const int float_types[] = {BORA_F16, BORA_BF16};
    for (int t = 0; t < 2; t++) {
        const int before = failures;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) check_float(float_types[t], shapes[s][0], s % 2 ? 160 : 96, shapes[s][1], 1);
        printf("%-7s packed: %s\n", type_name(float_types[t]), failures == before ? "ok" : "FAILED");
    }
    const int row_types[] = {BORA_F32, BORA_F16, BORA_BF16};
    for (int t = 0; t < 3; t++) {
        const int before = failures;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) check_float(row_types[t], shapes[s][0], s % 2 ? 99 : 96, shapes[s][1], 0);
        printf("%-7s row-major: %s\n", type_name(row_types[t]), failures == before ? "ok" : "FAILED");
    }
    int before = failures;
    check_quantize();
    printf("quantize q8: %s\n", failures == before ? "ok" : "FAILED");
    before = failures;
    check_vector_ops();
    printf("vector ops: %s\n", failures == before ? "ok" : "FAILED");
    before = failures;
    check_attention();
    printf("attention: %s\n", failures == before ? "ok" : "FAILED");
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
