// Dispatch of the matrix products to the best path the CPU allows.
#include "CBoraKernels.h"
#include "blocks.h"

void bora_matmul_q_portable(int type, const uint8_t *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                            const int8_t *xq, const float *xd, const float *xs16, int64_t batch, float *out, int64_t os);
void bora_matmul_f_portable(int type, const uint8_t *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                            const float *x, int64_t batch, float *out, int64_t os);
#if defined(__x86_64__)
void bora_matmul_packed_vnni(int type, const void *packed, int64_t k, int64_t g0, int64_t g1, const int8_t *xq,
                             const float *xd, const float *xs16, const int32_t *xsum, int64_t batch, float *out, int64_t os);
void bora_matmul_packed_avx2(int type, const void *packed, int64_t k, int64_t g0, int64_t g1, const int8_t *xq,
                             const float *xd, const float *xs16, const int32_t *xsum, int64_t batch, float *out, int64_t os);
void bora_matmul_packed_float_avx(int bf16_dot, int wide, int type, const void *packed, int64_t k, int64_t g0, int64_t g1,
                                  const float *x, const uint16_t *xb, int64_t batch, float *out, int64_t os);
void bora_to_bf16_avx512(const float *x, uint16_t *y, size_t n);
void bora_matmul_q_avx2(int type, const uint8_t *w, size_t rb, int64_t k, int64_t r0, int64_t r1, const int8_t *xq,
                        const float *xd, const float *xs16, int64_t batch, float *out, int64_t os);
void bora_matmul_f_avx2(int type, const uint8_t *w, size_t rb, int64_t k, int64_t r0, int64_t r1, const float *x,
                        int64_t batch, float *out, int64_t os);
#elif defined(__aarch64__)
void bora_matmul_packed_neon(int isa, int type, const void *packed, int64_t k, int64_t g0, int64_t g1, const int8_t *xq,
                             const float *xd, const float *xs16, const int32_t *xsum, int64_t batch, float *out, int64_t os);
void bora_matmul_packed_float_neon(int type, const void *packed, int64_t k, int64_t g0, int64_t g1, const float *x,
                                   int64_t batch, float *out, int64_t os);
void bora_matmul_f_neon(int type, const uint8_t *w, size_t rb, int64_t k, int64_t r0, int64_t r1, const float *x,
                        int64_t batch, float *out, int64_t os);
void bora_matmul_q_neon(int type, const uint8_t *w, size_t rb, int64_t k, int64_t r0, int64_t r1, const int8_t *xq,
                        const float *xd, const float *xs16, int64_t batch, float *out, int64_t os);
#endif

void bora_matmul_q(int type, const void *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                   const int8_t *xq, const float *xd, const float *xs16, int64_t batch, float *out, int64_t out_stride) {
    bora_matmul_q_isa(bora_isa(), type, w, row_bytes, k, r0, r1, xq, xd, xs16, batch, out, out_stride);
}

void bora_matmul_q_isa(int isa, int type, const void *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                       const int8_t *xq, const float *xd, const float *xs16, int64_t batch, float *out, int64_t out_stride) {
#if defined(__x86_64__)
    if (isa >= BORA_ISA_AVX2 && bora_isa() >= BORA_ISA_AVX2) {
        bora_matmul_q_avx2(type, w, row_bytes, k, r0, r1, xq, xd, xs16, batch, out, out_stride);
        return;
    }
#elif defined(__aarch64__)
    if (isa >= BORA_ISA_NEON && bora_isa() >= BORA_ISA_NEON) {
        bora_matmul_q_neon(type, w, row_bytes, k, r0, r1, xq, xd, xs16, batch, out, out_stride);
        return;
    }
#else
    (void)isa;
#endif
    bora_matmul_q_portable(type, w, row_bytes, k, r0, r1, xq, xd, xs16, batch, out, out_stride);
}

void bora_matmul_f(int type, const void *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                   const float *x, int64_t batch, float *out, int64_t out_stride) {
    bora_matmul_f_isa(bora_isa(), type, w, row_bytes, k, r0, r1, x, batch, out, out_stride);
}

void bora_matmul_f_isa(int isa, int type, const void *w, size_t row_bytes, int64_t k, int64_t r0, int64_t r1,
                       const float *x, int64_t batch, float *out, int64_t out_stride) {
#if defined(__x86_64__)
    if (isa >= BORA_ISA_AVX2 && bora_isa() >= BORA_ISA_AVX2) {
        bora_matmul_f_avx2(type, w, row_bytes, k, r0, r1, x, batch, out, out_stride);
        return;
    }
#elif defined(__aarch64__)
    if (isa >= BORA_ISA_NEON && bora_isa() >= BORA_ISA_NEON) {
        bora_matmul_f_neon(type, w, row_bytes, k, r0, r1, x, batch, out, out_stride);
        return;
    }
#endif
    bora_matmul_f_portable(type, w, row_bytes, k, r0, r1, x, batch, out, out_stride);
}

void bora_matmul_packed(int type, const void *packed, int64_t k, int64_t g0, int64_t g1, const int8_t *xq,
                        const float *xd, const float *xs16, const int32_t *xsum, int64_t batch, float *out, int64_t os) {
    bora_matmul_packed_isa(bora_isa(), type, packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os);
}

void bora_matmul_packed_isa(int isa, int type, const void *packed, int64_t k, int64_t g0, int64_t g1, const int8_t *xq,
                            const float *xd, const float *xs16, const int32_t *xsum, int64_t batch, float *out, int64_t os) {
    if (isa > bora_isa()) isa = bora_isa();
#if defined(__x86_64__)
    if (isa >= BORA_ISA_AVX512_VNNI) {
        bora_matmul_packed_vnni(type, packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os);
    } else if (isa >= BORA_ISA_AVX2) {
        bora_matmul_packed_avx2(type, packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os);
    }
#elif defined(__aarch64__)
    if (isa >= BORA_ISA_NEON) bora_matmul_packed_neon(isa, type, packed, k, g0, g1, xq, xd, xs16, xsum, batch, out, os);
#else
    (void)isa; (void)type; (void)packed; (void)k; (void)g0; (void)g1; (void)xq; (void)xd; (void)xs16; (void)xsum; (void)batch; (void)out; (void)os;
#endif
}

void bora_matmul_packed_float(int type, const void *packed, int64_t k, int64_t g0, int64_t g1, const float *x,
                              const uint16_t *xb, int64_t batch, float *out, int64_t os) {
    bora_matmul_packed_float_isa(bora_isa(), type, packed, k, g0, g1, x, xb, batch, out, os);
}

void bora_matmul_packed_float_isa(int isa, int type, const void *packed, int64_t k, int64_t g0, int64_t g1, const float *x,
                                  const uint16_t *xb, int64_t batch, float *out, int64_t os) {
    if (isa > bora_isa()) isa = bora_isa();
#if defined(__x86_64__)
    if (isa >= BORA_ISA_AVX2)
        bora_matmul_packed_float_avx(type == BORA_BF16 && bora_has_bf16_dot_isa(isa), isa >= BORA_ISA_AVX512_VNNI, type,
                                     packed, k, g0, g1, x, xb, batch, out, os);
#elif defined(__aarch64__)
    (void)xb;
    if (isa >= BORA_ISA_NEON) bora_matmul_packed_float_neon(type, packed, k, g0, g1, x, batch, out, os);
#else
    (void)type; (void)packed; (void)k; (void)g0; (void)g1; (void)x; (void)xb; (void)batch; (void)out; (void)os;
#endif
}

void bora_to_bf16(const float *x, uint16_t *y, size_t n) {
#if defined(__x86_64__)
    if (bora_has_bf16_dot()) {
        bora_to_bf16_avx512(x, y, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) y[i] = bora_bf16_from_float(x[i]);
}
