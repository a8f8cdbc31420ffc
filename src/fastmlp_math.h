/* Numerically stable scalar math shared by the kernels, float and double.
 *
 * logistic: 1/(1+exp(-x)) for x >= 0 and exp(x)/(1+exp(x)) otherwise, so
 *   neither branch overflows; written with a select so compilers vectorise it.
 * xlogy(x, y): x*log(y) with 0*log(y) := 0 (scipy.special.xlogy), which is what
 *   makes the log and Poisson losses finite for zero targets.
 * now: a wall clock in seconds (C11 timespec_get; works with MSVC and glibc),
 *   used to check for Ctrl-C every few milliseconds.
 */
#ifndef FASTMLP_MATH_H
#define FASTMLP_MATH_H

#include <math.h>
#include <time.h>

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

#endif
