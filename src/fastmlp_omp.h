/* OpenMP guard: the only place the kernels get omp_* from.
 *
 * Built without OpenMP (FASTMLP_NO_OPENMP=1, or a compiler without it) the
 * functions below fall back to a single thread and Cython's prange runs
 * serially, so every kernel still works and gives the same results.
 */
#ifndef FASTMLP_OMP_H
#define FASTMLP_OMP_H

#ifdef _OPENMP
#include <omp.h>
#define FASTMLP_HAS_OPENMP 1
static inline int fastmlp_omp_max_threads(void) { return omp_get_max_threads(); }
static inline int fastmlp_omp_thread_num(void) { return omp_get_thread_num(); }
#else
#define FASTMLP_HAS_OPENMP 0
static inline int fastmlp_omp_max_threads(void) { return 1; }
static inline int fastmlp_omp_thread_num(void) { return 0; }
#endif

#endif
