// The innermost SIMD loops of Bora, and nothing else. Everything around them (blocking across
// threads, model logic) is Swift. Each entry point has a portable body plus, where it pays, an
// AVX2/FMA/F16C and AVX-512 VNNI body (x86-64) or NEON bodies (arm64: baseline, dotprod, i8mm)
// chosen at run time, so the package needs no unsafe build flags.
#ifndef CBORA_KERNELS_H
#define CBORA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Weight storage types, in the order of Bora's `DType`.
enum {
    BORA_F32 = 0, BORA_F16 = 1, BORA_BF16 = 2, BORA_Q8_0 = 3, BORA_Q4_0 = 4, BORA_Q4_1 = 5,
    BORA_Q5_0 = 6, BORA_Q5_1 = 7, BORA_Q4_K = 8, BORA_Q5_K = 9, BORA_Q6_K = 10,
    BORA_Q2_K = 11, BORA_Q3_K = 12, BORA_IQ4_NL = 13, BORA_IQ4_XS = 14,
};

/// Instruction-set levels the kernels may use, ordered within each architecture: a level includes
/// every lower one, and 0 (portable C) exists everywhere. x86-64: AVX2 + FMA + F16C, then AVX-512
/// VNNI. arm64: NEON (baseline on every arm64 CPU), then NEON + dotprod (sdot), then NEON + dotprod +
/// i8mm (usdot). The same numbers name different sets on the two architectures.
enum {
    BORA_ISA_PORTABLE = 0,
    BORA_ISA_AVX2 = 1, BORA_ISA_AVX512_VNNI = 2,
    BORA_ISA_NEON = 1, BORA_ISA_NEON_DOTPROD = 2, BORA_ISA_NEON_I8MM = 3,
};

/// The best instruction-set level the running CPU supports (cached), capped by BORA_ISA in the
/// environment: `portable`, `avx2` (x86-64), `neon` or `dotprod` (arm64).
int bora_isa(void);

/// A short pause for spin-wait loops (PAUSE on x86, YIELD on arm64).
void bora_cpu_relax(void);

/// Takes one index from `*range`, a run of indices [first, end) packed as first | end << 32 and
/// shared between threads: the first one (its owner), or the last one (`from_back`: another thread
/// helping), atomically. -1 when the run is empty.
int64_t bora_take_chunk(uint64_t *range, int from_back);

/// Asks for the cache lines of `bytes` bytes at `p` to be brought into the core's level-2 cache
/// (a prefetch hint per 64-byte line; nothing is read and no fault is taken).
void bora_prefetch_l2(const void *p, int64_t bytes);

// ---- Activations quantized to 8 bits (once per matrix product) ----
//
// Rows of k floats (k a multiple of 32) become k int8 values `q`, one float scale `d` per 32
// values (d = max|x| / 127), per 16 values `s16` = d × (sum of those 16 q), and per 32 values the
// integer sum `sum32` of the q. The sums let weight formats with an offset (Q4_0's −8, Q4_1's
// minimum, ...) be applied once per block.

/// Quantizes `rows` rows of `k` floats (row stride `k`).
void bora_quantize_q8(const float *x, int64_t k, int64_t rows, int8_t *q, float *d, float *s16, int32_t *sum32);
/// The same with an explicit instruction set (at most `bora_isa()`), so tests can compare the paths.
void bora_quantize_q8_isa(int isa, const float *x, int64_t k, int64_t rows, int8_t *q, float *d, float *s16, int32_t *sum32);

// ---- Matrix products: out[b * out_stride + r] = W[r] · x[b], r in [r0, r1), b in [0, batch) ----

/// Quantized weights (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) times quantized activations.
void bora_matmul_q(int type, const void *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                   const int8_t *xq, const float *xd, const float *xs16, int64_t batch,
                   float *out, int64_t out_stride);

/// Float weights (F32, F16, BF16) times float activations (row stride k).
void bora_matmul_f(int type, const void *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                   const float *x, int64_t batch, float *out, int64_t out_stride);

/// The two products above with an explicit instruction set (at most `bora_isa()`), for tests.
void bora_matmul_q_isa(int isa, int type, const void *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                       const int8_t *xq, const float *xd, const float *xs16, int64_t batch, float *out, int64_t out_stride);
void bora_matmul_f_isa(int isa, int type, const void *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                       const float *x, int64_t batch, float *out, int64_t out_stride);

/// Reads n bytes (n a multiple of 128) as fast as possible; returns a checksum so the reads stay.
uint64_t bora_read_bytes(const void *p, size_t n);

// ---- Weights repacked for the SIMD kernels (AVX-512 VNNI, AVX2 reading 8-row halves, NEON 4-row quarters) ----
//
// Groups of 16 rows are interleaved so that one 512-bit multiply-add serves 16 rows against one
// broadcast group of 4 activations (on NEON one sdot/usdot serves 4 rows), and the 16 rows' block
// scales load as one vector. Supported:
// every quantized type, and F16/BF16 (rows of a multiple of 32 elements). Rows past the last whole
// group stay in the original layout.

/// 1 when packed products exist for `type` with rows of k elements and the CPU runs them.
int bora_packed_supported(int type, int64_t k);
/// Bytes of the packed form of `groups` groups of 16 rows of k elements.
size_t bora_packed_bytes(int type, int64_t groups, int64_t k);
/// Packs groups [g0, g1) of the row-major weights into `packed` (which holds all groups).
void bora_pack(int type, const void *w, size_t row_bytes, int64_t k, int64_t g0, int64_t g1, void *packed);
/// Outputs of rows [16·g0, 16·g1) from packed weights.
void bora_matmul_packed(int type, const void *packed, int64_t k, int64_t g0, int64_t g1,
                        const int8_t *xq, const float *xd, const float *xs16, const int32_t *xsum32,
                        int64_t batch, float *out, int64_t out_stride);
/// Packed F16 or BF16 weights times F32 activations `x` (rows of k). For BF16 on CPUs with AVX-512
/// BF16 (`bora_has_bf16_dot()`), `xb` must hold the same rows rounded by `bora_to_bf16`; else it is unused.
void bora_matmul_packed_float(int type, const void *packed, int64_t k, int64_t g0, int64_t g1, const float *x,
                              const uint16_t *xb, int64_t batch, float *out, int64_t out_stride);
void bora_matmul_packed_float_isa(int isa, int type, const void *packed, int64_t k, int64_t g0, int64_t g1, const float *x,
                                  const uint16_t *xb, int64_t batch, float *out, int64_t out_stride);
/// 1 when BF16 products run as BF16 dot products (AVX-512 BF16), which need BF16 activations.
int bora_has_bf16_dot(void);
int bora_has_bf16_dot_isa(int isa);
/// 1 when none of the n floats is NaN or infinite.
int bora_all_finite(const float *x, size_t n);
/// The first index of the largest of n floats (n ≥ 1).
int64_t bora_argmax(const float *x, size_t n);
/// Floats → BF16, rounded to nearest even (denormals as zero, like the BF16 dot products' conversion).
void bora_to_bf16(const float *x, uint16_t *y, size_t n);

/// The same with an explicit instruction set (at most `bora_isa()`), for tests.
void bora_matmul_packed_isa(int isa, int type, const void *packed, int64_t k, int64_t g0, int64_t g1,
                            const int8_t *xq, const float *xd, const float *xs16, const int32_t *xsum32,
                            int64_t batch, float *out, int64_t out_stride);

// ---- Attention ----

/// Keys per tile of `bora_attention_tile`; tiles start at absolute positions that are multiples of it.
#define BORA_KEY_TILE 64

/// One tile of n ≤ BORA_KEY_TILE keys at positions kpos0, kpos0 + 1, … (F32 rows of hd in `k` and
/// `v`) for `rows` query rows of hd (`q`): row r sees the keys at positions first[r]...last[r] (from
/// the model's attention window). Updates row r's running maximum m[r], weight sum l[r] and
/// unnormalized output o[r·hd …] (start at -inf, 0, 0; the result is o / l after the last tile).
/// `s`: scratch of rows × BORA_KEY_TILE floats. Scores are scaled by `scale`.
void bora_attention_tile(const float *q, int64_t rows, int64_t hd, const float *k, const float *v, int64_t n,
                         int64_t kpos0, const int64_t *first, const int64_t *last, float scale,
                         float *m, float *l, float *o, float *s);
void bora_attention_tile_isa(int isa, const float *q, int64_t rows, int64_t hd, const float *k, const float *v, int64_t n,
                             int64_t kpos0, const int64_t *first, const int64_t *last, float scale,
                             float *m, float *l, float *o, float *s);
/// The same tile with its keys and values read straight from an F16 cache (rows of hd halves):
/// the same bits as converting them to F32 first. Returns 0, doing nothing, where it has no kernel
/// (portable level, or hd not a multiple of 16): the caller converts and calls bora_attention_tile then.
int bora_attention_tile_f16(const float *q, int64_t rows, int64_t hd, const uint16_t *k, const uint16_t *v, int64_t n,
                            int64_t kpos0, const int64_t *first, const int64_t *last, float scale,
                            float *m, float *l, float *o, float *s);
int bora_attention_tile_f16_isa(int isa, const float *q, int64_t rows, int64_t hd, const uint16_t *k, const uint16_t *v, int64_t n,
                                int64_t kpos0, const int64_t *first, const int64_t *last, float scale,
                                float *m, float *l, float *o, float *s);
/// Folds the softmax state of a later span of keys (m2, l2, o2, as `bora_attention_tile` leaves it)
/// into the state (m, l, o) of the keys before it, for `rows` rows of hd: both rescaled to the larger
/// maximum. A row whose span saw no key (m2 = -inf) is left as it was.
void bora_attention_merge(int64_t rows, int64_t hd, float *m, float *l, float *o,
                          const float *m2, const float *l2, const float *o2);
void bora_attention_merge_isa(int isa, int64_t rows, int64_t hd, float *m, float *l, float *o,
                              const float *m2, const float *l2, const float *o2);

// ---- Vector helpers ----

/// y[i] = float(x[i]) for IEEE halves.
void bora_f16_to_f32(const uint16_t *x, float *y, size_t n);

/// sum(a[i] * b[i]) over n floats.
float bora_dot_f32(const float *a, const float *b, size_t n);
/// y[i] += a * x[i].
void bora_axpy_f32(float *y, float a, const float *x, size_t n);
/// Float → IEEE half with round-to-nearest-even.
void bora_f32_to_f16(const float *x, uint16_t *y, size_t n);
/// x[i] = float(half(x[i])): rounds values to what an F16 store would keep.
void bora_round_to_f16(float *x, size_t n);
/// out[i] = x[i] * scale * g[i].
void bora_scale_mul(const float *x, float scale, const float *g, float *out, size_t n);
/// gate[i] = gate[i] / (1 + exp(-gate[i])) * up[i], exp within ~2 ulp by a fixed sequence of IEEE
/// operations: the same bits at every instruction set and wherever an element falls in a vector.
void bora_silu_mul(float *gate, const float *up, size_t n);
/// The same with an explicit instruction set (at most `bora_isa()`), for tests.
void bora_silu_mul_isa(int isa, float *gate, const float *up, size_t n);

#ifdef __cplusplus
}
#endif

#endif
