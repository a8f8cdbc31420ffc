/* Numerically stable scalar math shared by the kernels, float and double.
 *
 * logistic: 1/(1+exp(-x)) for x >= 0 and exp(x)/(1+exp(x)) otherwise, so
 *   neither branch overflows; written with a select so compilers vectorise it.
 * xlogy(x, y): x*log(y) with 0*log(y) := 0 (scipy.special.xlogy), which is what
 *   makes the log and Poisson losses finite for zero targets.
 * now: a wall clock in seconds (C11 timespec_get; works with MSVC and glibc),
 *   used to check for Ctrl-C every few milliseconds.
 * prefetch(p, bytes): asks the CPU to start loading [p, p + bytes) into its
 *   caches (a hint: no effect on results; a no-op where unsupported). The
 *   epoch loop uses it for the next batch's randomly ordered rows.
 */
#ifndef FASTMLP_MATH_H
#define FASTMLP_MATH_H

#include <math.h>
#include <stddef.h>
#include <time.h>
#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <xmmintrin.h>
#endif

static inline double fastmlp_logistic(double x)
{
    double e = exp(-fabs(x));
    double r = 1.0 / (1.0 + e);
    return x >= 0.0 ? r : e * r;
}

static inline float fastmlp_logisticf(float x)
{
    float e = expf(-fabsf(x));
    float r = 1.0f / (1.0f + e);
    return x >= 0.0f ? r : e * r;
}

static inline double fastmlp_xlogy(double x, double y)
{
    return x == 0.0 ? 0.0 : x * log(y);
}

static inline double fastmlp_now(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline void fastmlp_prefetch(const void* p, size_t bytes)
{
    const char* c = (const char*)p;
    size_t i;
    for (i = 0; i < bytes; i += 64) {
#if defined(__GNUC__) || defined(__clang__)
        __builtin_prefetch(c + i, 0, 2);
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
        _mm_prefetch(c + i, _MM_HINT_T1);
#else
        (void)c;
#endif
    }
}

#endif
