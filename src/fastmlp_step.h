/* Optimizer steps over a block of parameters (rows at a stride), float and
 * double.
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
 * Adam's m subnormal made the epochs of a 784-256-128-10 network 1.8x slower
 * (float32, 128-row batches). Flushing changes only values
 * that are already subnormal (they become 0); with epsilon >= 1e-8 the
 * parameter step they would give is below 1.2e-30 in float32.
 *
 * The gradient is finished as (g_raw + alpha p) * (1 / sw_sum), the
 * reciprocal computed once per call, where scikit-learn divides: at most one
 * ulp apart. The division was the bottleneck of these loops (one divider per
 * core, 8 float32 lanes per 5 cycles, against the L2 traffic of the
 * remaining work): measured here, SGD epochs of a 784-64-10 network on 16-row
 * batches 6% and the Adam epochs above 3%
 * faster without it.
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

/* Each function steps a rows x cols block of parameters at row stride ld
 * (p, the raw gradient and the state share the layout), each row in runs of
 * at most `tile` elements. With clear, each raw gradient element is set to 0
 * once read, so that the next batch's GEMM can add into it (beta = 1)
 * instead of BLAS zeroing it in a pass of its own; each run is called with
 * clear as a constant, so the compiler makes a loop of each kind. If sumsq
 * is not NULL it receives the sum of squares of the new p: within a run,
 * element i goes to accumulator i % LANES (the last n % LANES elements to
 * accumulators 0, 1, ..., in order), in T; a run's sum adds its accumulators
 * in order in double; and *sumsq adds the runs' sums in order (rows, then
 * runs), starting from 0.
 * The sums are a function of the shapes only, and the new values are squared
 * while still in registers (under the same subnormal flush as the step). */
#define FASTMLP_LANES_float 16
#define FASTMLP_LANES_double 8
#define FASTMLP_LANES(T) FASTMLP_LANES_##T
#define FASTMLP_SQRT_float sqrtf
#define FASTMLP_SQRT_double sqrt
#define FASTMLP_SQRT(T) FASTMLP_SQRT_##T

/* One run: ELEMENT(T, k) (the step of element k) for k in [0, n); adds the
 * run's sum of squares to total if want_sum. */
#define FASTMLP_STEP_RUN(T, ELEMENT)                                           \
    if (!want_sum) {                                                           \
        for (i = 0; i < n; i++) { ELEMENT(T, i); }                             \
    } else {                                                                   \
        enum { LANES = FASTMLP_LANES(T) };                                     \
        T acc[LANES];                                                          \
        const ptrdiff_t nl = n - n % LANES;                                    \
        ptrdiff_t j;                                                           \
        double s = 0.0;                                                        \
        for (j = 0; j < LANES; j++) acc[j] = 0;                                \
        for (i = 0; i < nl; i += LANES) {                                      \
            for (j = 0; j < LANES; j++) {                                      \
                ELEMENT(T, i + j);                                             \
                acc[j] += p[i + j] * p[i + j];                                 \
            }                                                                  \
        }                                                                      \
        for (i = nl; i < n; i++) {                                             \
            ELEMENT(T, i);                                                     \
            acc[i - nl] += p[i] * p[i];                                        \
        }                                                                      \
        for (j = 0; j < LANES; j++) s += acc[j];                               \
        total += s;                                                            \
    }

/* The block: for each run of n elements at offset off from the block's
 * start (rows, then runs), total += RUN_SUM (an expression of off and n);
 * then *sumsq = total if sumsq is not NULL. */
#define FASTMLP_FOR_RUNS(RUN_SUM)                                              \
    {                                                                          \
        double total = 0.0;                                                    \
        ptrdiff_t r, c0;                                                       \
        for (r = 0; r < rows; r++) {                                           \
            for (c0 = 0; c0 < cols; c0 += tile) {                              \
                const ptrdiff_t off = r * ld + c0;                             \
                const ptrdiff_t n = cols - c0 < tile ? cols - c0 : tile;       \
                total += RUN_SUM;                                              \
            }                                                                  \
        }                                                                      \
        if (sumsq != NULL) *sumsq = total;                                     \
    }

/* g = (g_raw + alpha p) / sw_sum (as g_raw + alpha p times inv_sw = 1 / sw_sum);
 * v = mu v - lr g; p += mu v - lr g (nesterov) or p += v. */
#define FASTMLP_SGD_NESTEROV(T, k) do {                                        \
    T g = (g_raw[k] + alpha * p[k]) * inv_sw;                                  \
    if (clear) g_raw[k] = 0;                                                   \
    T vk = mu * v[k] - lr * g;                                                 \
    v[k] = vk;                                                                 \
    p[k] += mu * vk - lr * g;                                                  \
} while (0)
#define FASTMLP_SGD_CLASSIC(T, k) do {                                         \
    T g = (g_raw[k] + alpha * p[k]) * inv_sw;                                  \
    if (clear) g_raw[k] = 0;                                                   \
    T vk = mu * v[k] - lr * g;                                                 \
    v[k] = vk;                                                                 \
    p[k] += vk;                                                                \
} while (0)

/* A run is a function so that its pointers are restrict parameters, which
 * compilers trust (restrict locals made GCC add aliasing checks, 9% slower
 * on 16-row batches); inlined, it is compiled for each clone. Returns the
 * run's sum. */
#define FASTMLP_DEFINE_SGD_RUN(NAME, T, ELEMENT)                               \
static inline double NAME(T* FASTMLP_RESTRICT p, T* FASTMLP_RESTRICT g_raw,  \
                          T* FASTMLP_RESTRICT v, ptrdiff_t n, T lr, T mu,     \
                          T alpha, T inv_sw, int want_sum, int clear)          \
{                                                                              \
    double total = 0.0;                                                        \
    ptrdiff_t i;                                                               \
    FASTMLP_STEP_RUN(T, ELEMENT)                                               \
    return total;                                                              \
}

#define FASTMLP_DEFINE_SGD(NAME, T)                                            \
FASTMLP_DEFINE_SGD_RUN(NAME##_nesterov, T, FASTMLP_SGD_NESTEROV)               \
FASTMLP_DEFINE_SGD_RUN(NAME##_classic, T, FASTMLP_SGD_CLASSIC)                 \
FASTMLP_WIDE static void NAME(T* p0, T* g0, T* v0, ptrdiff_t rows,             \
                              ptrdiff_t cols, ptrdiff_t ld, ptrdiff_t tile,    \
                              T lr, T mu, int nesterov, T alpha, T sw_sum,     \
                              int clear, double* sumsq)                        \
{                                                                              \
    fastmlp_fpmode mode = fastmlp_flush_subnormals();                          \
    const T inv_sw = 1 / sw_sum;                                               \
    const int want = sumsq != NULL;                                            \
    if (nesterov && clear)                                                     \
        FASTMLP_FOR_RUNS(NAME##_nesterov(p0 + off, g0 + off, v0 + off, n, lr,  \
                                         mu, alpha, inv_sw, want, 1))          \
    else if (nesterov)                                                         \
        FASTMLP_FOR_RUNS(NAME##_nesterov(p0 + off, g0 + off, v0 + off, n, lr,  \
                                         mu, alpha, inv_sw, want, 0))          \
    else if (clear)                                                            \
        FASTMLP_FOR_RUNS(NAME##_classic(p0 + off, g0 + off, v0 + off, n, lr,   \
                                        mu, alpha, inv_sw, want, 1))           \
    else                                                                       \
        FASTMLP_FOR_RUNS(NAME##_classic(p0 + off, g0 + off, v0 + off, n, lr,   \
                                        mu, alpha, inv_sw, want, 0))           \
    fastmlp_restore_fpmode(mode);                                              \
}

/* g as above; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p += (-lr_t m) / (sqrt(v) + eps). */
#define FASTMLP_ADAM_ELEMENT(T, k) do {                                        \
    T g = (g_raw[k] + alpha * p[k]) * inv_sw;                                  \
    if (clear) g_raw[k] = 0;                                                   \
    T mk = b1 * m[k] + one_b1 * g;                                             \
    T vk = b2 * v[k] + one_b2 * (g * g);                                       \
    m[k] = mk;                                                                 \
    v[k] = vk;                                                                 \
    p[k] += (-lr_t * mk) / (FASTMLP_SQRT(T)(vk) + eps);                        \
} while (0)

#define FASTMLP_DEFINE_ADAM(NAME, T)                                           \
static inline double NAME##_run(T* FASTMLP_RESTRICT p,                         \
                                T* FASTMLP_RESTRICT g_raw,                     \
                                T* FASTMLP_RESTRICT m, T* FASTMLP_RESTRICT v,  \
                                ptrdiff_t n, T lr_t, T b1, T b2, T eps,        \
                                T alpha, T inv_sw, int want_sum, int clear)    \
{                                                                              \
    const T one_b1 = 1 - b1, one_b2 = 1 - b2;                                  \
    double total = 0.0;                                                        \
    ptrdiff_t i;                                                               \
    FASTMLP_STEP_RUN(T, FASTMLP_ADAM_ELEMENT)                                  \
    return total;                                                              \
}                                                                              \
FASTMLP_WIDE static void NAME(T* p0, T* g0, T* m0, T* v0, ptrdiff_t rows,      \
                              ptrdiff_t cols, ptrdiff_t ld, ptrdiff_t tile,    \
                              T lr_t, T b1, T b2, T eps, T alpha, T sw_sum,    \
                              int clear, double* sumsq)                        \
{                                                                              \
    fastmlp_fpmode mode = fastmlp_flush_subnormals();                          \
    const T inv_sw = 1 / sw_sum;                                               \
    const int want = sumsq != NULL;                                            \
    if (clear)                                                                 \
        FASTMLP_FOR_RUNS(NAME##_run(p0 + off, g0 + off, m0 + off, v0 + off, n, \
                                    lr_t, b1, b2, eps, alpha, inv_sw, want, 1))\
    else                                                                       \
        FASTMLP_FOR_RUNS(NAME##_run(p0 + off, g0 + off, m0 + off, v0 + off, n, \
                                    lr_t, b1, b2, eps, alpha, inv_sw, want, 0))\
    fastmlp_restore_fpmode(mode);                                              \
}

FASTMLP_DEFINE_SGD(fastmlp_sgd_f, float)
FASTMLP_DEFINE_SGD(fastmlp_sgd_d, double)
FASTMLP_DEFINE_ADAM(fastmlp_adam_f, float)
FASTMLP_DEFINE_ADAM(fastmlp_adam_d, double)

#endif
