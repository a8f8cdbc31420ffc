/* OpenMP guard: the only place the kernels get omp_* from.
 *
 * Built without OpenMP (FASTMLP_NO_OPENMP=1, or a compiler without it) the
 * functions below fall back to a single thread and Cython's prange and
 * parallel blocks run serially, so every kernel still works and gives the
 * same results.
 *
 * fastmlp_omp_barrier() is an orphaned barrier: it binds to the parallel
 * region the calling thread is in, so every thread of that team must reach
 * it (and the same number of times); outside a region it does nothing.
 * fastmlp_omp_atomic_add(x, v) adds v to *x atomically among the team.
 */
#ifndef FASTMLP_OMP_H
#define FASTMLP_OMP_H

#ifdef _OPENMP
#include <omp.h>
#define FASTMLP_HAS_OPENMP 1
static inline int fastmlp_omp_max_threads(void) { return omp_get_max_threads(); }
static inline int fastmlp_omp_thread_num(void) { return omp_get_thread_num(); }
static inline int fastmlp_omp_num_threads(void) { return omp_get_num_threads(); }
#ifdef _MSC_VER
static inline void fastmlp_omp_barrier(void) { __pragma(omp barrier) }
#else
static inline void fastmlp_omp_barrier(void) { _Pragma("omp barrier") }
#endif
static inline void fastmlp_omp_atomic_add(long long* x, long long v)
{
#pragma omp atomic
    *x += v;
}
#else
#define FASTMLP_HAS_OPENMP 0
static inline int fastmlp_omp_max_threads(void) { return 1; }
static inline int fastmlp_omp_thread_num(void) { return 0; }
static inline int fastmlp_omp_num_threads(void) { return 1; }
static inline void fastmlp_omp_barrier(void) {}
static inline void fastmlp_omp_atomic_add(long long* x, long long v) { *x += v; }
#endif

#endif
