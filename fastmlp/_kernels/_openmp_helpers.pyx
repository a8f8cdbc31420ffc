"""What the build knows about OpenMP and its flags, for fastmlp._threads and
fastmlp.show_config."""

from fastmlp._kernels._openmp cimport FASTMLP_HAS_OPENMP, fastmlp_omp_max_threads

cdef extern from *:
    """
    #ifndef FASTMLP_BUILD_FLAGS
    #define FASTMLP_BUILD_FLAGS "unknown"
    #endif
    """
    const char* FASTMLP_BUILD_FLAGS


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(FASTMLP_HAS_OPENMP)


def omp_max_threads():
    """omp_get_max_threads(): honours OMP_NUM_THREADS and threadpoolctl limits."""
    return fastmlp_omp_max_threads()


def build_flags():
    """The compiler flags the kernels were built with (set by setup.py)."""
    return FASTMLP_BUILD_FLAGS.decode()
