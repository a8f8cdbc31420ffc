# The OpenMP guard: the only source of omp_* for the kernels (src/fastmlp_omp.h).
cdef extern from "fastmlp_omp.h":
    int FASTMLP_HAS_OPENMP
    int fastmlp_omp_max_threads() noexcept nogil
    int fastmlp_omp_thread_num() noexcept nogil
    int fastmlp_omp_num_threads() noexcept nogil
    void fastmlp_omp_barrier() noexcept nogil
    void fastmlp_omp_atomic_add(long long* x, long long v) noexcept nogil
