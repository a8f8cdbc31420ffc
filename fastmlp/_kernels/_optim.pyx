"""Optimizer steps over the one flat parameter buffer.

Design: all weights and biases live in one contiguous buffer (coefs then
intercepts), and so do their gradients and the optimizer state, so a step is
an element-wise loop. The network kernel applies it block by block, right
after the GEMM that produced a block of the gradient (still in cache), through
``step_block`` (a rows x cols block at a row stride, in one call), which
finishes the gradient from its raw sum in the same pass (the finished
gradient is never stored), can sum the squares of the new parameters, and
can clear the raw gradient as it reads it (for GEMMs that add into it next).
An option that needs the whole gradient first (OptimizerSpec.whole_gradient)
gets the same step, applied to the whole buffer after the backward pass.
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

import numpy as np

from fastmlp._kernels._layout cimport array_address


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


cdef class OptimizerSpec:
    """An sgd or adam optimizer as nogil code reads it, with its state.

    Built once per epoch by the Python optimizer (fastmlp._optimizers), which
    owns the state arrays; the kernel updates them in place and advances t.

    Parameters
    ----------
    rule : int
        Kernel id of the update rule (fastmlp._kinds).
    state : tuple of ndarray
        (velocity,) for sgd, (first moment, second moment) for adam: 1-D,
        C-contiguous, of the parameters' dtype and size.
    learning_rate : float
        sgd: this epoch's rate; adam: the initial rate (scaled per batch).
    alpha : float
        L2 strength.
    t : int
        Batches stepped so far; the kernel advances it once per batch (only
        Adam's rate reads it).
    momentum, nesterov, beta_1, beta_2, epsilon
        The rule's hyper-parameters.
    whole_gradient : bool
        Finish the batch's whole gradient before any parameter moves (for
        options that read all of it), instead of stepping each block of it
        right after its GEMM. The parameters come out the same bits (the
        reported loss adds its L2 term's squares in another order).
    """

    def __cinit__(self, int rule, tuple state, *, double learning_rate, double alpha,
                  long long t=0, double momentum=0.0, bint nesterov=False,
                  double beta_1=0.9, double beta_2=0.999, double epsilon=1e-8,
                  bint whole_gradient=False):
        if rule != SGD and rule != ADAM:
            raise ValueError(f"Unknown update rule {rule}.")
        if len(state) != (2 if rule == ADAM else 1):
            raise ValueError("sgd keeps one state array, adam two.")
        arrays = state
        for a in arrays:
            if (not isinstance(a, np.ndarray) or a.ndim != 1 or not a.flags.c_contiguous
                    or a.dtype != arrays[0].dtype or a.shape != arrays[0].shape
                    or a.dtype not in (np.float32, np.float64)):
                raise ValueError("Optimizer state must be 1-D float arrays of one size.")
            if not a.flags.writeable:
                raise ValueError("Optimizer state must be writeable.")
        self._state = arrays
        self.n_params = arrays[0].shape[0]
        self.itemsize = arrays[0].dtype.itemsize
        self.state_a = <void*>array_address(arrays[0])
        self.state_b = <void*>array_address(arrays[len(arrays) - 1])
        self.t = t
        self.opt.step.rule = rule
        self.opt.step.lr = learning_rate
        self.opt.step.momentum = momentum
        self.opt.step.nesterov = nesterov
        self.opt.step.beta_1 = beta_1
        self.opt.step.beta_2 = beta_2
        self.opt.step.epsilon = epsilon
        self.opt.learning_rate = learning_rate
        self.opt.alpha = alpha
        self.opt.whole_gradient = whole_gradient


cdef void step_block(const Step* step, floating* params, floating* grads,
                     floating* state_a, floating* state_b, Py_ssize_t rows,
                     Py_ssize_t cols, Py_ssize_t ld, Py_ssize_t tile, floating alpha,
                     floating sw_sum, double* sumsq, bint clear=False) noexcept nogil:
    """sgd/adam step of a rows x cols block at row stride ld (the buffers
    share that layout), from raw gradients, in one call. If sumsq is not
    NULL it receives the sum of squares of the new params, summed in runs of
    at most ``tile`` elements of a row (see src/fastmlp_step.h). With clear,
    the raw gradients are set to 0 as they are read."""
    if step.rule == SGD:
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


cdef void finish_block(const floating* params, floating* grads, Py_ssize_t n,
                       floating alpha, floating sw_sum) noexcept nogil:
    """grads := (grads + alpha params) / sw_sum: the finished gradient of n
    elements, from its raw sums (L-BFGS's gradient)."""
    cdef Py_ssize_t i
    for i in range(n):
        grads[i] = (grads[i] + alpha * params[i]) / sw_sum


# ---- test shims -------------------------------------------------------------

cdef Step _step(str solver, double lr, double momentum, bint nesterov, double beta_1,
                double beta_2, double epsilon):
    cdef Step step
    step.rule = {"sgd": SGD, "adam": ADAM}[solver]
    step.lr = lr
    step.momentum = momentum
    step.nesterov = nesterov
    step.beta_1 = beta_1
    step.beta_2 = beta_2
    step.epsilon = epsilon
    return step


def _sgd_step(floating[::1] params, const floating[::1] grads,
              floating[::1] velocity, double lr, double momentum, bint nesterov):
    """One SGD step in place from finished gradients (test shim)."""
    cdef Step step = _step("sgd", lr, momentum, nesterov, 0, 0, 0)
    with nogil:
        step_block(&step, &params[0], <floating*>&grads[0], &velocity[0], &velocity[0],
                   1, params.shape[0], params.shape[0], params.shape[0], 0, 1, NULL)


def _adam_step(floating[::1] params, const floating[::1] grads,
               floating[::1] m, floating[::1] v, double lr, double beta_1,
               double beta_2, double epsilon, long long t):
    """One Adam step in place at step t from finished gradients (test shim)."""
    cdef Step step = _step("adam", adam_rate(lr, beta_1, beta_2, t), 0, False, beta_1,
                           beta_2, epsilon)
    with nogil:
        step_block(&step, &params[0], <floating*>&grads[0], &m[0], &v[0], 1,
                   params.shape[0], params.shape[0], params.shape[0], 0, 1, NULL)


def _finish_and_step(floating[::1] params, floating[::1] grads,
                     floating[::1] state_a, floating[::1] state_b, str solver,
                     double lr, double momentum, bint nesterov, double beta_1,
                     double beta_2, double epsilon, double alpha, double sw_sum,
                     bint want_sumsq=False, bint clear=False):
    """Finish a raw gradient and step (test shim): solver 'none' writes the
    finished gradient to grads (finish_block); 'sgd'/'adam' step from the raw
    gradient in one pass (adam's lr is lr_t). With want_sumsq (sgd/adam)
    returns the step's sum of squares of the new params (one run), else
    None. With clear (sgd/adam), the step sets the raw gradients to 0 as it
    reads them."""
    cdef double sumsq = 0.0
    cdef Py_ssize_t n = params.shape[0]
    cdef Step step
    if solver == "none":
        with nogil:
            finish_block(&params[0], &grads[0], n, <floating>alpha, <floating>sw_sum)
        return None
    step = _step(solver, lr, momentum, nesterov, beta_1, beta_2, epsilon)
    with nogil:
        step_block(&step, &params[0], &grads[0], &state_a[0], &state_b[0], 1, n, n,
                   max(n, 1), <floating>alpha, <floating>sw_sum,
                   &sumsq if want_sumsq else NULL, clear)
    return sumsq if want_sumsq else None
