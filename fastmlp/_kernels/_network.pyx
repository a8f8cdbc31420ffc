"""Forward pass, backward pass and the whole mini-batch loop of an epoch.

Design
------
Layout. All weights and biases live in one flat buffer: W_0 .. W_{L-1}, then
b_0 .. b_{L-1} (W_l is units[l] x units[l+1], row-major), the order
scikit-learn packs them for L-BFGS. Gradients and optimizer state use the same
layout, so an optimizer step is one element-wise loop. For a batch of nb rows
the activations of layer j (1..L) start at acts + nb * cum[j-1] and its deltas
(dLoss/dZ_j) at deltas + nb * cum[j-1], with cum[j] = units[1] + .. + units[j].

Threads and determinism. Work is cut into parts fixed by the shapes alone,
never by n_threads: each GEMM into at most MAX_PARTS parts along the dimension
whose other operand is cheaper to repack (and only when every part has
MIN_PART_MACS of work); losses and sums into fixed ROW_BLOCK/SUM_BLOCK blocks
whose partial sums are combined in block order. One parallel region runs a
whole epoch (or L-BFGS pass, or predict): its threads form a team that walks
the same batches, each taking the parts p with p % team size == its number,
and meeting at a barrier where a phase reads what another thread wrote. Each
part runs a single-threaded GEMM (the caller holds BLAS at one thread) plus
the element-wise work of its part while it is in cache. The same part always
produces the same bits, so results are bit-identical for any n_threads. A
barrier costs far less than starting a parallel region, so even the small
GEMMs of small networks are shared; networks too small for any part run on
the calling thread alone.

    forward   A_{l+1} = act(A_l @ W_l + b_l)                 bias+act per part
    delta     D_L = w (A_L - Y), loss rows r_i               ROW_BLOCK blocks
    backprop  D_l = (D_{l+1} @ W_l^T) * f'(A_l)              before W_l changes
    weights   gW_l = A_l^T D_{l+1}, then per part, in cache:
              g = (gW_l + alpha W_l) / sum(w), the sgd/adam step, and the
              part's new sum W^2 (the next batch's L2 term, summed in order)
    biases    gb_l = sum_rows D_{l+1}, then the same step

Sparse input. A CSR X is never densified: the first layer's product is
computed from the nonzeros (Z[r] = sum_p x_p W_0[j_p]) and its weight gradient
by scattering them (gW_0[j_p] += x_p D_1[r], in row order), in parallel over
fixed blocks of W_0's columns. Batch rows are addressed through the row order,
so sparse rows are never gathered either.

Full-data loss and gradient (L-BFGS) run the same passes over fixed chunks of
rows, accumulating raw gradient sums, then finish them once:
g = (raw + alpha W) / sum(w).

Nothing here allocates: the caller sizes the workspaces with
``workspace_sizes`` / ``predict_workspace_size``. Ctrl-C: run_epoch looks at
pending signals between mini-batches every CHECK_SECONDS (taking the GIL only
then) and, if a handler raised, stops and re-raises it after the loop.
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.string cimport memcpy, memset

from fastmlp._kernels._blas cimport gemm, NoTrans, Transpose
from fastmlp._kernels._math cimport fastmlp_now, fastmlp_prefetch
from fastmlp._kernels._openmp cimport (
    fastmlp_omp_atomic_add, fastmlp_omp_barrier, fastmlp_omp_num_threads,
    fastmlp_omp_thread_num,
)
from fastmlp._kernels._ops cimport (
    IDENTITY, LOGISTIC, TANH, RELU, SOFTMAX, EXP,
    SQUARED_ERROR, LOG_LOSS, BINARY_LOG_LOSS, POISSON,
    activation_derivative, bias_activation, loss_scale, output_delta_loss,
)
from fastmlp._kernels._optim cimport (
    ADAM, NO_STEP, SGD, Step, adam_rate, finish_and_step, step_block,
)

cdef extern from "Python.h":
    # Declared without an exception spec: a raised handler's exception stays
    # set and is re-raised by _reraise after the nogil loop.
    int PyErr_CheckSignals()

cdef enum:
    MAX_PARTS = 2            # GEMM parts (tuned on 2 cores; see _gemm_parts)
    MIN_PART_MACS = 524288   # multiply-adds each GEMM part must have
    SMALL_PART_MACS = 65536  # ... in forward and delta GEMMs
    MIN_PART_EXTENT = 64     # rows or columns each GEMM part must have
    PART_ALIGN = 16          # part boundaries fall on multiples of this
    ROW_BLOCK = 64           # rows per task of the loss and the sparse layer
    SUM_BLOCK = 4096         # elements per partial sum
    PREDICT_CHUNK = 1024     # rows per forward pass in predict and L-BFGS
    COL_BLOCK = 64           # columns of W_0 per task in the sparse gradient
    CLEAR_MIN_MACS = 2097152 # weight gradients the step clears (see backward)

cdef double CHECK_SECONDS = 0.005

SOLVERS = {"sgd": SGD, "adam": ADAM}
_ACTIVATIONS = {"identity": IDENTITY, "logistic": LOGISTIC, "tanh": TANH,
                "relu": RELU, "softmax": SOFTMAX, "exp": EXP}
_LOSSES = {"squared_error": SQUARED_ERROR, "log_loss": LOG_LOSS,
           "binary_log_loss": BINARY_LOG_LOSS, "poisson": POISSON}


cdef struct CSR:
    # Rows of a CSR matrix whose values have the network's floating type.
    const void* data
    const Py_ssize_t* indices
    const Py_ssize_t* indptr
    const Py_ssize_t* rows      # batch row r is CSR row rows[r]


cdef struct Layout:
    Py_ssize_t n_layers        # L, the number of weight layers
    const Py_ssize_t* units    # L + 1 layer widths
    const Py_ssize_t* w_off    # L offsets of W_l in the flat buffer
    const Py_ssize_t* b_off    # L offsets of b_l
    const Py_ssize_t* cum      # L + 1 partial sums of units[1..]
    Py_ssize_t n_coefs         # number of weights (the L2-penalised part)
    int hidden_act
    int out_act
    int loss


cdef class NetSpec:
    """Shape and kind of a network, as integers for nogil code.

    Parameters
    ----------
    units : sequence of int, length L + 1
        Layer widths, input first.
    hidden_activation, out_activation : str
        Activation names ('identity', 'logistic', 'tanh', 'relu', 'softmax', 'exp').
    loss : str
        'squared_error', 'log_loss', 'binary_log_loss' or 'poisson'.
    """
    cdef Py_ssize_t[::1] _buf
    cdef Layout lay
    cdef readonly Py_ssize_t n_params, n_outputs

    def __cinit__(self, units, str hidden_activation, str out_activation, str loss):
        cdef Py_ssize_t L = len(units) - 1, l
        buf = np.zeros(4 * L + 2, dtype=np.intp)
        self._buf = buf
        cdef Py_ssize_t* p = &self._buf[0]
        cdef Py_ssize_t* u = p
        cdef Py_ssize_t* w_off = p + L + 1
        cdef Py_ssize_t* b_off = p + 2 * L + 1
        cdef Py_ssize_t* cum = p + 3 * L + 1
        for l in range(L + 1):
            u[l] = units[l]
        cdef Py_ssize_t off = 0
        for l in range(L):
            w_off[l] = off
            off += u[l] * u[l + 1]
        self.lay.n_coefs = off
        for l in range(L):
            b_off[l] = off
            off += u[l + 1]
        self.n_params = off
        self.n_outputs = u[L]
        cum[0] = 0
        for l in range(1, L + 1):
            cum[l] = cum[l - 1] + u[l]
        self.lay.n_layers = L
        self.lay.units = u
        self.lay.w_off = w_off
        self.lay.b_off = b_off
        self.lay.cum = cum
        self.lay.hidden_act = _ACTIVATIONS[hidden_activation]
        self.lay.out_act = _ACTIVATIONS[out_activation]
        self.lay.loss = _LOSSES[loss]

    def workspace_sizes(self, Py_ssize_t batch):
        """(floating elements, float64 elements) that training needs per batch size."""
        cdef Layout* lay = &self.lay
        cdef Py_ssize_t L = lay.n_layers
        n_float = (2 * batch * lay.cum[L] + batch * (lay.units[0] + lay.units[L])
                   + batch)
        # row-block sums, SUM_BLOCK sums, then L * MAX_PARTS per-part L2 sums
        n_double = (_n_blocks(batch, ROW_BLOCK) + _n_blocks(lay.n_coefs, SUM_BLOCK)
                    + L * MAX_PARTS)
        return n_float, n_double

    def predict_workspace_size(self, Py_ssize_t n_rows, int n_threads=1):
        """Floating elements that predict needs for n_rows on n_threads."""
        cdef Layout* lay = &self.lay
        cdef Py_ssize_t chunks = (min(n_threads, _n_blocks(n_rows, PREDICT_CHUNK))
                                  if n_rows > PREDICT_CHUNK else 1)
        return max(chunks * min(n_rows, PREDICT_CHUNK) * lay.cum[lay.n_layers - 1], 1)


cdef inline Py_ssize_t _n_blocks(Py_ssize_t n, Py_ssize_t block) noexcept nogil:
    return (n + block - 1) // block


cdef struct Team:
    # The threads that run one kernel together inside a parallel region.
    int tid     # this thread, 0 .. nth - 1
    int nth     # threads in the team; 1: this thread alone (no barriers)


cdef inline Team _team_of_one() noexcept nogil:
    cdef Team team
    team.tid = 0
    team.nth = 1
    return team


cdef inline Team _this_team() noexcept nogil:
    """The calling thread's place in the parallel region it runs in."""
    cdef Team team
    team.tid = fastmlp_omp_thread_num()
    team.nth = fastmlp_omp_num_threads()
    return team


cdef inline bint _mine(const Team* team, Py_ssize_t task) noexcept nogil:
    """Task number ``task`` of a phase is run by thread task % nth."""
    return task % team.nth == team.tid


cdef inline void _sync(const Team* team) noexcept nogil:
    """Wait until every thread of the team has finished the phase."""
    if team.nth > 1:
        fastmlp_omp_barrier()


cdef int _team_size(const Layout* lay, Py_ssize_t nb, int n_threads) noexcept nogil:
    """Threads worth a parallel region for passes over nb rows: n_threads if
    the network's GEMMs have enough work to be cut into parts, else 1."""
    cdef double macs = 0.0
    cdef Py_ssize_t l
    if n_threads <= 1:
        return 1
    for l in range(lay.n_layers):
        macs += <double>nb * lay.units[l] * lay.units[l + 1]
    return n_threads if macs >= MAX_PARTS * MIN_PART_MACS else 1


cdef inline Py_ssize_t _gemm_parts(double macs, Py_ssize_t extent,
                                   double min_part_macs=MIN_PART_MACS) noexcept nogil:
    """How many parts a GEMM is cut into along a dimension of size extent.

    A function of the shape only (never of n_threads), so the bits do not
    depend on the thread count. Each part repacks the other operand, so few,
    large parts are cheapest: MAX_PARTS, if every part gets min_part_macs
    of work and MIN_PART_EXTENT of width. Measured on 2 cores: W1's 1.3M-MAC
    forward GEMM gains from two parts (W1 +15% at 2 threads), while halving
    W4's 64 units or weight-gradient parts of less than 512K MACs cost more
    than the second thread gave (W4 -25%). Forward and delta GEMMs take
    SMALL_PART_MACS: W1's 200K-MAC output layer and delta in two parts made
    W1 9% faster at 2 threads (the other thread would only wait), the same
    at 1 thread and for W2.
    """
    if macs >= MAX_PARTS * min_part_macs and extent >= MAX_PARTS * MIN_PART_EXTENT:
        return MAX_PARTS
    return 1


cdef inline Py_ssize_t _part_start(Py_ssize_t extent, Py_ssize_t parts,
                                   Py_ssize_t p) noexcept nogil:
    """Start of part p of ``parts`` over extent; parts are aligned to PART_ALIGN.

    (Values, not out-pointers: prange only privatises assigned variables.)
    """
    cdef Py_ssize_t step = _n_blocks(_n_blocks(extent, parts), PART_ALIGN) * PART_ALIGN
    return min(p * step, extent)


cdef inline Py_ssize_t _part_size(Py_ssize_t extent, Py_ssize_t parts,
                                  Py_ssize_t p) noexcept nogil:
    return _part_start(extent, parts, p + 1) - _part_start(extent, parts, p)


cdef void _sparse_first_layer(const CSR* csr, const floating* W, Py_ssize_t r0,
                              Py_ssize_t rows, Py_ssize_t u_out,
                              floating* Z) noexcept nogil:
    """Z[r] := sum_p data[p] W[indices[p]] for batch rows r0 .. r0+rows."""
    cdef const floating* data = <const floating*>csr.data
    cdef Py_ssize_t r, p, j, row
    cdef floating v
    cdef floating* z
    cdef const floating* w
    for r in range(r0, r0 + rows):
        z = Z + r * u_out
        for j in range(u_out):
            z[j] = 0
        row = csr.rows[r]
        for p in range(csr.indptr[row], csr.indptr[row + 1]):
            v = data[p]
            w = W + csr.indices[p] * u_out
            for j in range(u_out):
                z[j] += v * w[j]


cdef void _sparse_first_grad(const CSR* csr, const floating* D, Py_ssize_t nb,
                             Py_ssize_t u_out, Py_ssize_t c0, Py_ssize_t c1,
                             floating* gW) noexcept nogil:
    """gW[:, c0:c1] += sum_r x_r^T D[r, c0:c1], scattering rows in order."""
    cdef const floating* data = <const floating*>csr.data
    cdef Py_ssize_t r, p, c, row
    cdef floating v
    cdef floating* g
    cdef const floating* d
    for r in range(nb):
        row = csr.rows[r]
        d = D + r * u_out
        for p in range(csr.indptr[row], csr.indptr[row + 1]):
            v = data[p]
            g = gW + csr.indices[p] * u_out
            for c in range(c0, c1):
                g[c] += v * d[c]


cdef bint _all_finite(const floating* x, Py_ssize_t n) noexcept nogil:
    """No NaN or infinity among x[0 .. n]: x - x is 0 for finite x and NaN
    otherwise, summed in 16 lanes (vectorisable without reassociation)."""
    cdef floating acc[16]
    cdef floating total = 0
    cdef Py_ssize_t i, j, n16 = n - n % 16
    for j in range(16):
        acc[j] = 0
    for i in range(0, n16, 16):
        for j in range(16):
            acc[j] += x[i + j] - x[i + j]
    for i in range(n16, n):
        acc[0] += x[i] - x[i]
    for j in range(16):
        total += acc[j]
    return total == 0


cdef bint _all_finite_2d(const floating* x, Py_ssize_t rows, Py_ssize_t cols,
                         Py_ssize_t ld) noexcept nogil:
    """_all_finite over a rows x cols block of row stride ld."""
    cdef Py_ssize_t i
    if cols == ld:
        return _all_finite(x, rows * cols)
    for i in range(rows):
        if not _all_finite(x + i * ld, cols):
            return False
    return True


cdef Py_ssize_t forward(const Layout* lay, const floating* params, const floating* X,
                        const CSR* csr, Py_ssize_t nb, floating* acts, floating* out,
                        const Team* team, bint check_x=False) noexcept nogil:
    """Activations of every layer for nb input rows.

    The input is X (nb x units[0], dense) or, if csr is not NULL, the CSR rows
    csr.rows[0 .. nb]. Hidden layer j goes to acts + nb * cum[j-1]; the output
    layer to out. Each GEMM is cut along the batch rows or, when the batch is
    narrower than the layer (repacking the batch then costs less than
    repacking W), along the layer's units; bias and activation are applied to
    each part right after its GEMM. The output layer is cut by rows only
    (softmax needs whole rows). Every thread of the team calls this and runs
    its own parts; the team waits for each whole layer before the next.

    check_x (dense X): returns how many of this thread's first-layer parts
    had a NaN or infinity in X @ W_0, looked for before the bias and
    activation (which could hide a NaN); else returns 0. Under IEEE
    arithmetic a NaN or infinity in a row of X makes that row of X @ W_0
    non-finite, so 0 proves X finite; a finite X whose product overflows
    also counts, and the caller then checks X itself.
    """
    cdef Py_ssize_t n_bad = 0
    cdef Py_ssize_t L = lay.n_layers, l, p, s0, sz, parts, extent
    cdef Py_ssize_t u_in, u_out
    cdef const floating* A_in
    cdef const floating* W
    cdef const floating* b
    cdef floating* A_out
    cdef int act
    cdef bint by_units
    for l in range(L):
        u_in = lay.units[l]
        u_out = lay.units[l + 1]
        A_in = X if l == 0 else acts + nb * lay.cum[l - 1]
        A_out = out if l == L - 1 else acts + nb * lay.cum[l]
        act = lay.out_act if l == L - 1 else lay.hidden_act
        W = params + lay.w_off[l]
        b = params + lay.b_off[l]
        if l == 0 and csr != NULL:
            for p in range(_n_blocks(nb, ROW_BLOCK)):
                if _mine(team, p):
                    s0 = p * ROW_BLOCK
                    sz = min(<Py_ssize_t>ROW_BLOCK, nb - s0)
                    _sparse_first_layer(csr, W, s0, sz, u_out, A_out)
                    bias_activation(A_out + s0 * u_out, sz, u_out, u_out, b, act)
            _sync(team)
            continue
        by_units = l < L - 1 and nb < u_out
        extent = u_out if by_units else nb
        parts = _gemm_parts(<double>nb * u_in * u_out, extent, SMALL_PART_MACS)
        for p in range(parts):
            if not _mine(team, p):
                continue
            s0 = _part_start(extent, parts, p)
            sz = _part_size(extent, parts, p)
            if by_units:
                gemm(NoTrans, NoTrans, nb, sz, u_in, <floating>1, A_in, u_in,
                     W + s0, u_out, <floating>0, A_out + s0, u_out)
                if check_x and l == 0 and not _all_finite_2d(A_out + s0, nb, sz, u_out):
                    n_bad += 1
                bias_activation(A_out + s0, nb, sz, u_out, b + s0, act)
            else:
                gemm(NoTrans, NoTrans, sz, u_out, u_in, <floating>1,
                     A_in + s0 * u_in, u_in, W, u_out, <floating>0,
                     A_out + s0 * u_out, u_out)
                if check_x and l == 0 and not _all_finite(A_out + s0 * u_out, sz * u_out):
                    n_bad += 1
                bias_activation(A_out + s0 * u_out, sz, u_out, u_out, b, act)
        _sync(team)
    return n_bad


cdef double _output_loss(const Layout* lay, const floating* P, const floating* Y,
                         const floating* sw, Py_ssize_t nb, floating* D,
                         double* partials, const Team* team) noexcept nogil:
    """D := w (P - Y); returns sum_i w_i r_i (see _ops), summed in block order
    (every thread of the team gets the same total)."""
    cdef Py_ssize_t K = lay.units[lay.n_layers], blk, r0, rows
    cdef Py_ssize_t n_blocks = _n_blocks(nb, ROW_BLOCK)
    cdef double total = 0.0
    for blk in range(n_blocks):
        if _mine(team, blk):
            r0 = blk * ROW_BLOCK
            rows = min(<Py_ssize_t>ROW_BLOCK, nb - r0)
            partials[blk] = output_delta_loss(D + r0 * K, P + r0 * K, Y + r0 * K,
                                              NULL if sw == NULL else sw + r0,
                                              rows, K, lay.loss)
    _sync(team)
    for blk in range(n_blocks):
        total += partials[blk]
    return total


cdef double _block_sumsq(const floating* x, Py_ssize_t n) noexcept nogil:
    """sum x^2 with interleaved accumulators (n <= SUM_BLOCK).

    A fixed summation pattern (element i goes to accumulator i % LANES, the
    lanes are added in order) that compilers can vectorise without
    reassociating. float64 input sums in 8 float64 lanes; float32 in 16
    float32 lanes (as float32 BLAS would; each lane adds at most
    SUM_BLOCK / 16 terms), which costs a third of the instructions.
    """
    cdef double acc[8]
    cdef float facc[16]
    cdef double s = 0.0
    cdef Py_ssize_t i, j, n8 = n - n % 8, n16 = n - n % 16
    if floating is float:
        for j in range(16):
            facc[j] = 0
        for i in range(0, n16, 16):
            for j in range(16):
                facc[j] += x[i + j] * x[i + j]
        for i in range(n16, n):
            facc[i - n16] += x[i] * x[i]
        for j in range(16):
            s += facc[j]
    else:
        for j in range(8):
            acc[j] = 0.0
        for i in range(0, n8, 8):
            for j in range(8):
                acc[j] += <double>x[i + j] * x[i + j]
        for i in range(n8, n):
            acc[i - n8] += <double>x[i] * x[i]
        for j in range(8):
            s += acc[j]
    return s


cdef double _sumsq(const floating* x, Py_ssize_t n, double* partials,
                   const Team* team) noexcept nogil:
    """sum x^2, in fixed blocks combined in order (the same total on every
    thread of the team)."""
    cdef Py_ssize_t n_blocks = _n_blocks(n, SUM_BLOCK), blk, i0
    cdef double total = 0.0
    for blk in range(n_blocks):
        if _mine(team, blk):
            i0 = blk * SUM_BLOCK
            partials[blk] = _block_sumsq(x + i0, min(<Py_ssize_t>SUM_BLOCK, n - i0))
    _sync(team)
    for blk in range(n_blocks):
        total += partials[blk]
    return total


cdef void _add_column_sums(floating* gb, const floating* D, Py_ssize_t nb,
                           Py_ssize_t cols, bint accumulate) noexcept nogil:
    """gb (+)= sum over the rows of D."""
    cdef Py_ssize_t i, j
    if not accumulate:
        for j in range(cols):
            gb[j] = 0
    for i in range(nb):
        for j in range(cols):
            gb[j] += D[i * cols + j]


cdef double _finish_rows(const Step* step, floating* params, floating* grads,
                         floating* state_a, floating* state_b, Py_ssize_t off,
                         Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t ld,
                         floating alpha, floating sw_sum, bint want_sumsq,
                         bint clear=False) noexcept nogil:
    """The sgd/adam step of a rows x cols block at offset off, row stride ld
    (with clear, the raw gradients are set to 0 as they are read).

    Returns the sum of squares of the block's new parameters if want_sumsq
    (the next batch's L2 term, squared inside the step's loop, in runs of
    SUM_BLOCK: a contiguous block is one run of rows * cols), else 0.
    """
    cdef double total = 0.0
    if cols == ld:  # contiguous: one run
        cols = rows * cols
        ld = cols
        rows = 1
    step_block(step, params + off, grads + off, state_a + off, state_b + off, rows,
               cols, ld, SUM_BLOCK, alpha, sw_sum, &total if want_sumsq else NULL, clear)
    return total


cdef void backward(const Layout* lay, floating* params, floating* grads,
                   const floating* X, const CSR* csr, Py_ssize_t nb,
                   const floating* acts, floating* deltas, bint accumulate,
                   const Step* step, floating* state_a, floating* state_b,
                   double alpha, double sw_sum, double* l2_parts,
                   const Team* team) noexcept nogil:
    """Gradients from the output delta at deltas + nb*cum[L-1], layer by layer.

    With step.solver == NO_STEP: raw sums A_l^T D_{l+1} and sum_rows D_{l+1}
    go to grads (added to them with accumulate; finish_grads finishes them).
    Otherwise each part of W_l's gradient is finished and stepped (params and
    optimizer state updated) right after its GEMM, while it is in cache; the
    delta D_l = (D_{l+1} W_l^T) f'(A_l) is computed first, from the old W_l,
    and the team waits for all of it before any part of W_l changes.
    GEMM parts follow the shape (see forward): the weight gradient is cut along
    W's rows when D_{l+1} is the smaller operand to repack, else its columns.
    Biases are summed and stepped by the team's last thread.
    Weight gradients of CLEAR_MIN_MACS or more multiply-adds are added into
    (beta = 1), not written, and their step clears them as it reads them:
    BLAS's blocked GEMM otherwise zeroes its output in a pass of its own for
    beta = 0 (4.7% of W3's time here), and 0 + x = x, so the bits are the
    same. Their blocks must therefore be 0 on entry (run_epoch zeroes grads
    once; each step leaves them 0). Smaller ones go to BLAS's small-matrix
    kernels, which write beta = 0 outputs directly (and which a cleared,
    re-read gradient would slow down: W4).
    With a step, l2_parts (L * MAX_PARTS, or NULL) receives the sum of squares
    of the new W_l of each part, at l * MAX_PARTS + p (zeros elsewhere).
    Returns with the team's own parts done: the caller waits for the team.
    """
    cdef Py_ssize_t L = lay.n_layers, l, p, s0, sz, parts, extent
    cdef Py_ssize_t u_in, u_out, blk, r, c1
    cdef const floating* A_in
    cdef floating* W
    cdef floating* D_out
    cdef floating* D_in
    cdef floating* gW
    cdef Py_ssize_t w_off, b_off
    cdef bint by_cols, clear, fused = step.solver != NO_STEP
    cdef floating beta_w
    cdef double sumsq, macs
    cdef floating a = <floating>alpha
    cdef floating s = <floating>sw_sum
    cdef bint want_l2 = fused and l2_parts != NULL
    for l in range(L - 1, -1, -1):
        u_in = lay.units[l]
        u_out = lay.units[l + 1]
        A_in = X if l == 0 else acts + nb * lay.cum[l - 1]
        D_out = deltas + nb * lay.cum[l]
        w_off = lay.w_off[l]
        b_off = lay.b_off[l]
        W = params + w_off
        gW = grads + w_off

        if l > 0:  # D_l from the old W_l, before W_l is stepped
            D_in = deltas + nb * lay.cum[l - 1]
            by_cols = nb < u_in
            extent = u_in if by_cols else nb
            parts = _gemm_parts(<double>nb * u_in * u_out, extent, SMALL_PART_MACS)
            for p in range(parts):
                if not _mine(team, p):
                    continue
                s0 = _part_start(extent, parts, p)
                sz = _part_size(extent, parts, p)
                if by_cols:
                    gemm(NoTrans, Transpose, nb, sz, u_out, <floating>1, D_out, u_out,
                         W + s0 * u_out, u_out, <floating>0, D_in + s0, u_in)
                    activation_derivative(D_in + s0, A_in + s0, nb, sz, u_in,
                                          lay.hidden_act)
                else:
                    gemm(NoTrans, Transpose, sz, u_in, u_out, <floating>1,
                         D_out + s0 * u_out, u_out, W, u_out, <floating>0,
                         D_in + s0 * u_in, u_in)
                    activation_derivative(D_in + s0 * u_in, A_in + s0 * u_in, sz,
                                          u_in, u_in, lay.hidden_act)
            _sync(team)

        if l == 0 and csr != NULL:
            for blk in range(_n_blocks(u_out, COL_BLOCK)):
                if not _mine(team, blk):
                    continue
                s0 = blk * COL_BLOCK
                c1 = min(s0 + COL_BLOCK, u_out)
                if not accumulate:
                    for r in range(u_in):
                        for p in range(s0, c1):
                            gW[r * u_out + p] = 0
                _sparse_first_grad(csr, D_out, nb, u_out, s0, c1, gW)
            if fused:  # one run over all of W_0 (its L2 sum in one order)
                _sync(team)
                if team.tid == 0:
                    sumsq = _finish_rows(step, params, grads, state_a, state_b, w_off,
                                         u_in, u_out, u_out, a, s, want_l2)
                    if want_l2:
                        for p in range(MAX_PARTS):
                            l2_parts[l * MAX_PARTS + p] = sumsq if p == 0 else 0.0
        else:
            macs = <double>nb * u_in * u_out
            by_cols = u_out >= u_in
            extent = u_out if by_cols else u_in
            parts = _gemm_parts(macs, extent)
            clear = fused and macs >= CLEAR_MIN_MACS
            beta_w = 1 if accumulate or clear else 0
            if want_l2 and _mine(team, 0):  # slots of parts this shape lacks
                for p in range(parts, MAX_PARTS):
                    l2_parts[l * MAX_PARTS + p] = 0.0
            for p in range(parts):
                if not _mine(team, p):
                    continue
                s0 = _part_start(extent, parts, p)
                sz = _part_size(extent, parts, p)
                if by_cols:
                    gemm(Transpose, NoTrans, u_in, sz, nb, <floating>1, A_in, u_in,
                         D_out + s0, u_out, beta_w, gW + s0, u_out)
                    if fused:
                        sumsq = _finish_rows(step, params, grads, state_a, state_b,
                                             w_off + s0, u_in, sz, u_out, a, s, want_l2,
                                             clear)
                else:
                    gemm(Transpose, NoTrans, sz, u_out, nb, <floating>1, A_in + s0,
                         u_in, D_out, u_out, beta_w, gW + s0 * u_out, u_out)
                    if fused:
                        sumsq = _finish_rows(step, params, grads, state_a, state_b,
                                             w_off + s0 * u_out, sz, u_out, u_out, a,
                                             s, want_l2, clear)
                if want_l2:
                    l2_parts[l * MAX_PARTS + p] = sumsq

        if team.tid == team.nth - 1:
            _add_column_sums(grads + b_off, D_out, nb, u_out, accumulate)
            if fused:
                _finish_rows(step, params, grads, state_a, state_b, b_off, 1, u_out,
                             u_out, <floating>0, s, False)


cdef void finish_grads(const Layout* lay, floating* params, floating* grads,
                       Py_ssize_t n_params, double alpha, double sw_sum,
                       const Team* team) noexcept nogil:
    """gW := (raw + alpha W) / sum(w) and gb := raw / sum(w), element-wise;
    each thread of the team finishes its own blocks."""
    cdef Py_ssize_t n_blocks = _n_blocks(n_params, SUM_BLOCK), blk, i0, i1
    cdef Py_ssize_t n_coefs = lay.n_coefs
    cdef Step no_step
    no_step.solver = NO_STEP
    for blk in range(n_blocks):
        if not _mine(team, blk):
            continue
        i0 = blk * SUM_BLOCK
        i1 = min(i0 + SUM_BLOCK, n_params)
        if i0 < n_coefs:
            finish_and_step(&no_step, params + i0, grads + i0, NULL, NULL,
                            min(i1, n_coefs) - i0, <floating>alpha, <floating>sw_sum)
        if i1 > n_coefs:
            i0 = max(i0, n_coefs)
            finish_and_step(&no_step, params + i0, grads + i0, NULL, NULL, i1 - i0,
                            <floating>0, <floating>sw_sum)


cdef double _weight_sum(const floating* sw, Py_ssize_t n) noexcept nogil:
    cdef double s = 0.0
    cdef Py_ssize_t i
    if sw == NULL:
        return <double>n
    for i in range(n):
        s += sw[i]
    return s


cdef double batch_step(const Layout* lay, Py_ssize_t n_params, floating* params,
                       floating* grads, floating* state_a, floating* state_b,
                       const Step* step, const floating* X, const CSR* csr,
                       const floating* Y, const floating* sw, Py_ssize_t nb,
                       floating* acts, floating* deltas, double* partials,
                       double* sum_partials, double* l2_parts, double* sumsq,
                       double alpha, const Team* team,
                       Py_ssize_t* n_bad=NULL) noexcept nogil:
    """Loss of one batch (with the L2 term), its gradient, and ``step``.

    loss = scale * sum_i w_i r_i / sum(w) + 0.5 alpha sum ||W_l||^2 / sum(w)

    Every thread of the team calls this with the same arguments (sumsq is
    each thread's own) and gets the same loss; it returns once the whole
    team is done. partials and sum_partials hold the row-block and SUM_BLOCK
    partial sums. sumsq (IN/OUT): sum ||W_l||^2 of the current weights, or
    < 0 if unknown (then computed here); on return, that of the stepped
    weights, summed from the parts the step produced (l2_parts), so the next
    batch need not read all weights again. With step.solver == NO_STEP the
    finished gradient is left in grads, params are not changed and sumsq is
    set to -1. With n_bad (dense X), adds to it the count forward's check_x
    gives for this thread's parts (NaN/inf in X shows there; see forward).
    """
    cdef Py_ssize_t L = lay.n_layers, i
    cdef double sw_sum = _weight_sum(sw, nb), data_loss, penalty
    cdef floating* P = acts + nb * lay.cum[L - 1]
    if n_bad != NULL:
        n_bad[0] += forward(lay, params, X, csr, nb, acts, P, team, True)
    else:
        forward(lay, params, X, csr, nb, acts, P, team)
    data_loss = _output_loss(lay, P, Y, sw, nb, deltas + nb * lay.cum[L - 1],
                             partials, team)
    data_loss = loss_scale(lay.loss, lay.units[L]) * data_loss / sw_sum
    if sumsq[0] < 0:
        sumsq[0] = _sumsq(params, lay.n_coefs, sum_partials, team)
    penalty = (0.5 * alpha) * sumsq[0] / sw_sum
    backward(lay, params, grads, X, csr, nb, acts, deltas, False, step, state_a,
             state_b, alpha, sw_sum, l2_parts, team)
    _sync(team)
    if step.solver == NO_STEP:
        finish_grads(lay, params, grads, n_params, alpha, sw_sum, team)
        _sync(team)
        sumsq[0] = -1.0
    else:
        sumsq[0] = 0.0
        for i in range(L * MAX_PARTS):  # in a fixed order
            sumsq[0] += l2_parts[i]
    return data_loss + penalty


cdef int _reraise() except -1:
    # The exception a signal handler raised is still set: propagate it.
    return -1


cdef void _set_csr(CSR* csr, const floating[::1] data, const Py_ssize_t[::1] indices,
                   const Py_ssize_t[::1] indptr):
    """csr := the CSR arrays (data and indices may be empty: no nonzeros)."""
    csr.data = &data[0] if data.shape[0] > 0 else NULL
    csr.indices = &indices[0] if indices.shape[0] > 0 else NULL
    csr.indptr = &indptr[0]
    csr.rows = NULL


cdef inline void _clear_csr(CSR* csr) noexcept nogil:
    csr.data = NULL
    csr.indices = NULL
    csr.indptr = NULL
    csr.rows = NULL


def run_epoch(NetSpec spec, floating[::1] params, floating[::1] grads,
              floating[::1] state_a, floating[::1] state_b,
              const floating[:, ::1] X, const floating[::1] X_data,
              const Py_ssize_t[::1] X_indices, const Py_ssize_t[::1] X_indptr,
              const floating[:, ::1] Y, const floating[::1] sample_weight,
              const Py_ssize_t[::1] order, Py_ssize_t batch_size, int solver,
              double learning_rate, double momentum, bint nesterov,
              double beta_1, double beta_2, double epsilon, double alpha,
              floating[::1] work, double[::1] partials, double[::1] result,
              int n_threads, bint check_x=False):
    """Run every mini-batch of one epoch: gather, forward, backward, update.

    Parameters
    ----------
    spec : NetSpec
    params : (n_params,) flat buffer (IN/OUT)
    grads : (n_params,) workspace for the raw gradients (set to 0 first; its
        content on return is no gradient: the steps clear large ones)
    state_a, state_b : (n_params,) optimizer state (IN/OUT): the velocity
        (state_b unused) for sgd; the first and second moments for adam.
    X : (n, units[0]) dense input, or None with X_data/X_indices/X_indptr
        the CSR arrays of a sparse input (then ``order`` is required)
    Y : (n, units[L]); sample_weight : (n,) or None
    order : (n,) row order of this epoch, or None for rows in order
    batch_size : rows per batch; the last batch is short
    solver : SOLVERS["sgd"] or SOLVERS["adam"]; the step is fused into the
        backward pass, block by block (see backward)
    work, partials : workspaces sized by spec.workspace_sizes(batch_size)
    result : (2,) float64 (IN/OUT): result[0] += sum_b loss_b * len_b,
        result[1] is Adam's step count t, advanced once per batch.
    check_x : look for NaN/inf in a dense X while the epoch runs, through each
        batch's first-layer product (see forward), so that X needs no pass of
        its own. Returns the number of batch parts where the product was not
        finite: 0 proves X finite, else the caller checks X itself (a finite
        X can overflow there too). Returns 0 without check_x.

    One parallel region runs the whole epoch: every thread walks the same
    batches, gathers its share of each batch's rows and runs its parts of
    each pass, and the team meets at a barrier between dependent phases.

    Raises whatever a signal handler raised (KeyboardInterrupt on Ctrl-C),
    between mini-batches; params, state and result hold the batches done.
    """
    cdef Layout* lay = &spec.lay
    cdef Py_ssize_t L = lay.n_layers, n = Y.shape[0], F = lay.units[0]
    cdef Py_ssize_t K = lay.units[L], B = batch_size
    cdef Py_ssize_t n_params = spec.n_params, start, nb, i, src, r0, r1
    cdef floating* acts = &work[0]
    cdef floating* deltas = acts + B * lay.cum[L]
    cdef floating* xbuf = deltas + B * lay.cum[L]
    cdef floating* ybuf = xbuf + B * F
    cdef floating* swbuf = ybuf + B * K
    cdef const floating* Xp = NULL if X is None else &X[0, 0]
    cdef const floating* Yp = &Y[0, 0]
    cdef const floating* swp = NULL if sample_weight is None else &sample_weight[0]
    cdef const Py_ssize_t* op = NULL if order is None else &order[0]
    cdef CSR csr, my_csr
    cdef const CSR* csrp = NULL
    cdef const floating* xb = NULL
    cdef const floating* yb
    cdef const floating* sb
    cdef double loss, last_check, acc, acc0 = result[0]
    cdef Py_ssize_t t, t0 = <Py_ssize_t>result[1]
    # Written by thread 0 only: [interrupted, loss sum, t]
    cdef double shared[3]
    # Row-block sums, then SUM_BLOCK sums, then the per-part L2 sums.
    cdef double* row_partials = &partials[0]
    cdef double* sum_partials = row_partials + _n_blocks(B, ROW_BLOCK)
    cdef double* l2_parts = sum_partials + _n_blocks(lay.n_coefs, SUM_BLOCK)
    cdef double sumsq
    cdef Py_ssize_t n_bad
    cdef long long bad_total = 0
    cdef bint check = check_x and X is not None
    cdef int n_team = _team_size(lay, B, n_threads)
    cdef Team team
    cdef Step step, my_step
    step.solver = solver
    step.momentum = momentum
    step.nesterov = nesterov
    step.beta_1 = beta_1
    step.beta_2 = beta_2
    step.epsilon = epsilon
    shared[0] = 0.0
    memset(&grads[0], 0, lay.n_coefs * sizeof(floating))  # see backward (clear)
    _clear_csr(&csr)
    if X is None:
        _set_csr(&csr, X_data, X_indices, X_indptr)
        csrp = &csr
    with nogil, parallel(num_threads=n_team, use_threads_if=n_team > 1):
        team = _this_team()
        my_step = step
        my_csr = csr
        sumsq = -1.0  # ||W||^2 unknown until the first batch computes it
        n_bad = 0
        acc = acc0
        t = t0
        last_check = fastmlp_now()
        start = 0
        while start < n:
            nb = min(B, n - start)
            if (team.tid == 0 and start > 0
                    and fastmlp_now() - last_check >= CHECK_SECONDS):
                with gil:
                    if PyErr_CheckSignals() != 0:
                        shared[0] = 1.0
                last_check = fastmlp_now()
            if op == NULL:
                if Xp != NULL:
                    xb = Xp + start * F
                yb = Yp + start * K
                sb = NULL if swp == NULL else swp + start
            else:  # each thread gathers its share of the rows
                r0 = nb * team.tid // team.nth
                r1 = nb * (team.tid + 1) // team.nth
                for i in range(r0, r1):
                    src = op[start + i]
                    if Xp != NULL:
                        memcpy(xbuf + i * F, Xp + src * F, F * sizeof(floating))
                    memcpy(ybuf + i * K, Yp + src * K, K * sizeof(floating))
                    if swp != NULL:
                        swbuf[i] = swp[src]
                if Xp != NULL:  # and its share of the next batch's, meanwhile
                    r0 = start + nb + min(B, n - start - nb) * team.tid // team.nth
                    r1 = start + nb + min(B, n - start - nb) * (team.tid + 1) // team.nth
                    for i in range(r0, r1):
                        fastmlp_prefetch(Xp + op[i] * F, F * sizeof(floating))
                xb = NULL if Xp == NULL else xbuf
                yb = ybuf
                sb = NULL if swp == NULL else swbuf
                my_csr.rows = op + start
            _sync(&team)  # the batch is gathered; the signal check is seen
            if shared[0] != 0.0:
                break
            if solver == SGD:
                my_step.lr = learning_rate
            else:
                t = t + 1
                my_step.lr = adam_rate(learning_rate, beta_1, beta_2, t)
            loss = batch_step(lay, n_params, &params[0], &grads[0], &state_a[0],
                              &state_b[0], &my_step, xb,
                              NULL if csrp == NULL else &my_csr, yb, sb, nb, acts,
                              deltas, row_partials, sum_partials, l2_parts, &sumsq,
                              alpha, &team, &n_bad if check else NULL)
            acc = acc + loss * nb
            start = start + nb
        if n_bad > 0:
            fastmlp_omp_atomic_add(&bad_total, n_bad)
        if team.tid == 0:
            shared[1] = acc
            shared[2] = <double>t
    result[0] = shared[1]
    result[1] = shared[2]
    if shared[0] != 0.0:
        _reraise()
    return bad_total


def loss_grad(NetSpec spec, const floating[::1] params, floating[::1] grads,
              const floating[:, ::1] X, const floating[:, ::1] Y,
              const floating[::1] sample_weight, double alpha,
              floating[::1] work, double[::1] partials, int n_threads=1,
              const floating[::1] X_data=None, const Py_ssize_t[::1] X_indices=None,
              const Py_ssize_t[::1] X_indptr=None, const Py_ssize_t[::1] rows=None):
    """Loss of all rows of X (or of the CSR X_data/X_indices/X_indptr, with
    ``rows`` = arange(n) or any order) and its gradient into grads (OUT).

    Rows are processed in chunks of PREDICT_CHUNK; raw gradient sums are
    accumulated over chunks and finished once. Workspaces sized by
    spec.workspace_sizes(min(n, loss_grad_chunk())).
    """
    cdef Layout* lay = &spec.lay
    cdef Py_ssize_t n = Y.shape[0], L = lay.n_layers, F = lay.units[0]
    cdef Py_ssize_t K = lay.units[L], c0, nb, chunk = min(n, <Py_ssize_t>PREDICT_CHUNK)
    cdef const floating* Xp = NULL if X is None else &X[0, 0]
    cdef const floating* Yp = &Y[0, 0]
    cdef const floating* swp = NULL if sample_weight is None else &sample_weight[0]
    cdef const Py_ssize_t* rows_p = NULL if rows is None else &rows[0]
    cdef floating* acts = &work[0]
    cdef floating* deltas = acts + chunk * lay.cum[L]
    cdef floating* P
    cdef floating* pp = <floating*>&params[0]
    cdef double* row_partials = &partials[0]
    cdef double* sum_partials = row_partials + _n_blocks(chunk, ROW_BLOCK)
    cdef double data_loss, penalty, sw_sum = _weight_sum(swp, n)
    cdef double total[1]
    cdef CSR csr, my_csr
    cdef const CSR* csrp = NULL
    cdef int n_team = _team_size(lay, chunk, n_threads)
    cdef Team team
    cdef Step step
    step.solver = NO_STEP
    _clear_csr(&csr)
    if X is None:
        _set_csr(&csr, X_data, X_indices, X_indptr)
        csrp = &csr
    with nogil, parallel(num_threads=n_team, use_threads_if=n_team > 1):
        team = _this_team()
        my_csr = csr
        data_loss = 0.0
        c0 = 0
        while c0 < n:
            nb = min(chunk, n - c0)
            P = acts + nb * lay.cum[L - 1]
            if csrp != NULL:
                my_csr.rows = rows_p + c0
            forward(lay, pp, NULL if Xp == NULL else Xp + c0 * F,
                    NULL if csrp == NULL else &my_csr, nb, acts, P, &team)
            data_loss = data_loss + _output_loss(
                lay, P, Yp + c0 * K, NULL if swp == NULL else swp + c0, nb,
                deltas + nb * lay.cum[L - 1], row_partials, &team)
            backward(lay, pp, &grads[0], NULL if Xp == NULL else Xp + c0 * F,
                     NULL if csrp == NULL else &my_csr, nb, acts, deltas, c0 > 0,
                     &step, NULL, NULL, alpha, sw_sum, NULL, &team)
            _sync(&team)
            c0 = c0 + nb
        finish_grads(lay, pp, &grads[0], spec.n_params, alpha, sw_sum, &team)
        penalty = (0.5 * alpha) * _sumsq(pp, lay.n_coefs, sum_partials, &team) / sw_sum
        if team.tid == 0:
            total[0] = loss_scale(lay.loss, K) * data_loss / sw_sum + penalty
    return total[0]


def loss_grad_chunk():
    """Rows per chunk of loss_grad (size its workspaces for min(n, this))."""
    return PREDICT_CHUNK


def predict(NetSpec spec, const floating[::1] params, const floating[:, ::1] X,
            floating[:, ::1] out, floating[::1] work, int n_threads=1,
            const floating[::1] X_data=None, const Py_ssize_t[::1] X_indices=None,
            const Py_ssize_t[::1] X_indptr=None, const Py_ssize_t[::1] rows=None,
            bint check_finite=False):
    """out := output-layer activations for the rows of X (or of the CSR
    arrays, with rows = arange(n)), in chunks of PREDICT_CHUNK rows.

    Dense X of several chunks: each thread runs whole forward passes over its
    own chunks (no barrier between layers). Otherwise (and for sparse X) the
    chunks run in turn, each forward pass cut into parts that a team of
    threads shares. Chunks and parts depend on the shapes only, so the bits
    do not depend on n_threads.

    check_finite (dense X): also look for NaN/infinity in X; returns True if
    X is finite. False means X may hold one (out is then meaningless):
    chunks are checked through their first layer's product (see forward),
    which a finite X can also overflow, so the caller checks X on False.

    work is sized by spec.predict_workspace_size(n, n_threads).
    """
    cdef Py_ssize_t n = out.shape[0], F = spec.lay.units[0], K = spec.n_outputs
    cdef Py_ssize_t c0, nb, c, n_chunks, n_bad = 0
    cdef Py_ssize_t per_thread = PREDICT_CHUNK * spec.lay.cum[spec.lay.n_layers - 1]
    cdef const floating* Xp = NULL if X is None else &X[0, 0]
    cdef const Py_ssize_t* rows_p = NULL if rows is None else &rows[0]
    cdef floating* outp = &out[0, 0]
    cdef CSR csr, my_csr
    cdef const CSR* csrp = NULL
    cdef Team team
    cdef int n_team = _team_size(&spec.lay, min(n, <Py_ssize_t>PREDICT_CHUNK), n_threads)
    check_finite = check_finite and X is not None
    _clear_csr(&csr)
    if X is None:
        _set_csr(&csr, X_data, X_indices, X_indptr)
        csrp = &csr
    if csrp == NULL and n > PREDICT_CHUNK:
        n_chunks = _n_blocks(n, PREDICT_CHUNK)
        with nogil:
            for c in prange(n_chunks, schedule="dynamic",
                            num_threads=min(<Py_ssize_t>n_threads, n_chunks),
                            use_threads_if=n_threads > 1):
                team = _team_of_one()
                c0 = c * PREDICT_CHUNK
                nb = min(<Py_ssize_t>PREDICT_CHUNK, n - c0)
                n_bad += forward(&spec.lay, &params[0], Xp + c0 * F, NULL, nb,
                                 &work[0] + threadid() * per_thread, outp + c0 * K,
                                 &team, check_finite)
        return n_bad == 0
    if check_finite and not _all_finite(Xp, n * F):
        return False
    with nogil, parallel(num_threads=n_team, use_threads_if=n_team > 1):
        team = _this_team()
        my_csr = csr
        c0 = 0
        while c0 < n:
            nb = min(<Py_ssize_t>PREDICT_CHUNK, n - c0)
            if csrp != NULL:
                my_csr.rows = rows_p + c0
            forward(&spec.lay, &params[0], NULL if Xp == NULL else Xp + c0 * F,
                    NULL if csrp == NULL else &my_csr, nb, &work[0], outp + c0 * K,
                    &team)
            c0 = c0 + nb
    return True
