"""What the build knows about OpenMP, for fastmlp._threads."""

from fastmlp._kernels._openmp cimport FASTMLP_HAS_OPENMP, fastmlp_omp_max_threads


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(FASTMLP_HAS_OPENMP)


def omp_max_threads():
    """omp_get_max_threads(): honours OMP_NUM_THREADS and threadpoolctl limits."""
    return fastmlp_omp_max_threads()
