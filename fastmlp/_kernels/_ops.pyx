"""Element-wise kernels of the network, on one block of rows.

Design: the network kernel cuts every batch into fixed-size row blocks and
hands each block to one thread; the functions here do the element-wise work of
a block right after its GEMM, while it is in cache (bias + activation fused;
output delta + loss fused; activation derivative fused into the delta). They
are serial and allocation-free, and never see a string (enums from _ops.pxd).

Formulas (A = activation output, Z = pre-activation, Y = target, w = weight):

    relu      A = max(Z, 0)               f'(A) = [A != 0]
    tanh      A = tanh(Z)                 f'(A) = 1 - A^2
    logistic  A = 1 / (1 + exp(-Z))       f'(A) = A (1 - A)
    softmax   A_k = exp(Z_k - max Z) / sum_j exp(Z_j - max Z)
    exp       A = exp(Z)

The output delta is the canonical-link form dL/dZ = w (A - Y). The loss is
returned as sum_i w_i r_i with the per-row terms r_i below; loss_scale gives
the factor that turns it (divided by sum w) into scikit-learn's loss:

    squared_error    r = sum_k (y - p)^2                       scale 1/(2 K)
    log_loss         r = -sum_k xlogy(y, clip(p))              scale 1
    binary_log_loss  r = -sum_k xlogy(y, clip(p)) + xlogy(1-y, 1-clip(p))
    poisson          r = sum_k xlogy(y, y/p) - y + p           scale 1

where clip(p) = min(max(p, eps), 1 - eps) and eps is the machine epsilon of
the floating type (as scikit-learn clips).
"""

from libc.math cimport exp, expf, tanh, tanhf, log
from fastmlp._kernels._math cimport fastmlp_logistic, fastmlp_logisticf, fastmlp_xlogy


cdef void bias_activation(floating* Z, Py_ssize_t rows, Py_ssize_t cols,
                          Py_ssize_t ld, const floating* b, int act) noexcept nogil:
    """Z[i, j] := act(Z[i, j] + b[j]) in place for a rows x cols block with
    row stride ld; softmax acts on each (whole) row."""
    cdef Py_ssize_t i, j
    cdef floating* z
    cdef floating zmax, total
    for i in range(rows):
        z = Z + i * ld
        if act == RELU:
            for j in range(cols):
                z[j] = z[j] + b[j]
                z[j] = z[j] if z[j] > 0 else 0
        elif act == IDENTITY:
            for j in range(cols):
                z[j] = z[j] + b[j]
        elif act == TANH:
            for j in range(cols):
                if floating is float:
                    z[j] = tanhf(z[j] + b[j])
                else:
                    z[j] = tanh(z[j] + b[j])
        elif act == LOGISTIC:
            for j in range(cols):
                if floating is float:
                    z[j] = fastmlp_logisticf(z[j] + b[j])
                else:
                    z[j] = fastmlp_logistic(z[j] + b[j])
        elif act == EXP:
            for j in range(cols):
                if floating is float:
                    z[j] = expf(z[j] + b[j])
                else:
                    z[j] = exp(z[j] + b[j])
        else:  # SOFTMAX
            for j in range(cols):
                z[j] = z[j] + b[j]
            zmax = z[0]
            for j in range(1, cols):
                zmax = z[j] if z[j] > zmax else zmax
            total = 0
            for j in range(cols):
                if floating is float:
                    z[j] = expf(z[j] - zmax)
                else:
                    z[j] = exp(z[j] - zmax)
                total = total + z[j]
            for j in range(cols):
                z[j] = z[j] / total


cdef void activation_derivative(floating* delta, const floating* A,
                                Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t ld,
                                int act) noexcept nogil:
    """delta *= f'(A) for the hidden activation, from its outputs A, on a
    rows x cols block with row stride ld (both arrays)."""
    cdef Py_ssize_t i, j
    cdef floating* d
    cdef const floating* a
    for i in range(rows):
        d = delta + i * ld
        a = A + i * ld
        if act == RELU:
            for j in range(cols):
                d[j] = 0 if a[j] == 0 else d[j]
        elif act == TANH:
            for j in range(cols):
                d[j] = d[j] * (1 - a[j] * a[j])
        elif act == LOGISTIC:
            for j in range(cols):
                d[j] = d[j] * a[j]
                d[j] = d[j] * (1 - a[j])
        # IDENTITY: f' = 1


cdef double output_delta_loss(floating* delta, const floating* P,
                              const floating* Y, const floating* sw,
                              Py_ssize_t rows, Py_ssize_t cols,
                              int loss) noexcept nogil:
    """delta := w (P - Y) row-wise; return sum_i w_i r_i (see module doc).

    sw may be NULL (all weights 1).
    """
    cdef Py_ssize_t i, j
    cdef const floating* p
    cdef const floating* y
    cdef floating* d
    cdef floating w, pc
    cdef floating eps = 1.1920928955078125e-07 if floating is float else 2.220446049250313e-16
    cdef double r, total = 0.0
    for i in range(rows):
        p = P + i * cols
        y = Y + i * cols
        d = delta + i * cols
        r = 0.0
        if loss == SQUARED_ERROR:
            for j in range(cols):
                r += <double>(y[j] - p[j]) * <double>(y[j] - p[j])
        elif loss == LOG_LOSS:
            for j in range(cols):
                pc = min(max(p[j], eps), 1 - eps)
                r -= fastmlp_xlogy(y[j], pc)
        elif loss == BINARY_LOG_LOSS:
            for j in range(cols):
                pc = min(max(p[j], eps), 1 - eps)
                r -= fastmlp_xlogy(y[j], pc) + fastmlp_xlogy(1 - y[j], 1 - pc)
        else:  # POISSON
            for j in range(cols):
                r += fastmlp_xlogy(y[j], <double>y[j] / p[j]) - y[j] + p[j]
        if sw == NULL:
            for j in range(cols):
                d[j] = p[j] - y[j]
            total += r
        else:
            w = sw[i]
            for j in range(cols):
                d[j] = (p[j] - y[j]) * w
            total += r * w
    return total


cdef double loss_scale(int loss, Py_ssize_t n_outputs) noexcept nogil:
    """Factor from sum_i w_i r_i / sum_i w_i to scikit-learn's reported loss."""
    if loss == SQUARED_ERROR:
        return 0.5 / n_outputs
    return 1.0
