"""Element-wise kernels of the network, on one block of a layer.

Design: the network's passes (_passes.pyx) cut each GEMM into parts fixed by
the shapes (by rows, or by columns at a row stride ld) and call these right
after a part's GEMM, while its block is in cache: bias + activation fused,
output delta + loss fused, activation derivative fused into the delta. They
are serial and allocation-free, and never see a string (enums from
_ops.pxd). Each loop branches once per row on the kind and then calls that
kind's inline point function (_ops.pxd) over the row, so the compiler
vectorises every branch as if it were written out.

Formulas (Z = pre-activation, A = act(Z), Y = target, P = output, w = weight):

    relu      A = max(Z, 0)               delta * [A != 0]
    tanh      A = tanh(Z)                 delta * (1 - A^2)
    logistic  A = 1 / (1 + exp(-Z))       delta * A (1 - A)
    softmax   A_k = exp(Z_k - max Z) / sum_j exp(Z_j - max Z)     (output)
    exp       A = exp(Z)                                          (output)

Every loss here pairs with its canonical output activation, so its output
delta is dLoss/dZ = w (P - Y). The loss is returned as sum_i w_i r_i with
the per-row terms r_i below; the network scales it by LossSpec.scale / sum w:

    squared_error    r = sum_k (y - p)^2                       scale 1/(2 K)
    log_loss         r = -sum_k xlogy(y, clip(p))              scale 1
    binary_log_loss  r = -sum_k xlogy(y, clip(p)) + xlogy(1-y, 1-clip(p))
    poisson          r = sum_k xlogy(y, y/p) - y + p           scale 1

where clip(p) = min(max(p, eps), 1 - eps) and eps is the machine epsilon of
the floating type (as scikit-learn clips).
"""

from cython.parallel cimport prange


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
                z[j] = act_relu(z[j] + b[j])
        elif act == IDENTITY:
            for j in range(cols):
                z[j] = z[j] + b[j]
        elif act == TANH:
            for j in range(cols):
                z[j] = act_tanh(z[j] + b[j])
        elif act == LOGISTIC:
            for j in range(cols):
                z[j] = act_logistic(z[j] + b[j])
        elif act == EXP:
            for j in range(cols):
                z[j] = act_exp(z[j] + b[j])
        else:  # SOFTMAX
            for j in range(cols):
                z[j] = z[j] + b[j]
            zmax = z[0]
            for j in range(1, cols):
                zmax = z[j] if z[j] > zmax else zmax
            total = 0
            for j in range(cols):
                z[j] = act_exp(z[j] - zmax)
                total = total + z[j]
            for j in range(cols):
                z[j] = z[j] / total


cdef void bias_activation_to(floating* Z, Py_ssize_t rows, Py_ssize_t cols,
                             Py_ssize_t ld, const floating* b, int act,
                             floating* A) noexcept nogil:
    """Z[i, j] += b[j], then A[i, j] := act(Z[i, j]): a hidden layer whose
    pre-activations are kept (rows x cols blocks, both at row stride ld).
    Gives the bits of bias_activation; softmax is never a hidden activation."""
    cdef Py_ssize_t i, j
    cdef floating* z
    cdef floating* a
    for i in range(rows):
        z = Z + i * ld
        a = A + i * ld
        for j in range(cols):
            z[j] = z[j] + b[j]
        if act == RELU:
            for j in range(cols):
                a[j] = act_relu(z[j])
        elif act == IDENTITY:
            for j in range(cols):
                a[j] = z[j]
        elif act == TANH:
            for j in range(cols):
                a[j] = act_tanh(z[j])
        elif act == LOGISTIC:
            for j in range(cols):
                a[j] = act_logistic(z[j])
        elif act == EXP:
            for j in range(cols):
                a[j] = act_exp(z[j])


cdef void activation_derivative(floating* delta, const floating* Z, const floating* A,
                                Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t ld,
                                int act) noexcept nogil:
    """delta *= act'(Z) for the hidden activation, from its pre-activations Z
    (NULL unless kept: only activations whose derivative needs them read
    them) and its outputs A, on a rows x cols block with row stride ld."""
    cdef Py_ssize_t i, j
    cdef floating* d
    cdef const floating* a
    for i in range(rows):
        d = delta + i * ld
        a = A + i * ld
        if act == RELU:
            for j in range(cols):
                d[j] = dact_relu(d[j], 0, a[j])
        elif act == TANH:
            for j in range(cols):
                d[j] = dact_tanh(d[j], 0, a[j])
        elif act == LOGISTIC:
            for j in range(cols):
                d[j] = dact_logistic(d[j], 0, a[j])
        # IDENTITY: act' = 1


cdef inline void _canonical_delta(floating* d, const floating* p, const floating* y,
                                  Py_ssize_t cols, const floating* sw, Py_ssize_t i,
                                  double param) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating w
    if sw == NULL:
        for j in range(cols):
            d[j] = cgradient_canonical(y[j], p[j], param)
    else:
        w = sw[i]
        for j in range(cols):
            d[j] = cgradient_canonical(y[j], p[j], param) * w


cdef double output_delta_loss(floating* delta, const floating* P,
                              const floating* Y, const floating* sw,
                              Py_ssize_t rows, Py_ssize_t cols,
                              const LossSpec* loss) noexcept nogil:
    """delta := dLoss/dZ of each row (w (P - Y) for these losses); returns
    sum_i w_i r_i (see the module doc). sw may be NULL (all weights 1)."""
    cdef Py_ssize_t i, j
    cdef const floating* p
    cdef const floating* y
    cdef double r, total = 0.0
    cdef double param = loss.param
    cdef int kind = loss.kind
    for i in range(rows):
        p = P + i * cols
        y = Y + i * cols
        r = 0.0
        if kind == SQUARED_ERROR:
            for j in range(cols):
                r += closs_squared_error(y[j], p[j], param)
        elif kind == LOG_LOSS:
            for j in range(cols):
                r += closs_log_loss(y[j], p[j], param)
        elif kind == BINARY_LOG_LOSS:
            for j in range(cols):
                r += closs_binary_log_loss(y[j], p[j], param)
        else:  # POISSON
            for j in range(cols):
                r += closs_poisson(y[j], p[j], param)
        _canonical_delta(delta + i * cols, p, y, cols, sw, i, param)
        total += r if sw == NULL else r * sw[i]
    return total


# ---- test shims: the loops over rows shared by n_threads threads ------------

def _bias_activation(floating[:, ::1] Z, const floating[::1] b, int act,
                     bint keep_z=False, int n_threads=1):
    """Test shim: the layer's activations for pre-activations Z (without
    bias); with keep_z, Z becomes Z + b and the activations are returned in
    a new array, else Z is overwritten by them. Rows go to threads one each."""
    import numpy as np

    A = np.empty_like(np.asarray(Z)) if keep_z else None
    cdef floating[:, ::1] Av = A if keep_z else Z
    cdef Py_ssize_t i, cols = Z.shape[1]
    for i in prange(Z.shape[0], nogil=True, schedule="static", num_threads=n_threads):
        if keep_z:
            bias_activation_to(&Z[i, 0], 1, cols, cols, &b[0], act, &Av[i, 0])
        else:
            bias_activation(&Z[i, 0], 1, cols, cols, &b[0], act)
    return A if keep_z else np.asarray(Z)


def _activation_derivative(floating[:, ::1] delta, const floating[:, ::1] Z,
                           const floating[:, ::1] A, int act, int n_threads=1):
    """Test shim: delta *= act'(Z) in place (rows shared by n_threads)."""
    cdef Py_ssize_t i, cols = delta.shape[1]
    for i in prange(delta.shape[0], nogil=True, schedule="static", num_threads=n_threads):
        activation_derivative(&delta[i, 0], &Z[i, 0], &A[i, 0], 1, cols, cols, act)


def _output_delta_loss(floating[:, ::1] delta, const floating[:, ::1] P,
                       const floating[:, ::1] Y, const floating[::1] sw, int kind,
                       double param=0.0, int n_threads=1):
    """Test shim: delta := dLoss/dZ in place; returns the per-row weighted
    terms w_i r_i (rows shared by n_threads)."""
    import numpy as np

    out = np.empty(P.shape[0])
    cdef double[::1] rows = out
    cdef LossSpec loss
    loss.kind = kind
    loss.param = param
    loss.scale = 1.0
    cdef Py_ssize_t i, cols = P.shape[1]
    for i in prange(P.shape[0], nogil=True, schedule="static", num_threads=n_threads):
        rows[i] = output_delta_loss(&delta[i, 0], &P[i, 0], &Y[i, 0],
                                    NULL if sw is None else &sw[i], 1, cols, &loss)
    return out
