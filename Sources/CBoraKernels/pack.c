// Repacking of weights for the AVX-512 VNNI and AVX2 packed kernels (see CBoraKernels.h).
//
// Why repack: with ggml's row-major blocks every row's scale is a scalar and every dot product
// needs its own horizontal reduction. Interleaving 16 rows puts one row in each 32-bit lane: a
// single vpdpbusd multiplies 4 activations (broadcast) with 4 weights of each of 16 rows, the 16
// block scales load as one vector, and nothing is reduced horizontally. AVX2 reads the same layout
// as two 8-row halves (each 64-byte vector's first 32 bytes are rows 0–7). Measurements: README,
// performance section.
//
// Layout of one group of 16 rows, unit by unit (a unit is 32 elements of every row):
//   Q4_0: 16 × f16 d,                 4 × 64 B of nibbles                 (288 B)
//   Q4_1: 16 × f16 d, 16 × f16 m,     4 × 64 B of nibbles                 (320 B)
//   Q8_0: 16 × f16 d,                 8 × 64 B of weights + 128 (unsigned) (544 B)
//   Q4_K: per 256-element super-block: 16 × f16 d, 16 × f16 dmin, 8 × 16 sub-block scales,
//         8 × 16 sub-block mins (u8), then 8 units of 4 × 64 B of nibbles  (2368 B)
// In a 64-byte vector of nibbles, byte 4·l + b (row l) holds element 8v + b in its low nibble and
// element 8v + 4 + b in its high nibble; for Q8_0, vector s holds elements 4s..4s+3 of each row.
#include "CBoraKernels.h"
#include "blocks.h"
#include "packed.h"

int bora_packed_supported(int type) {
    if (bora_isa() < BORA_ISA_AVX2) return 0;
    return type == BORA_Q4_0 || type == BORA_Q4_1 || type == BORA_Q8_0 || type == BORA_Q4_K;
}

size_t bora_packed_bytes(int type, int64_t groups, int64_t k) {
    int64_t units = type == BORA_Q4_K ? k / 256 : k / 32;
    return (size_t)(groups * units * bora_unit_bytes(type));
}

// ---- Packing (scalar: runs once at load) ----

static inline uint8_t nibble(int type, const uint8_t *row, int64_t unit, int e) {
    if (type == BORA_Q4_K) {
        const uint8_t *b = row + (unit / 8) * 144;
        int sub = (int)(unit % 8);
        uint8_t byte = b[16 + 32 * (sub / 2) + e];
        return (sub & 1) ? byte >> 4 : byte & 0xF;
    }
    const uint8_t *qs = row + unit * (type == BORA_Q4_0 ? 18 : 20) + (type == BORA_Q4_0 ? 2 : 4);
    return e < 16 ? qs[e] & 0xF : qs[e - 16] >> 4;
}

static void pack_nibbles(int type, const uint8_t *w, size_t row_bytes, int64_t unit, int64_t g, uint8_t *out) {
    for (int v = 0; v < 4; v++)
        for (int l = 0; l < 16; l++) {
            const uint8_t *row = w + (size_t)(16 * g + l) * row_bytes;
            for (int b = 0; b < 4; b++)
                out[64 * v + 4 * l + b] = nibble(type, row, unit, 8 * v + b) | (uint8_t)(nibble(type, row, unit, 8 * v + 4 + b) << 4);
        }
}

void bora_pack(int type, const void *weights, size_t row_bytes, int64_t k, int64_t g0, int64_t g1, void *packed) {
    const uint8_t *w = weights;
    uint8_t *p = packed;
    if (type == BORA_Q4_K) {
        int64_t supers = k / 256;
        for (int64_t g = g0; g < g1; g++)
            for (int64_t J = 0; J < supers; J++) {
                uint8_t *o = p + (size_t)(g * supers + J) * 2368;
                for (int l = 0; l < 16; l++) {
                    const uint8_t *b = w + (size_t)(16 * g + l) * row_bytes + J * 144;
                    memcpy(o + 2 * l, b, 2);
                    memcpy(o + 32 + 2 * l, b + 2, 2);
                    for (int s = 0; s < 8; s++) bora_scale_min_k4(s, b + 4, o + 64 + 16 * s + l, o + 192 + 16 * s + l);
                }
                for (int s = 0; s < 8; s++) pack_nibbles(type, w, row_bytes, 8 * J + s, g, o + 320 + 256 * s);
            }
        return;
    }
    int64_t units = k / 32, ub = bora_unit_bytes(type);
    int bb = bora_block_bytes(type);
    for (int64_t g = g0; g < g1; g++)
        for (int64_t j = 0; j < units; j++) {
            uint8_t *o = p + (size_t)(g * units + j) * ub;
            for (int l = 0; l < 16; l++) {
                const uint8_t *b = w + (size_t)(16 * g + l) * row_bytes + j * bb;
                memcpy(o + 2 * l, b, 2);
                if (type == BORA_Q4_1) memcpy(o + 32 + 2 * l, b + 2, 2);
            }
            if (type == BORA_Q8_0) {
                for (int s = 0; s < 8; s++)
                    for (int l = 0; l < 16; l++) {
                        const uint8_t *b = w + (size_t)(16 * g + l) * row_bytes + j * 34 + 2;
                        for (int e = 0; e < 4; e++) o[32 + 64 * s + 4 * l + e] = (uint8_t)(b[4 * s + e] + 128);
                    }
            } else {
                pack_nibbles(type, w, row_bytes, j, g, o + (type == BORA_Q4_0 ? 32 : 64));
            }
        }
}

