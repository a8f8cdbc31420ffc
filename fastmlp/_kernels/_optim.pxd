from cython cimport floating
from libc.math cimport pow, sqrt

# Update rules of the stochastic solvers (fastmlp/_kinds.py maps names to them).
cpdef enum Rule:
    SGD = 0
    ADAM = 1

# One update, described for nogil code.
cdef struct Step:
    int rule
    double lr           # sgd: the current rate; adam: the bias-corrected lr_t
    double momentum
    bint nesterov
    double beta_1
    double beta_2
    double epsilon

# What the epoch kernel needs of an optimizer (see OptimizerSpec).
cdef struct Optimizer:
    Step step               # lr is set per batch (batch_rate)
    double learning_rate    # sgd: this epoch's rate; adam: the initial rate
    double alpha            # L2 strength
    bint whole_gradient     # finish the batch's whole gradient before stepping


cdef class OptimizerSpec:
    cdef Optimizer opt
    cdef object _state          # keeps the state arrays alive
    cdef void* state_a          # sgd: velocity; adam: first moment
    cdef void* state_b          # adam: second moment (sgd: = state_a, unused)
    cdef readonly Py_ssize_t n_params, itemsize
    cdef public long long t     # batches stepped (Adam's rate is a function of it)


cdef inline double adam_rate(double lr, double beta_1, double beta_2,
                             long long t) noexcept nogil:
    """Bias-corrected Adam step size at step t (t >= 1)."""
    return lr * sqrt(1.0 - pow(beta_2, <double>t)) / (1.0 - pow(beta_1, <double>t))


cdef inline double batch_rate(const Optimizer* opt, long long t) noexcept nogil:
    """The step size of batch number t (Adam's t, counted from 1)."""
    if opt.step.rule == ADAM:
        return adam_rate(opt.learning_rate, opt.step.beta_1, opt.step.beta_2, t)
    return opt.learning_rate


cdef void step_block(const Step* step, floating* params, floating* grads,
                     floating* state_a, floating* state_b, Py_ssize_t rows,
                     Py_ssize_t cols, Py_ssize_t ld, Py_ssize_t tile, floating alpha,
                     floating sw_sum, double* sumsq, bint clear=*) noexcept nogil

cdef void finish_block(const floating* params, floating* grads, Py_ssize_t n,
                       floating alpha, floating sw_sum) noexcept nogil
