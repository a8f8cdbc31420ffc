"""In-place optimizer steps over the one flat parameter buffer.

Design: all weights and biases live in one contiguous buffer (coefs then
intercepts), and so do their gradients and the optimizer state, so each step
is one element-wise loop, split over OpenMP threads. Element-wise work gives
the same bits whatever the split, so results do not depend on n_threads.

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

from cython.parallel cimport prange
from libc.math cimport sqrt, sqrtf, pow

# Below this many elements a parallel region costs more than it saves.
cdef enum:
    MIN_PARALLEL = 16384


cdef void sgd_step(floating* params, const floating* grads, floating* velocity,
                   Py_ssize_t n, floating lr, floating momentum, bint nesterov,
                   int n_threads) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating vi
    if nesterov:
        for i in prange(n, schedule="static", num_threads=n_threads,
                        use_threads_if=n_threads > 1 and n >= MIN_PARALLEL):
            vi = momentum * velocity[i] - lr * grads[i]
            velocity[i] = vi
            params[i] += momentum * vi - lr * grads[i]
    else:
        for i in prange(n, schedule="static", num_threads=n_threads,
                        use_threads_if=n_threads > 1 and n >= MIN_PARALLEL):
            vi = momentum * velocity[i] - lr * grads[i]
            velocity[i] = vi
            params[i] += vi


cdef void adam_step(floating* params, const floating* grads, floating* m,
                    floating* v, Py_ssize_t n, floating lr_t, floating beta_1,
                    floating beta_2, floating epsilon, int n_threads) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating g, root
    cdef floating one_b1 = 1 - beta_1
    cdef floating one_b2 = 1 - beta_2
    for i in prange(n, schedule="static", num_threads=n_threads,
                    use_threads_if=n_threads > 1 and n >= MIN_PARALLEL):
        g = grads[i]
        m[i] = beta_1 * m[i] + one_b1 * g
        v[i] = beta_2 * v[i] + one_b2 * (g * g)
        if floating is float:
            root = sqrtf(v[i])
        else:
            root = sqrt(v[i])
        params[i] += (-lr_t * m[i]) / (root + epsilon)


cdef double adam_rate(double lr, double beta_1, double beta_2, Py_ssize_t t) noexcept nogil:
    """Bias-corrected Adam step size at step t (t >= 1)."""
    return lr * sqrt(1.0 - pow(beta_2, <double>t)) / (1.0 - pow(beta_1, <double>t))


# ---- test shims -------------------------------------------------------------

def _sgd_step(floating[::1] params, const floating[::1] grads,
              floating[::1] velocity, double lr, double momentum,
              bint nesterov, int n_threads=1):
    """One SGD step in place (test shim)."""
    with nogil:
        sgd_step(&params[0], &grads[0], &velocity[0], params.shape[0],
                 <floating>lr, <floating>momentum, nesterov, n_threads)


def _adam_step(floating[::1] params, const floating[::1] grads,
               floating[::1] m, floating[::1] v, double lr, double beta_1,
               double beta_2, double epsilon, Py_ssize_t t, int n_threads=1):
    """One Adam step in place at step t (test shim)."""
    cdef floating lr_t = <floating>adam_rate(lr, beta_1, beta_2, t)
    with nogil:
        adam_step(&params[0], &grads[0], &m[0], &v[0], params.shape[0], lr_t,
                  <floating>beta_1, <floating>beta_2, <floating>epsilon, n_threads)
