# Stable scalar math from src/fastmlp_math.h.
cdef extern from "fastmlp_math.h":
    double fastmlp_logistic(double x) noexcept nogil
    float fastmlp_logisticf(float x) noexcept nogil
    double fastmlp_xlogy(double x, double y) noexcept nogil
    double fastmlp_now() noexcept nogil
    void fastmlp_prefetch(const void* p, size_t n_bytes) noexcept nogil
