// The repacked weight layout shared by the AVX-512 VNNI and AVX2 kernels and the packer (see pack.c).
#ifndef BORA_PACKED_H
#define BORA_PACKED_H

#include <stdint.h>

/// Bytes of one unit (32 elements of 16 rows); for Q4_K, of one super-block (8 units).
static inline int64_t bora_unit_bytes(int type) {
    switch (type) {
    case BORA_Q4_0: return 288;
    case BORA_Q4_1: return 320;
    case BORA_Q8_0: return 544;
    case BORA_Q4_K: return 2368;
    default: return 0;
    }
}

/// Where unit j of group g starts (its scales).
static inline const uint8_t *bora_unit_base(int type, const uint8_t *packed, int64_t units, int64_t g, int64_t j) {
    if (type == BORA_Q4_K) return packed + (size_t)(g * (units / 8) + j / 8) * 2368;
    return packed + (size_t)(g * units + j) * bora_unit_bytes(type);
}

/// Where unit j's weights start, given its base.
static inline const uint8_t *bora_unit_weights(int type, const uint8_t *base, int64_t j) {
    switch (type) {
    case BORA_Q4_K: return base + 320 + 256 * (j & 7);
    case BORA_Q4_1: return base + 64;
    default: return base + 32;
    }
}

#endif
