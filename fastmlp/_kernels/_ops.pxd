# Activations and losses: one point function per kind (inline, so the loops
# of _ops.pyx that call them stay vectorisable), and the loops.
#
# Adding a kind: a value in its enum, its point functions below, one branch
# in each loop of _ops.pyx that dispatches on the enum, and a row in
# fastmlp/_kinds.py (see CONTRIBUTING.md).

from cython cimport floating
from libc.math cimport exp, expf, tanh, tanhf

from fastmlp._kernels._layout cimport LossSpec
from fastmlp._kernels._math cimport fastmlp_logistic, fastmlp_logisticf, fastmlp_xlogy

# Activations (hidden and output). Integers, so nogil code never sees a string.
cpdef enum Activation:
    IDENTITY = 0
    LOGISTIC = 1
    TANH = 2
    RELU = 3
    SOFTMAX = 4     # output only (acts on whole rows)
    EXP = 5         # output only

# Output losses, each with the output activation it is computed on.
cpdef enum Loss:
    SQUARED_ERROR = 0   # identity output
    LOG_LOSS = 1        # softmax output
    BINARY_LOG_LOSS = 2 # logistic output
    POISSON = 3         # exp output


cdef inline bint is_activation(int act) noexcept nogil:
    return IDENTITY <= act <= EXP

cdef inline bint is_hidden_activation(int act) noexcept nogil:
    # The activations activation_derivative has a branch for.
    return act == IDENTITY or act == LOGISTIC or act == TANH or act == RELU

cdef inline bint is_loss(int loss) noexcept nogil:
    return SQUARED_ERROR <= loss <= POISSON


# ---- activations: a(z), and delta * a'(z) given z and a = a(z) -------------

cdef inline floating act_identity(floating z) noexcept nogil:
    return z

cdef inline floating act_relu(floating z) noexcept nogil:
    return z if z > 0 else 0

cdef inline floating act_tanh(floating z) noexcept nogil:
    if floating is float:
        return tanhf(z)
    else:
        return tanh(z)

cdef inline floating act_logistic(floating z) noexcept nogil:
    if floating is float:
        return fastmlp_logisticf(z)
    else:
        return fastmlp_logistic(z)

cdef inline floating act_exp(floating z) noexcept nogil:
    if floating is float:
        return expf(z)
    else:
        return exp(z)

cdef inline floating dact_identity(floating delta, floating z, floating a) noexcept nogil:
    return delta

cdef inline floating dact_relu(floating delta, floating z, floating a) noexcept nogil:
    return 0 if a == 0 else delta

cdef inline floating dact_tanh(floating delta, floating z, floating a) noexcept nogil:
    return delta * (1 - a * a)

cdef inline floating dact_logistic(floating delta, floating z, floating a) noexcept nogil:
    return delta * a * (1 - a)


# ---- losses: the per-element term r(y, p) and the delta dLoss/dz ------------
# eps clips probabilities as scikit-learn does (the machine epsilon of the type).

cdef inline floating _clip_probability(floating p) noexcept nogil:
    cdef floating eps = 1.1920928955078125e-07 if floating is float else 2.220446049250313e-16
    return min(max(p, eps), 1 - eps)

cdef inline double closs_squared_error(floating y, floating p, double param) noexcept nogil:
    return <double>(y - p) * <double>(y - p)

cdef inline double closs_log_loss(floating y, floating p, double param) noexcept nogil:
    return -fastmlp_xlogy(y, _clip_probability(p))

cdef inline double closs_binary_log_loss(floating y, floating p, double param) noexcept nogil:
    cdef floating pc = _clip_probability(p)
    return -(fastmlp_xlogy(y, pc) + fastmlp_xlogy(1 - y, 1 - pc))

cdef inline double closs_poisson(floating y, floating p, double param) noexcept nogil:
    return fastmlp_xlogy(y, <double>y / p) - y + p

cdef inline floating cgradient_canonical(floating y, floating p, double param) noexcept nogil:
    # A loss paired with its canonical link: dLoss/dz = p - y.
    return p - y


# ---- the loops ---------------------------------------------------------------

cdef void bias_activation(floating* Z, Py_ssize_t rows, Py_ssize_t cols,
                          Py_ssize_t ld, const floating* b, int act) noexcept nogil

cdef void bias_activation_to(floating* Z, Py_ssize_t rows, Py_ssize_t cols,
                             Py_ssize_t ld, const floating* b, int act,
                             floating* A) noexcept nogil

cdef void activation_derivative(floating* delta, const floating* Z, const floating* A,
                                Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t ld,
                                int act) noexcept nogil

cdef double output_delta_loss(floating* delta, const floating* P,
                              const floating* Y, const floating* sw,
                              Py_ssize_t rows, Py_ssize_t cols,
                              const LossSpec* loss) noexcept nogil
