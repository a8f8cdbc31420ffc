"""Optimizer steps over the one flat parameter buffer.

Design: all weights and biases live in one contiguous buffer (coefs then
intercepts), and so do their gradients and the optimizer state, so a step is
an element-wise loop. The network kernel applies it block by block, right
after the GEMM that produced a block of the gradient (still in cache), through
``step_block`` (a rows x cols block at a row stride, in one call), which
finishes the gradient from its raw sum in the same pass (the finished
gradient is never stored), can sum the squares of the new parameters, and
can clear the raw gradient as it reads it (for GEMMs that add into it next).
Element-wise work gives the same bits however the buffer is split, so
results do not depend on n_threads.
The loops themselves are written in C (src/fastmlp_step.h), which lets x86-64
builds carry an AVX2 copy picked at load time (same bits, wider vectors).

Gradient from its raw sum (W the weights, alpha the L2 strength, 0 for
biases; S the batch's sum of sample weights):

    g := (g_raw + alpha W) / S

(computed as (g_raw + alpha W) * (1 / S) in the sgd/adam loops, within an
ulp of the division; see src/fastmlp_step.h)

SGD with momentum mu and rate lr (scikit-learn's formulation):

    v     := mu v - lr g
    theta := theta + (mu v - lr g)   Nesterov (with the new v)
    theta := theta + v               classical (mu = 0 is plain SGD)

Adam, scikit-learn's "efficient" form (epsilon added to the uncorrected root):

    m     := b1 m + (1 - b1) g
    v     := b2 v + (1 - b2) g^2
    lr_t   = lr sqrt(1 - b2^t) / (1 - b1^t)
    theta := theta + (-lr_t m) / (sqrt(v) + epsilon)
"""

from libc.math cimport sqrt, pow


cdef extern from "fastmlp_step.h":
    void fastmlp_sgd_f(float* p, float* g_raw, float* v, Py_ssize_t rows,
                       Py_ssize_t cols, Py_ssize_t ld, Py_ssize_t tile, float lr,
                       float mu, int nesterov, float alpha, float sw_sum, int clear,
                       double* sumsq) noexcept nogil
    void fastmlp_sgd_d(double* p, double* g_raw, double* v, Py_ssize_t rows,
                       Py_ssize_t cols, Py_ssize_t ld, Py_ssize_t tile, double lr,
                       double mu, int nesterov, double alpha, double sw_sum, int clear,
                       double* sumsq) noexcept nogil
    void fastmlp_adam_f(float* p, float* g_raw, float* m, float* v,
                        Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t ld,
                        Py_ssize_t tile, float lr_t, float b1, float b2, float eps,
                        float alpha, float sw_sum, int clear,
                        double* sumsq) noexcept nogil
    void fastmlp_adam_d(double* p, double* g_raw, double* m, double* v,
                        Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t ld,
                        Py_ssize_t tile, double lr_t, double b1, double b2,
                        double eps, double alpha, double sw_sum, int clear,
                        double* sumsq) noexcept nogil


cdef void step_block(const Step* step, floating* params, floating* grads,
                     floating* state_a, floating* state_b, Py_ssize_t rows,
                     Py_ssize_t cols, Py_ssize_t ld, Py_ssize_t tile, floating alpha,
                     floating sw_sum, double* sumsq, bint clear=False) noexcept nogil:
    """sgd/adam step of a rows x cols block at row stride ld (the buffers
    share that layout), from raw gradients, in one call. If sumsq is not
    NULL it receives the sum of squares of the new params, summed in runs of
    at most ``tile`` elements of a row (see src/fastmlp_step.h). With clear,
    the raw gradients are set to 0 as they are read."""
    if step.solver == SGD:
        if floating is float:
            fastmlp_sgd_f(params, grads, state_a, rows, cols, ld, tile,
                          <float>step.lr, <float>step.momentum, step.nesterov, alpha,
                          sw_sum, clear, sumsq)
        else:
            fastmlp_sgd_d(params, grads, state_a, rows, cols, ld, tile, step.lr,
                          step.momentum, step.nesterov, alpha, sw_sum, clear, sumsq)
    else:
        if floating is float:
            fastmlp_adam_f(params, grads, state_a, state_b, rows, cols, ld, tile,
                           <float>step.lr, <float>step.beta_1, <float>step.beta_2,
                           <float>step.epsilon, alpha, sw_sum, clear, sumsq)
        else:
            fastmlp_adam_d(params, grads, state_a, state_b, rows, cols, ld, tile,
                           step.lr, step.beta_1, step.beta_2, step.epsilon, alpha,
                           sw_sum, clear, sumsq)


cdef void finish_and_step(const Step* step, floating* params, floating* grads,
                          floating* state_a, floating* state_b, Py_ssize_t n,
                          floating alpha, floating sw_sum, double* sumsq=NULL,
                          bint clear=False) noexcept nogil:
    """Step n elements from their raw gradients, g = (g + alpha p) / sw_sum
    (serial). With NO_STEP the finished gradient is written back to grads;
    otherwise it is used in the same pass and grads keep the raw sums (or
    become 0 with clear), and if sumsq is not NULL it receives the sum of
    squares of the new params (one run: see step_block)."""
    cdef Py_ssize_t i
    if step.solver == NO_STEP:
        for i in range(n):
            grads[i] = (grads[i] + alpha * params[i]) / sw_sum
    else:
        step_block(step, params, grads, state_a, state_b, 1, n, n, max(n, 1), alpha,
                   sw_sum, sumsq, clear)


cdef double adam_rate(double lr, double beta_1, double beta_2, Py_ssize_t t) noexcept nogil:
    """Bias-corrected Adam step size at step t (t >= 1)."""
    return lr * sqrt(1.0 - pow(beta_2, <double>t)) / (1.0 - pow(beta_1, <double>t))


# ---- test shims -------------------------------------------------------------

def _sgd_step(floating[::1] params, const floating[::1] grads,
              floating[::1] velocity, double lr, double momentum, bint nesterov):
    """One SGD step in place from finished gradients (test shim)."""
    cdef Step step
    step.solver = SGD
    step.lr = lr
    step.momentum = momentum
    step.nesterov = nesterov
    with nogil:
        finish_and_step(&step, &params[0], <floating*>&grads[0], &velocity[0],
                        &velocity[0], params.shape[0], 0, 1)


def _adam_step(floating[::1] params, const floating[::1] grads,
               floating[::1] m, floating[::1] v, double lr, double beta_1,
               double beta_2, double epsilon, Py_ssize_t t):
    """One Adam step in place at step t from finished gradients (test shim)."""
    cdef Step step
    step.solver = ADAM
    step.lr = adam_rate(lr, beta_1, beta_2, t)
    step.beta_1 = beta_1
    step.beta_2 = beta_2
    step.epsilon = epsilon
    with nogil:
        finish_and_step(&step, &params[0], <floating*>&grads[0], &m[0], &v[0],
                        params.shape[0], 0, 1)


def _finish_and_step(floating[::1] params, floating[::1] grads,
                     floating[::1] state_a, floating[::1] state_b, str solver,
                     double lr, double momentum, bint nesterov, double beta_1,
                     double beta_2, double epsilon, double alpha, double sw_sum,
                     bint want_sumsq=False, bint clear=False):
    """Finish a raw gradient and step (test shim); adam's lr is lr_t. With
    want_sumsq (sgd/adam, at most 4096 elements) returns the step's sum of
    squares of the new params, else None. With clear (sgd/adam), the step
    sets the raw gradients to 0 as it reads them."""
    cdef double sumsq = 0.0
    cdef Step step
    step.solver = {"none": NO_STEP, "sgd": SGD, "adam": ADAM}[solver]
    step.lr = lr
    step.momentum = momentum
    step.nesterov = nesterov
    step.beta_1 = beta_1
    step.beta_2 = beta_2
    step.epsilon = epsilon
    with nogil:
        finish_and_step(&step, &params[0], &grads[0], &state_a[0], &state_b[0],
                        params.shape[0], <floating>alpha, <floating>sw_sum,
                        &sumsq if want_sumsq else NULL, clear)
    return sumsq if want_sumsq else None
