/* Optimizer steps over a contiguous run of parameters, float and double.
 *
 * The formulas are documented in fastmlp/_kernels/_optim.pyx, which calls
 * these. They live in C only so that x86-64 builds can carry a second,
 * AVX2 copy of each loop, chosen at load time by the CPU (GCC/clang
 * target_clones: a portable wheel, no -march). Every operation is IEEE
 * add/mul/div/sqrt and the AVX2 copy has no FMA, so both copies give the same
 * bits; only the vector width differs. Elsewhere the attribute is empty.
 *
 * Subnormal numbers (below 1.2e-38 in float32, 2.2e-308 in float64) are
 * flushed to zero inside these loops (x86 MXCSR FTZ+DAZ, AArch64 FPCR.FZ; the
 * caller's mode is restored on return). Adam's first moment and SGD's
 * velocity of nearly dead units drift into that range, where every
 * arithmetic operation takes a microcode assist: measured here, 2.7% of
 * Adam's m subnormal made W2 epochs 1.8x slower. Flushing changes only values
 * that are already subnormal (they become 0); with epsilon >= 1e-8 the
 * parameter step they would give is below 1.2e-30 in float32.
 */
#ifndef FASTMLP_STEP_H
#define FASTMLP_STEP_H

#include <math.h>
#include <stddef.h>

#if defined(__x86_64__) && defined(__linux__) && \
    (defined(__clang__) ? __clang_major__ >= 14 : (defined(__GNUC__) && __GNUC__ >= 6))
#define FASTMLP_WIDE __attribute__((target_clones("avx2", "default")))
#else
#define FASTMLP_WIDE
#endif

#define FASTMLP_RESTRICT __restrict  /* GCC, clang and MSVC spell it so */

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#include <xmmintrin.h>
typedef unsigned int fastmlp_fpmode;
static inline fastmlp_fpmode fastmlp_flush_subnormals(void)
{
    fastmlp_fpmode old = _mm_getcsr();
    _mm_setcsr(old | 0x8040u);  /* FTZ (bit 15) | DAZ (bit 6) */
    return old;
}
static inline void fastmlp_restore_fpmode(fastmlp_fpmode old) { _mm_setcsr(old); }
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
typedef unsigned long long fastmlp_fpmode;
static inline fastmlp_fpmode fastmlp_flush_subnormals(void)
{
    fastmlp_fpmode old;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(old) : : "memory");
    __asm__ __volatile__("msr fpcr, %0" : : "r"(old | (1ull << 24)) : "memory");
    return old;
}
static inline void fastmlp_restore_fpmode(fastmlp_fpmode old)
{
    __asm__ __volatile__("msr fpcr, %0" : : "r"(old) : "memory");
}
#else
typedef int fastmlp_fpmode;
static inline fastmlp_fpmode fastmlp_flush_subnormals(void) { return 0; }
static inline void fastmlp_restore_fpmode(fastmlp_fpmode old) { (void)old; }
#endif

/* g = (g_raw + alpha p) / sw_sum; v = mu v - lr g;
 * p += mu v - lr g (nesterov) or p += v. */
#define FASTMLP_DEFINE_SGD(NAME, T)                                            \
FASTMLP_WIDE static void NAME(T* FASTMLP_RESTRICT p, const T* FASTMLP_RESTRICT g_raw,          \
                              T* FASTMLP_RESTRICT v, ptrdiff_t n, T lr, T mu,          \
                              int nesterov, T alpha, T sw_sum)                 \
{                                                                              \
    fastmlp_fpmode mode = fastmlp_flush_subnormals();                          \
    ptrdiff_t i;                                                               \
    if (nesterov) {                                                            \
        for (i = 0; i < n; i++) {                                              \
            T g = (g_raw[i] + alpha * p[i]) / sw_sum;                          \
            T vi = mu * v[i] - lr * g;                                         \
            v[i] = vi;                                                         \
            p[i] += mu * vi - lr * g;                                          \
        }                                                                      \
    } else {                                                                   \
        for (i = 0; i < n; i++) {                                              \
            T g = (g_raw[i] + alpha * p[i]) / sw_sum;                          \
            T vi = mu * v[i] - lr * g;                                         \
            v[i] = vi;                                                         \
            p[i] += vi;                                                        \
        }                                                                      \
    }                                                                          \
    fastmlp_restore_fpmode(mode);                                              \
}

/* g as above; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p += (-lr_t m) / (sqrt(v) + eps). */
#define FASTMLP_DEFINE_ADAM(NAME, T, SQRT)                                     \
FASTMLP_WIDE static void NAME(T* FASTMLP_RESTRICT p, const T* FASTMLP_RESTRICT g_raw,          \
                              T* FASTMLP_RESTRICT m, T* FASTMLP_RESTRICT v, ptrdiff_t n,       \
                              T lr_t, T b1, T b2, T eps, T alpha, T sw_sum)    \
{                                                                              \
    fastmlp_fpmode mode = fastmlp_flush_subnormals();                          \
    const T one_b1 = 1 - b1, one_b2 = 1 - b2;                                  \
    ptrdiff_t i;                                                               \
    for (i = 0; i < n; i++) {                                                  \
        T g = (g_raw[i] + alpha * p[i]) / sw_sum;                              \
        T mi = b1 * m[i] + one_b1 * g;                                         \
        T vi = b2 * v[i] + one_b2 * (g * g);                                   \
        m[i] = mi;                                                             \
        v[i] = vi;                                                             \
        p[i] += (-lr_t * mi) / (SQRT(vi) + eps);                               \
    }                                                                          \
    fastmlp_restore_fpmode(mode);                                              \
}

FASTMLP_DEFINE_SGD(fastmlp_sgd_f, float)
FASTMLP_DEFINE_SGD(fastmlp_sgd_d, double)
FASTMLP_DEFINE_ADAM(fastmlp_adam_f, float, sqrtf)
FASTMLP_DEFINE_ADAM(fastmlp_adam_d, double, sqrt)

#endif
