# The network's passes over a batch of rows (nogil building blocks of the
# drivers in _network.pyx). Every thread of a team calls them with the same
# arguments; see _parts.pxd for how they share the work.

from cython cimport floating

from fastmlp._kernels._layout cimport CSR, Layout
from fastmlp._kernels._optim cimport Optimizer, Step
from fastmlp._kernels._parts cimport Team


cdef struct Batch:
    # The rows of one batch, in the network's floating type.
    const void* X           # nb x units[0] dense rows, or NULL with csr
    const CSR* csr          # CSR rows (csr.rows: this batch's row numbers), or NULL
    const void* Y           # nb x units[L] targets
    const void* sw          # nb sample weights, or NULL (all 1)
    Py_ssize_t nb


cdef struct Workspace:
    # Per-batch scratch space (sized by NetSpec.workspace_sizes).
    void* acts              # activations of every layer (nb x cum[L])
    void* zs                # kept hidden pre-activations (nb x cum[L-1]), or NULL
    void* deltas            # deltas of every layer (nb x cum[L])
    double* row_partials    # one sum per ROW_BLOCK rows
    double* sum_partials    # one sum per SUM_BLOCK elements of the weights
    double* l2_parts        # L * MAX_PARTS per-part sums of the new W^2


cdef Py_ssize_t forward(const Layout* lay, const floating* params, const floating* X,
                        const CSR* csr, Py_ssize_t nb, floating* acts, floating* zs,
                        floating* out, const Team* team, bint check_x=*) noexcept nogil

cdef double output_loss(const Layout* lay, const floating* P, const floating* Y,
                        const floating* sw, Py_ssize_t nb, floating* D,
                        double* partials, const Team* team) noexcept nogil

cdef double sumsq(const floating* x, Py_ssize_t n, double* partials,
                  const Team* team) noexcept nogil

cdef void backward(const Layout* lay, floating* params, floating* grads,
                   const floating* X, const CSR* csr, Py_ssize_t nb,
                   const floating* acts, const floating* zs, floating* deltas,
                   bint accumulate, const Step* step, floating* state_a,
                   floating* state_b, double alpha, double sw_sum, double* l2_parts,
                   const Team* team) noexcept nogil

cdef void finish_whole(const Layout* lay, const Step* step, floating* params,
                       floating* grads, floating* state_a, floating* state_b,
                       Py_ssize_t n_params, double alpha, double sw_sum,
                       const Team* team) noexcept nogil

cdef double batch_step(const Layout* lay, Py_ssize_t n_params, const Optimizer* opt,
                       const Step* step, floating* params, floating* grads,
                       floating* state_a, floating* state_b, const Batch* batch,
                       const Workspace* ws, double* sumsq_io, const Team* team,
                       Py_ssize_t* n_bad) noexcept nogil

cdef double weight_sum(const floating* sw, Py_ssize_t n) noexcept nogil

cdef bint all_finite(const floating* x, Py_ssize_t n) noexcept nogil
