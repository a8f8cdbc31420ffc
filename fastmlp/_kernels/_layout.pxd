# A network's shape and kinds, and its input rows, as plain structs for
# nogil code (built by the cdef classes of _layout.pyx).

from cpython.buffer cimport PyBUF_C_CONTIGUOUS, PyBuffer_Release, PyObject_GetBuffer


cdef struct CSR:
    # Rows of a CSR matrix whose values have the network's floating type.
    const void* data
    const Py_ssize_t* indices
    const Py_ssize_t* indptr
    const Py_ssize_t* rows      # batch row r is CSR row rows[r]


cdef struct LossSpec:
    int kind          # _ops.Loss
    double param      # the loss's own parameter (none of the current ones has one)
    double scale      # reported loss = scale * sum_i w_i r_i / sum_i w_i (+ L2)


cdef struct Layout:
    Py_ssize_t n_layers        # L, the number of weight layers
    const Py_ssize_t* units    # L + 1 layer widths
    const Py_ssize_t* w_off    # L offsets of W_l in the flat buffer
    const Py_ssize_t* b_off    # L offsets of b_l
    const Py_ssize_t* cum      # L + 1 partial sums of units[1..]
    Py_ssize_t n_coefs         # number of weights (the L2-penalised part)
    int hidden_act             # _ops.Activation of the hidden layers
    int out_act                # ... of the output layer
    bint keep_z                # training stores the hidden pre-activations Z
    LossSpec loss


cdef class NetSpec:
    cdef Py_ssize_t[::1] _buf
    cdef Layout lay
    cdef readonly Py_ssize_t n_params, n_outputs


cdef class KernelInput:
    cdef object _arrays         # keeps the buffers below alive
    cdef const void* dense      # n_rows x n_features, row-major; NULL if sparse
    cdef CSR csr                # the CSR arrays if sparse (csr.rows: NULL)
    cdef const Py_ssize_t* all_rows   # 0 .. n_rows - 1 (sparse only)
    cdef readonly Py_ssize_t n_rows, n_features, itemsize
    cdef readonly bint sparse


cdef inline Py_ssize_t z_size(const Layout* lay, Py_ssize_t rows) noexcept nogil:
    """Elements of the pre-activation buffer for ``rows`` rows (0 if not kept)."""
    return rows * lay.cum[lay.n_layers - 1] if lay.keep_z else 0


cdef inline const void* array_address(object a) except? NULL:
    """The address of a C-contiguous array's data, through the buffer
    protocol (a fraction of __array_interface__'s cost; the caller keeps
    the array alive)."""
    cdef Py_buffer view
    cdef const void* address
    PyObject_GetBuffer(a, &view, PyBUF_C_CONTIGUOUS)
    address = view.buf
    PyBuffer_Release(&view)
    return address

