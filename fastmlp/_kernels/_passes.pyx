"""The network's passes over one batch: forward, loss, backward and the step.

Design
------
Work is cut into parts fixed by the shapes alone, never by n_threads (see
_parts.pxd): each GEMM into at most MAX_PARTS parts along the dimension
whose other operand is cheaper to repack (when every part has enough work:
SMALL_PART_MACS for forward and delta GEMMs, MIN_PART_MACS for weight
gradients); losses and sums into fixed ROW_BLOCK/SUM_BLOCK blocks whose
partial sums are combined in block order. Every thread of a team calls each
pass with the same arguments, runs the parts p with p % team size == its
number, and the team meets at a barrier where a phase reads what another
thread wrote. Each part runs a single-threaded GEMM (the caller holds BLAS at
one thread) plus the element-wise work of its part while it is in cache. The
same part always produces the same bits, so results are bit-identical for
any n_threads.

    forward   Z_{l+1} = A_l @ W_l + b_l, A_{l+1} = act(Z_{l+1})   bias+act per part
    delta     D_L = dLoss/dZ_L, loss rows r_i                     ROW_BLOCK blocks
    backprop  D_l = (D_{l+1} @ W_l^T) * act'(Z_l)                  before W_l changes
    weights   gW_l = A_l^T D_{l+1}, then per part, in cache:
              g = (gW_l + alpha W_l) / sum(w), the sgd/adam step, and the
              part's new sum W^2 (the next batch's L2 term, summed in order)
    biases    gb_l = sum_rows D_{l+1}, then the same step

The hidden pre-activations Z are stored only when the network keeps them
(Layout.keep_z: the activation's derivative needs them); otherwise each
activation is applied in place and its derivative computed from A. An
optimizer whose options need the whole gradient first
(Optimizer.whole_gradient) gets the raw gradient of the whole batch, then
the same step over the whole buffer in SUM_BLOCK blocks: the same parameters,
only the L2 sum is then taken in another order (next batch, by sumsq).

Sparse input. A CSR X is never densified: the first layer's product is
computed from the nonzeros (Z[r] = sum_p x_p W_0[j_p]) and its weight gradient
by scattering them (gW_0[j_p] += x_p D_1[r], in row order), in parallel over
fixed blocks of W_0's columns. Batch rows are addressed through the row order,
so sparse rows are never gathered either.

Nothing here allocates; the drivers (_network.pyx) pass workspaces sized by
NetSpec.workspace_sizes.
"""

from cython cimport floating

from fastmlp._kernels._blas cimport gemm, NoTrans, Transpose
from fastmlp._kernels._layout cimport CSR, Layout
from fastmlp._kernels._ops cimport (
    activation_derivative, bias_activation, bias_activation_to, output_delta_loss,
)
from fastmlp._kernels._optim cimport Optimizer, Step, finish_block, step_block
from fastmlp._kernels._parts cimport (
    COL_BLOCK, MAX_PARTS, MIN_PART_MACS, ROW_BLOCK, SMALL_PART_MACS, SUM_BLOCK, Team,
    _gemm_parts, _mine, _n_blocks, _part_size, _part_start, _sync,
)

cdef enum:
    CLEAR_MIN_MACS = 2097152 # weight gradients the step clears (see backward)


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


cdef bint all_finite(const floating* x, Py_ssize_t n) noexcept nogil:
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
    """all_finite over a rows x cols block of row stride ld."""
    cdef Py_ssize_t i
    if cols == ld:
        return all_finite(x, rows * cols)
    for i in range(rows):
        if not all_finite(x + i * ld, cols):
            return False
    return True


cdef Py_ssize_t forward(const Layout* lay, const floating* params, const floating* X,
                        const CSR* csr, Py_ssize_t nb, floating* acts, floating* zs,
                        floating* out, const Team* team, bint check_x=False) noexcept nogil:
    """Activations of every layer for nb input rows.

    The input is X (nb x units[0], dense) or, if csr is not NULL, the CSR rows
    csr.rows[0 .. nb]. Hidden layer j goes to acts + nb * cum[j-1] (and, if
    zs is not NULL, its pre-activations to zs + nb * cum[j-1]); the output
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
    cdef floating* Z_out    # the GEMM's output: A_out itself, or the kept Z
    cdef int act
    cdef bint by_units, keep
    for l in range(L):
        u_in = lay.units[l]
        u_out = lay.units[l + 1]
        A_in = X if l == 0 else acts + nb * lay.cum[l - 1]
        A_out = out if l == L - 1 else acts + nb * lay.cum[l]
        keep = zs != NULL and l < L - 1
        Z_out = zs + nb * lay.cum[l] if keep else A_out
        act = lay.out_act if l == L - 1 else lay.hidden_act
        W = params + lay.w_off[l]
        b = params + lay.b_off[l]
        if l == 0 and csr != NULL:
            for p in range(_n_blocks(nb, ROW_BLOCK)):
                if _mine(team, p):
                    s0 = p * ROW_BLOCK
                    sz = min(<Py_ssize_t>ROW_BLOCK, nb - s0)
                    _sparse_first_layer(csr, W, s0, sz, u_out, Z_out)
                    if keep:
                        bias_activation_to(Z_out + s0 * u_out, sz, u_out, u_out, b, act,
                                           A_out + s0 * u_out)
                    else:
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
                     W + s0, u_out, <floating>0, Z_out + s0, u_out)
                if check_x and l == 0 and not _all_finite_2d(Z_out + s0, nb, sz, u_out):
                    n_bad += 1
                if keep:
                    bias_activation_to(Z_out + s0, nb, sz, u_out, b + s0, act, A_out + s0)
                else:
                    bias_activation(A_out + s0, nb, sz, u_out, b + s0, act)
            else:
                gemm(NoTrans, NoTrans, sz, u_out, u_in, <floating>1,
                     A_in + s0 * u_in, u_in, W, u_out, <floating>0,
                     Z_out + s0 * u_out, u_out)
                if check_x and l == 0 and not all_finite(Z_out + s0 * u_out, sz * u_out):
                    n_bad += 1
                if keep:
                    bias_activation_to(Z_out + s0 * u_out, sz, u_out, u_out, b, act,
                                       A_out + s0 * u_out)
                else:
                    bias_activation(A_out + s0 * u_out, sz, u_out, u_out, b, act)
        _sync(team)
    return n_bad


cdef double output_loss(const Layout* lay, const floating* P, const floating* Y,
                         const floating* sw, Py_ssize_t nb, floating* D,
                         double* partials, const Team* team) noexcept nogil:
    """D := the output delta; returns sum_i w_i r_i (see _ops), summed in block
    order (every thread of the team gets the same total)."""
    cdef Py_ssize_t K = lay.units[lay.n_layers], blk, r0, rows
    cdef Py_ssize_t n_blocks = _n_blocks(nb, ROW_BLOCK)
    cdef double total = 0.0
    for blk in range(n_blocks):
        if _mine(team, blk):
            r0 = blk * ROW_BLOCK
            rows = min(<Py_ssize_t>ROW_BLOCK, nb - r0)
            partials[blk] = output_delta_loss(D + r0 * K, P + r0 * K, Y + r0 * K,
                                              NULL if sw == NULL else sw + r0,
                                              rows, K, &lay.loss)
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


cdef double sumsq(const floating* x, Py_ssize_t n, double* partials,
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
                   const floating* acts, const floating* zs, floating* deltas,
                   bint accumulate, const Step* step, floating* state_a,
                   floating* state_b, double alpha, double sw_sum, double* l2_parts,
                   const Team* team) noexcept nogil:
    """Gradients from the output delta at deltas + nb*cum[L-1], layer by layer.

    With step NULL: raw sums A_l^T D_{l+1} and sum_rows D_{l+1} go to grads
    (added to them with accumulate; finish_whole finishes them).
    Otherwise each part of W_l's gradient is finished and stepped (params and
    optimizer state updated) right after its GEMM, while it is in cache; the
    delta D_l = (D_{l+1} W_l^T) act'(Z_l) is computed first, from the old W_l
    (and the kept pre-activations zs, or NULL), and the team waits for all
    of it before any part of W_l changes.
    GEMM parts follow the shape (see forward): the weight gradient is cut along
    W's rows when D_{l+1} is the smaller operand to repack, else its columns.
    Biases are summed and stepped by the team's last thread.
    Weight gradients of CLEAR_MIN_MACS or more multiply-adds are added into
    (beta = 1), not written, and their step clears them as it reads them:
    BLAS's blocked GEMM otherwise zeroes its output in a pass of its own for
    beta = 0 (4.7% of the time of a 784-1024-1024-10 network's epoch here),
    and 0 + x = x, so the bits are the same. Their blocks must therefore be 0
    on entry (run_epoch zeroes grads once; each step leaves them 0). Smaller
    ones go to BLAS's small-matrix kernels, which write beta = 0 outputs
    directly (and which a cleared, re-read gradient would slow down: 16-row
    batches of a 784-64-10 network).
    With a step, l2_parts (L * MAX_PARTS, or NULL) receives the sum of squares
    of the new W_l of each part, at l * MAX_PARTS + p (zeros elsewhere).
    Returns with the team's own parts done: the caller waits for the team.
    """
    cdef Py_ssize_t L = lay.n_layers, l, p, s0, sz, parts, extent
    cdef Py_ssize_t u_in, u_out, blk, r, c1
    cdef const floating* A_in
    cdef const floating* Z_in
    cdef floating* W
    cdef floating* D_out
    cdef floating* D_in
    cdef floating* gW
    cdef Py_ssize_t w_off, b_off
    cdef bint by_cols, clear, fused = step != NULL
    cdef floating beta_w
    cdef double part_sumsq, macs
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
            Z_in = NULL if zs == NULL else zs + nb * lay.cum[l - 1]
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
                    activation_derivative(D_in + s0, NULL if Z_in == NULL else Z_in + s0,
                                          A_in + s0, nb, sz, u_in, lay.hidden_act)
                else:
                    gemm(NoTrans, Transpose, sz, u_in, u_out, <floating>1,
                         D_out + s0 * u_out, u_out, W, u_out, <floating>0,
                         D_in + s0 * u_in, u_in)
                    activation_derivative(D_in + s0 * u_in,
                                          NULL if Z_in == NULL else Z_in + s0 * u_in,
                                          A_in + s0 * u_in, sz, u_in, u_in, lay.hidden_act)
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
                    part_sumsq = _finish_rows(step, params, grads, state_a, state_b,
                                              w_off, u_in, u_out, u_out, a, s, want_l2)
                    if want_l2:
                        for p in range(MAX_PARTS):
                            l2_parts[l * MAX_PARTS + p] = part_sumsq if p == 0 else 0.0
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
                        part_sumsq = _finish_rows(step, params, grads, state_a, state_b,
                                                  w_off + s0, u_in, sz, u_out, a, s,
                                                  want_l2, clear)
                else:
                    gemm(Transpose, NoTrans, sz, u_out, nb, <floating>1, A_in + s0,
                         u_in, D_out, u_out, beta_w, gW + s0 * u_out, u_out)
                    if fused:
                        part_sumsq = _finish_rows(step, params, grads, state_a, state_b,
                                                  w_off + s0 * u_out, sz, u_out, u_out, a,
                                                  s, want_l2, clear)
                if want_l2:
                    l2_parts[l * MAX_PARTS + p] = part_sumsq

        if team.tid == team.nth - 1:
            _add_column_sums(grads + b_off, D_out, nb, u_out, accumulate)
            if fused:
                _finish_rows(step, params, grads, state_a, state_b, b_off, 1, u_out,
                             u_out, <floating>0, s, False)


cdef inline void _finish_range(const Step* step, floating* params, floating* grads,
                               floating* state_a, floating* state_b, Py_ssize_t i0,
                               Py_ssize_t n, floating alpha, floating sw_sum) noexcept nogil:
    if step == NULL:
        finish_block(params + i0, grads + i0, n, alpha, sw_sum)
    else:
        _finish_rows(step, params, grads, state_a, state_b, i0, 1, n, n, alpha, sw_sum,
                     False)


cdef void finish_whole(const Layout* lay, const Step* step, floating* params,
                       floating* grads, floating* state_a, floating* state_b,
                       Py_ssize_t n_params, double alpha, double sw_sum,
                       const Team* team) noexcept nogil:
    """Every parameter from the raw gradient sums of the whole batch (or of
    all rows), in SUM_BLOCK blocks shared by the team, alpha on the weights
    only: with step NULL the finished gradient g = (raw + alpha W) / sum(w)
    goes to grads (L-BFGS); otherwise the step is taken from it, element for
    element the step that backward fuses."""
    cdef Py_ssize_t n_blocks = _n_blocks(n_params, SUM_BLOCK), blk, i0, i1
    cdef Py_ssize_t n_coefs = lay.n_coefs
    for blk in range(n_blocks):
        if not _mine(team, blk):
            continue
        i0 = blk * SUM_BLOCK
        i1 = min(i0 + SUM_BLOCK, n_params)
        if i0 < n_coefs:
            _finish_range(step, params, grads, state_a, state_b, i0,
                          min(i1, n_coefs) - i0, <floating>alpha, <floating>sw_sum)
        if i1 > n_coefs:
            i0 = max(i0, n_coefs)
            _finish_range(step, params, grads, state_a, state_b, i0, i1 - i0,
                          <floating>0, <floating>sw_sum)


cdef double weight_sum(const floating* sw, Py_ssize_t n) noexcept nogil:
    """sum(sw), or n if sw is NULL, in float64 and in order."""
    cdef double s = 0.0
    cdef Py_ssize_t i
    if sw == NULL:
        return <double>n
    for i in range(n):
        s += sw[i]
    return s


cdef double batch_step(const Layout* lay, Py_ssize_t n_params, const Optimizer* opt,
                       const Step* step, floating* params, floating* grads,
                       floating* state_a, floating* state_b, const Batch* batch,
                       const Workspace* ws, double* sumsq_io, const Team* team,
                       Py_ssize_t* n_bad) noexcept nogil:
    """Loss of one batch (with the L2 term), its gradient, and ``step``.

    loss = scale * sum_i w_i r_i / sum(w) + 0.5 alpha sum ||W_l||^2 / sum(w)

    Every thread of the team calls this with the same arguments (sumsq_io is
    each thread's own) and gets the same loss; it returns once the whole
    team is done. step is opt's step with this batch's rate. sumsq_io
    (IN/OUT): sum ||W_l||^2 of the current weights, or < 0 if unknown (then
    computed here); on return, that of the stepped weights, summed from the
    parts the step produced (l2_parts) so that the next batch need not read
    all weights again, or -1 after a whole-gradient step. With n_bad (dense
    X), adds to it the count forward's check_x gives for this thread's parts
    (NaN/inf in X shows there; see forward).
    """
    cdef Py_ssize_t L = lay.n_layers, i, nb = batch.nb
    cdef const floating* X = <const floating*>batch.X
    cdef const floating* sw = <const floating*>batch.sw
    cdef floating* acts = <floating*>ws.acts
    cdef floating* zs = <floating*>ws.zs
    cdef floating* deltas = <floating*>ws.deltas
    cdef double sw_sum = weight_sum(sw, nb), data_loss, penalty, alpha = opt.alpha
    cdef floating* P = acts + nb * lay.cum[L - 1]
    if n_bad != NULL:
        n_bad[0] += forward(lay, params, X, batch.csr, nb, acts, zs, P, team, True)
    else:
        forward(lay, params, X, batch.csr, nb, acts, zs, P, team)
    data_loss = output_loss(lay, P, <const floating*>batch.Y, sw, nb,
                            deltas + nb * lay.cum[L - 1], ws.row_partials, team)
    data_loss = lay.loss.scale * data_loss / sw_sum
    if sumsq_io[0] < 0:
        sumsq_io[0] = sumsq(params, lay.n_coefs, ws.sum_partials, team)
    penalty = (0.5 * alpha) * sumsq_io[0] / sw_sum
    if opt.whole_gradient:
        backward(lay, params, grads, X, batch.csr, nb, acts, zs, deltas, False, NULL,
                 state_a, state_b, alpha, sw_sum, NULL, team)
        _sync(team)  # the whole raw gradient is in grads
        finish_whole(lay, step, params, grads, state_a, state_b, n_params, alpha, sw_sum,
                     team)
        _sync(team)
        sumsq_io[0] = -1.0
    else:
        backward(lay, params, grads, X, batch.csr, nb, acts, zs, deltas, False, step,
                 state_a, state_b, alpha, sw_sum, ws.l2_parts, team)
        _sync(team)
        sumsq_io[0] = 0.0
        for i in range(L * MAX_PARTS):  # in a fixed order
            sumsq_io[0] += ws.l2_parts[i]
    return data_loss + penalty
