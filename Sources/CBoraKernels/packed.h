// The repacked weight layout shared by the AVX-512 VNNI and AVX2 kernels and the packer (see pack.c).
#ifndef BORA_PACKED_H
#define BORA_PACKED_H

#include <stdint.h>

/// How far ahead of the weights it reads a decode product prefetches: the quantized kernels into
/// L1 (prefetcht0), the F16/BF16 ones (matmul_packed_float.c) and the bandwidth probe into L2.
/// Measured on Zen 4, 2 threads: 8 KB ahead into L2 read at 96–116% of a plain read where 4 KB
/// ahead into L1 read at 59–98% (2026-12-01, that day's kernels). With the kernels of 2026-12-07,
/// 8 KB into L1 instead of L2 streams 5–8% faster (median of 60 per-pass pairs, a one-off harness
/// linking both builds side by side over the 1.1B model's bytes: Q4_K, Q6_K, Q4_0, VNNI and AVX2
/// alike) and the whole-model decode runs 4–10% faster (`bora bench -p 0 -n 64`, alternating
/// builds). A plain read is the other way round, 10–20% slower into L1, so the probe keeps L2; the
/// float kernels were not measured.
/// Steps of a few rows (a speculative verification, a batch of a few sequences) stream the weights
/// from memory too: the first activation tile over each group prefetches the same way, the later
/// ones find the group in cache. Measured 2026-12-07 by switching it on and off every other
/// repetition of one `bora bench -p 2,4,8,16 -d 200` process (medians of 15–60 pairs): VNNI
/// 1.1B Q4_K +25% at 2 and 4 rows, +17% at 8, +12% at 16; 7B Q4_0 +22%, +20%, +12%, +11%;
/// SmolLM2 Q4_1 +13–14% at 2–8 rows; AVX2 1.1B Q4_K +35%, +40%, +20%, +12%; pp512 unchanged.
#define BORA_PREFETCH_DISTANCE 8192

/// Units (32 elements of 16 rows) per super-block: 8 for the 256-element formats, else 1.
static inline int bora_units_per_super(int type) { return bora_block_elements(type) / 32; }

/// Bytes of one unit's weights: 32 elements × 16 rows at the format's bits per weight.
static inline int64_t bora_unit_weight_bytes(int type) {
    switch (type) {
    case BORA_Q8_0: return 512;
    case BORA_Q5_0: case BORA_Q5_1: case BORA_Q5_K: return 320;
    case BORA_Q6_K: return 384;
    case BORA_Q3_K: return 192;
    case BORA_Q2_K: return 128;
    default: return 256;  // 4-bit codes: Q4_0, Q4_1, Q4_K, IQ4_NL, IQ4_XS
    }
}

/// Bytes of the scales that open each super-block (for the 32-element formats, each unit).
static inline int64_t bora_header_bytes(int type) {
    switch (type) {
    case BORA_Q4_1: case BORA_Q5_1: return 64;             // 16 × f16 d, 16 × f16 m
    case BORA_Q4_K: case BORA_Q5_K: return 320;            // 16 d, 16 dmin, 8 × 16 scales, 8 × 16 mins
    case BORA_Q6_K: case BORA_Q3_K: return 32 + 256;       // 16 d, 16 × 16 signed scales
    case BORA_Q2_K: return 64 + 256;                       // 16 d, 16 dmin, 16 × 16 scale|min bytes
    case BORA_IQ4_XS: return 32 + 128;                     // 16 d, 8 × 16 signed scales
    default: return 32;                                    // 16 × f16 d
    }
}

/// Bytes of one super-block of a group of 16 rows.
static inline int64_t bora_super_bytes(int type) {
    return bora_header_bytes(type) + bora_units_per_super(type) * bora_unit_weight_bytes(type);
}

/// Where the super-block holding unit j of group g starts (its scales).
static inline const uint8_t *bora_unit_base(int type, const uint8_t *packed, int64_t units, int64_t g, int64_t j) {
    const int ups = bora_units_per_super(type);
    return packed + (size_t)(g * (units / ups) + j / ups) * bora_super_bytes(type);
}

/// Where unit j's weights start, given its super-block's base.
static inline const uint8_t *bora_unit_weights(int type, const uint8_t *base, int64_t j) {
    return base + bora_header_bytes(type) + (j % bora_units_per_super(type)) * bora_unit_weight_bytes(type);
}

#endif
