from cython cimport floating

# One optimizer step, described for nogil code.
cdef struct Step:
    int solver          # NO_STEP (plain gradient), SGD or ADAM
    double lr           # sgd: the current rate; adam: the bias-corrected lr_t
    double momentum
    bint nesterov
    double beta_1
    double beta_2
    double epsilon

cdef enum:
    NO_STEP = -1
    SGD = 0
    ADAM = 1

cdef void step_block(const Step* step, floating* params, floating* grads,
                     floating* state_a, floating* state_b, Py_ssize_t rows,
                     Py_ssize_t cols, Py_ssize_t ld, Py_ssize_t tile, floating alpha,
                     floating sw_sum, double* sumsq, bint clear=*) noexcept nogil

cdef void finish_and_step(const Step* step, floating* params, floating* grads,
                          floating* state_a, floating* state_b, Py_ssize_t n,
                          floating alpha, floating sw_sum,
                          double* sumsq=*, bint clear=*) noexcept nogil

cdef double adam_rate(double lr, double beta_1, double beta_2, Py_ssize_t t) noexcept nogil
