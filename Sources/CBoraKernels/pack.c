// Repacking of weights for the packed kernels: AVX-512 VNNI, AVX2 and NEON (see CBoraKernels.h).
//
// Why repack: with ggml's row-major blocks every row's scale is a scalar and every dot product
// needs its own horizontal reduction. Interleaving 16 rows puts one row in each 32-bit lane: a
// single vpdpbusd multiplies 4 activations (broadcast) with 4 weights of each of 16 rows, the 16
// block scales load as one vector, and nothing is reduced horizontally. AVX2 reads the same layout
// as two 8-row halves (each 64-byte vector's first 32 bytes are rows 0–7), NEON as four 4-row
// quarters (one sdot/usdot each). Measurements (x86): README, performance section.
//
// Layout of one group of 16 rows, super-block by super-block (a super-block is 256 elements for
// the K formats and IQ4_XS, 32 otherwise; a unit is 32 elements of every row): the super-block's
// scales (packed.h: bora_header_bytes), then each unit's weights as unsigned codes in bit planes:
//   4-bit codes (Q4_0, Q4_1, Q4_K, IQ4_NL, IQ4_XS): 4 × 64 B of nibbles                    (256 B)
//   5-bit (Q5_0, Q5_1, Q5_K): 5 × 64 B, plane p holding whole codes: see below           (320 B)
//   Q6_K: 6 × 64 B, plane p holding whole codes: see below                               (384 B)
//   Q3_K: 3 × 64 B, plane p holding whole codes: see below                               (192 B)
//   Q2_K: 2 × 64 B of two-bit codes (even, odd elements)                                  (128 B)
//   Q8_0: 8 × 64 B, vector s holding elements 4s..4s+3 of each row, + 128 (unsigned)     (512 B)
// In a 64-byte vector of nibbles, byte 4·l + b (row l) holds element 8v + b ("even") in its low
// nibble and element 8v + 4 + b ("odd") in its high nibble; in Q2_K's planes of two-bit fields (one
// per parity), the same byte holds the field of element 8v + b (or 8v + 4 + b) at bits 2v..2v+1.
// The kernels recover such a code with one shift and mask. IQ4 codes are the table indices.
// The 3-, 5- and 6-bit formats keep each code's bits together where they can: most codes are whole
// in a byte of one plane (a mask, for Q3_K's "odd" codes a shift too), and only the codes that fill
// the planes' spare bits are gathered from two or three planes (elements 0–31 of a unit, row l):
//   Q3_K: byte 4·l + b of plane p (p < 3) holds the codes of elements 8p + b (bits 0–2) and
//         8p + 4 + b (bits 4–6), and in bits 3 and 7 bit p of the codes of elements 24 + b and 28 + b.
//   5-bit: byte 4·l + b of plane p (p < 5) holds the code of element 8·(p/2) + 4·(p%2) + b in bits
//         0–4; bits 5–7 hold the rest: element 20 + b's code bits 0–2 (plane 0) and 3–4 (plane 1,
//         bits 5–6); element 24 + b's bit 0 (plane 1, bit 7), bits 1–3 (plane 2) and bit 4 (plane 3,
//         bit 5); element 28 + b's bits 0–1 (plane 3, bits 6–7) and 2–4 (plane 4).
//   Q6_K: byte 4·l + b of plane p (p < 6) holds the code of element 8·(p/2) + 4·(p%2) + b (bits 0–5),
//         and in bits 6–7 bits 2(p%3), 2(p%3) + 1 of the code of element 24 + b (p < 3) or 28 + b.
// Compiled for AVX-512, a unit's codes then take 21 vector operations instead of 29 (Q3_K, from
// low-bit planes and a third-bit plane), 19 instead of 27 (5-bit, from nibbles and a fifth-bit plane)
// and 18 instead of 26 (Q6_K, from nibbles and top-bit planes); the results are the same bits.
// Measured: README, Speed.
#include "CBoraKernels.h"
#include "blocks.h"
#include "packed.h"

int bora_packed_supported(int type, int64_t k) {
    if (bora_isa() == BORA_ISA_PORTABLE) return 0;  // every SIMD level of either architecture has the kernels
    switch (type) {
    case BORA_F16: case BORA_BF16:
        return k % 32 == 0;
    case BORA_Q4_0: case BORA_Q4_1: case BORA_Q8_0: case BORA_Q4_K: case BORA_Q5_0: case BORA_Q5_1:
    case BORA_Q5_K: case BORA_Q6_K: case BORA_Q3_K: case BORA_Q2_K: case BORA_IQ4_NL: case BORA_IQ4_XS:
        return 1;
    default:
        return 0;
    }
}

size_t bora_packed_bytes(int type, int64_t groups, int64_t k) {
    if (type == BORA_F16 || type == BORA_BF16) return (size_t)(groups * k * 32);
    return (size_t)(groups * (k / bora_block_elements(type)) * bora_super_bytes(type));
}

// ---- Packing (scalar: runs once at load) ----

/// The scales of super-block J of the 16 rows of group g (layout: packed.h).
static void pack_header(int type, const uint8_t *w, size_t row_bytes, int64_t g, int64_t J, uint8_t *o) {
    for (int l = 0; l < 16; l++) {
        const uint8_t *b = w + (size_t)(16 * g + l) * row_bytes + J * bora_block_bytes(type);
        switch (type) {
        case BORA_Q4_1: case BORA_Q5_1:
            memcpy(o + 2 * l, b, 2);
            memcpy(o + 32 + 2 * l, b + 2, 2);
            break;
        case BORA_Q4_K: case BORA_Q5_K:
            memcpy(o + 2 * l, b, 2);
            memcpy(o + 32 + 2 * l, b + 2, 2);
            for (int s = 0; s < 8; s++) bora_scale_min_k4(s, b + 4, o + 64 + 16 * s + l, o + 192 + 16 * s + l);
            break;
        case BORA_Q6_K:
            memcpy(o + 2 * l, b + 208, 2);
            for (int t = 0; t < 16; t++) o[32 + 16 * t + l] = b[192 + t];
            break;
        case BORA_Q3_K:
            memcpy(o + 2 * l, b + 108, 2);
            for (int t = 0; t < 16; t++) o[32 + 16 * t + l] = (uint8_t)(int8_t)bora_q3k_scale(b + 96, t);
            break;
        case BORA_Q2_K:
            memcpy(o + 2 * l, b + 80, 2);
            memcpy(o + 32 + 2 * l, b + 82, 2);
            for (int t = 0; t < 16; t++) o[64 + 16 * t + l] = b[t];
            break;
        case BORA_IQ4_XS:
            memcpy(o + 2 * l, b, 2);
            for (int s = 0; s < 8; s++) o[32 + 16 * s + l] = (uint8_t)(int8_t)bora_iq4xs_scale(b, s);
            break;
        default:  // Q4_0, Q5_0, Q8_0, IQ4_NL: the f16 scale opens the block
            memcpy(o + 2 * l, b, 2);
        }
    }
}

/// The unsigned code the kernels read for value q of a block (see bora_load_block).
static uint8_t code_of(int type, int16_t q) {
    if (type == BORA_Q8_0) return (uint8_t)(q + 128);
    if (type == BORA_IQ4_NL || type == BORA_IQ4_XS) {
        for (uint8_t i = 0; i < 16; i++)
            if (bora_iq4_values[i] == q) return i;
    }
    return (uint8_t)q;
}

/// The weights of unit j of the 16 rows of group g, in bit planes (see the layout above).
static void pack_unit(int type, const uint8_t *w, size_t row_bytes, int64_t g, int64_t j, uint8_t *o) {
    uint8_t c[16][32];
    for (int l = 0; l < 16; l++) {
        int16_t q[32];
        bora_block_scales unused;
        bora_load_block(type, w + (size_t)(16 * g + l) * row_bytes, j, q, &unused);
        for (int i = 0; i < 32; i++) c[l][i] = code_of(type, q[i]);
    }
    memset(o, 0, (size_t)bora_unit_weight_bytes(type));
    for (int v = 0; v < 4; v++)
        for (int l = 0; l < 16; l++)
            for (int b = 0; b < 4; b++) {
                const int i = 4 * l + b;
                const uint8_t even = c[l][8 * v + b], odd = c[l][8 * v + 4 + b];
                switch (type) {
                case BORA_Q8_0:
                    o[128 * v + i] = even;
                    o[128 * v + 64 + i] = odd;
                    break;
                case BORA_Q2_K:
                    o[i] |= (uint8_t)((even & 3) << (2 * v));
                    o[64 + i] |= (uint8_t)((odd & 3) << (2 * v));
                    break;
                case BORA_Q3_K:
                    if (v < 3) {
                        o[64 * v + i] |= (uint8_t)((even & 7) | ((odd & 7) << 4));
                    } else {
                        for (int p = 0; p < 3; p++) o[64 * p + i] |= (uint8_t)((((even >> p) & 1) << 3) | (((odd >> p) & 1) << 7));
                    }
                    break;
                case BORA_Q6_K:
                    if (v < 3) {
                        o[128 * v + i] |= (uint8_t)(even & 0x3F);
                        o[128 * v + 64 + i] |= (uint8_t)(odd & 0x3F);
                    } else {
                        for (int p = 0; p < 3; p++) {
                            o[64 * p + i] |= (uint8_t)(((even >> (2 * p)) & 3) << 6);
                            o[64 * (p + 3) + i] |= (uint8_t)(((odd >> (2 * p)) & 3) << 6);
                        }
                    }
                    break;
                case BORA_Q5_0: case BORA_Q5_1: case BORA_Q5_K:
                    if (v < 2) {
                        o[128 * v + i] |= (uint8_t)(even & 31);
                        o[128 * v + 64 + i] |= (uint8_t)(odd & 31);
                    } else if (v == 2) {
                        o[256 + i] |= (uint8_t)(even & 31);
                        o[i] |= (uint8_t)((odd & 7) << 5);
                        o[64 + i] |= (uint8_t)(((odd >> 3) & 3) << 5);
                    } else {
                        o[64 + i] |= (uint8_t)((even & 1) << 7);
                        o[128 + i] |= (uint8_t)(((even >> 1) & 7) << 5);
                        o[192 + i] |= (uint8_t)((((even >> 4) & 1) << 5) | ((odd & 3) << 6));
                        o[256 + i] |= (uint8_t)(((odd >> 2) & 7) << 5);
                    }
                    break;
                default:
                    o[64 * v + i] = (uint8_t)((even & 0xF) | ((odd & 0xF) << 4));
                }
            }
}

/// F16: element e of the 16 rows as 16 halves (32 B); BF16: elements 2p, 2p+1 of row l at bytes 4l..4l+3
/// of pair p's 64 B, the pairs vdpbf16ps multiplies.
static void pack_float(int type, const uint8_t *w, size_t row_bytes, int64_t k, int64_t g, uint8_t *o) {
    for (int64_t e = 0; e < k; e++)
        for (int l = 0; l < 16; l++) {
            const uint8_t *src = w + (size_t)(16 * g + l) * row_bytes + 2 * e;
            uint8_t *dst = type == BORA_F16 ? o + 32 * e + 2 * l : o + 64 * (e / 2) + 4 * l + 2 * (e % 2);
            memcpy(dst, src, 2);
        }
}

void bora_pack(int type, const void *weights, size_t row_bytes, int64_t k, int64_t g0, int64_t g1, void *packed) {
    const uint8_t *w = weights;
    uint8_t *p = packed;
    if (type == BORA_F16 || type == BORA_BF16) {
        for (int64_t g = g0; g < g1; g++) pack_float(type, w, row_bytes, k, g, p + (size_t)g * k * 32);
        return;
    }
    const int ups = bora_units_per_super(type);
    const int64_t supers = k / bora_block_elements(type);
    for (int64_t g = g0; g < g1; g++)
        for (int64_t J = 0; J < supers; J++) {
            uint8_t *o = p + (size_t)(g * supers + J) * bora_super_bytes(type);
            pack_header(type, w, row_bytes, g, J, o);
            for (int u = 0; u < ups; u++)
                pack_unit(type, w, row_bytes, g, J * ups + u, o + bora_header_bytes(type) + u * bora_unit_weight_bytes(type));
        }
}
