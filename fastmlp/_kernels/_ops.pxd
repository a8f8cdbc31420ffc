from cython cimport floating

# Activations (hidden and output). Integers, so nogil code never sees a string.
cpdef enum Activation:
    IDENTITY = 0
    LOGISTIC = 1
    TANH = 2
    RELU = 3
    SOFTMAX = 4
    EXP = 5

# Output losses; each pairs with its canonical output activation.
cpdef enum Loss:
    SQUARED_ERROR = 0   # identity output
    LOG_LOSS = 1        # softmax output
    BINARY_LOG_LOSS = 2 # logistic output
    POISSON = 3         # exp output

cdef void bias_activation(floating* Z, Py_ssize_t rows, Py_ssize_t cols,
                          Py_ssize_t ld, const floating* b, int act) noexcept nogil

cdef void activation_derivative(floating* delta, const floating* A,
                                Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t ld,
                                int act) noexcept nogil

cdef double output_delta_loss(floating* delta, const floating* P,
                              const floating* Y, const floating* sw,
                              Py_ssize_t rows, Py_ssize_t cols,
                              int loss) noexcept nogil

cdef double loss_scale(int loss, Py_ssize_t n_outputs) noexcept nogil
