"""The kernels' entry points: a training epoch, the L-BFGS loss and gradient,
a loss alone, and predict.

Design: each entry point turns its arguments into pointers once, with the
GIL, and runs all of its work in one parallel region without it: a team of
threads that walks the same batches (or chunks of rows) and shares each pass
(_passes.pyx; how work is cut is in _parts.pxd). Regions are skipped for
networks too small to share (_team_size): the calling thread then runs alone.

Ctrl-C: run_epoch looks at pending signals between mini-batches every
CHECK_SECONDS (taking the GIL only then) and, if a handler raised, stops after
the batch in progress and re-raises it after the region; params, optimizer
state and its step count then hold the batches done.

Full-data loss and gradient (L-BFGS) run the same passes over fixed chunks of
ROW_CHUNK rows, accumulating raw gradient sums, then finish them once:
g = (raw + alpha W) / sum(w).
"""

from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.string cimport memcpy, memset

from fastmlp._kernels._layout cimport CSR, KernelInput, Layout, NetSpec, z_size
from fastmlp._kernels._math cimport fastmlp_now, fastmlp_prefetch
from fastmlp._kernels._openmp cimport fastmlp_omp_atomic_add
from fastmlp._kernels._optim cimport Optimizer, OptimizerSpec, Step, batch_rate
from fastmlp._kernels._parts cimport (
    MAX_PARTS, ROW_BLOCK, ROW_CHUNK, SUM_BLOCK, Team, _n_blocks, _sync, _team_of_one,
    _team_size, _this_team,
)
from fastmlp._kernels._passes cimport (
    Batch, Workspace, all_finite, backward, batch_step, finish_whole, forward,
    output_loss, sumsq, weight_sum,
)

from fastmlp._kernels._layout import KernelInput, NetSpec  # noqa: F401 (re-exported)

cdef extern from "Python.h":
    # Declared without an exception spec: a raised handler's exception stays
    # set and is re-raised by _reraise after the nogil loop.
    int PyErr_CheckSignals()

cdef double CHECK_SECONDS = 0.005


def row_chunk():
    """Rows per chunk of predict, loss and loss_grad (size the workspaces of
    loss and loss_grad for min(n, this))."""
    return ROW_CHUNK


cdef int _reraise() except -1:
    # The exception a signal handler raised is still set: propagate it.
    return -1


cdef void _check(bint ok, str what) except *:
    """The entry points check every size they rely on (once per call, with
    the GIL: a mismatch would read or write out of bounds). The values of
    ``order`` and of the CSR index arrays are trusted: the Python layer
    builds them."""
    if not ok:
        raise ValueError(f"The kernel's {what} does not match the network, its dtype "
                         "or the rows of X.")


cdef void _check_rows(NetSpec net, KernelInput X, Py_ssize_t itemsize, Py_ssize_t Y_rows,
                      Py_ssize_t Y_cols, object sample_weight, Py_ssize_t params) except *:
    _check(X.itemsize == itemsize and X.n_features == net.lay.units[0] and X.n_rows > 0,
           "input X")
    _check(Y_rows == X.n_rows and Y_cols == net.n_outputs, "Y (or out)")
    _check(sample_weight is None or len(sample_weight) == X.n_rows, "sample_weight")
    _check(params == net.n_params, "params")


cdef inline Batch _batch(const void* X, const CSR* csr, const void* Y, const void* sw,
                         Py_ssize_t nb) noexcept nogil:
    # (assigned whole inside the parallel region, so that each thread has its own)
    cdef Batch batch
    batch.X = X
    batch.csr = csr
    batch.Y = Y
    batch.sw = sw
    batch.nb = nb
    return batch


def run_epoch(NetSpec net, OptimizerSpec opt, KernelInput X, const floating[:, ::1] Y,
              const floating[::1] sample_weight, const Py_ssize_t[::1] order,
              Py_ssize_t batch_size, floating[::1] params, *, floating[::1] grads,
              floating[::1] work, double[::1] partials, int n_threads,
              bint check_x=False):
    """Run every mini-batch of one epoch: gather, forward, backward, update.

    Parameters
    ----------
    net : NetSpec
    opt : OptimizerSpec
        The update rule with its state (IN/OUT) and step count t (IN/OUT:
        advanced once per batch; Adam's rate is a function of it).
    X : KernelInput of (n, units[0]) rows; sparse input needs ``order``
    Y : (n, units[L]); sample_weight : (n,) or None
    order : (n,) row order of this epoch, or None for rows in order
    batch_size : rows per batch; the last batch is short
    params : (n_params,) flat buffer (IN/OUT)
    grads : (n_params,) workspace for the raw gradients (set to 0 first; its
        content on return is no gradient: the steps clear large ones)
    work, partials : workspaces sized by net.workspace_sizes(batch_size)
    n_threads : threads of the parallel region
    check_x : look for NaN/inf in a dense X while the epoch runs, through each
        batch's first-layer product (see _passes.forward), so that X needs no
        pass of its own.

    Returns
    -------
    loss_sum : float
        sum over batches of loss_b * len_b.
    n_suspect : int
        With check_x, the number of batch parts whose first-layer product was
        not finite: 0 proves X finite, else the caller checks X itself (a
        finite X can overflow there too). 0 without check_x.

    One parallel region runs the whole epoch: every thread walks the same
    batches, gathers its share of each batch's rows and runs its parts of
    each pass, and the team meets at a barrier between dependent phases.

    Raises whatever a signal handler raised (KeyboardInterrupt on Ctrl-C),
    between mini-batches; params, state and opt.t hold the batches done.
    """
    cdef Layout* lay = &net.lay
    cdef Py_ssize_t L = lay.n_layers, n = Y.shape[0], F = lay.units[0]
    cdef Py_ssize_t K = lay.units[L], B = batch_size
    cdef Py_ssize_t n_params = net.n_params, start, nb, i, src, r0, r1
    _check_rows(net, X, sizeof(floating), Y.shape[0], Y.shape[1], sample_weight,
                params.shape[0])
    _check(grads.shape[0] == n_params, "grads")
    _check(opt.itemsize == sizeof(floating) and opt.n_params == n_params, "optimizer state")
    _check(B >= 1, "batch_size")
    _check(order.shape[0] == n if order is not None else not X.sparse, "order")
    n_float, n_double = net.workspace_sizes(B)
    _check(work.shape[0] >= n_float and partials.shape[0] >= n_double, "workspace")
    cdef floating* acts = &work[0]
    cdef floating* deltas = acts + B * lay.cum[L]
    cdef floating* zs = deltas + B * lay.cum[L] if lay.keep_z else NULL
    cdef floating* xbuf = deltas + B * lay.cum[L] + z_size(lay, B)
    cdef floating* ybuf = xbuf + B * F
    cdef floating* swbuf = ybuf + B * K
    cdef floating* state_a = <floating*>opt.state_a
    cdef floating* state_b = <floating*>opt.state_b
    cdef const floating* Xp = NULL if X.sparse else <const floating*>X.dense
    cdef const floating* Yp = &Y[0, 0]
    cdef const floating* swp = NULL if sample_weight is None else &sample_weight[0]
    cdef const Py_ssize_t* op = NULL if order is None else &order[0]
    cdef CSR csr = X.csr
    cdef CSR my_csr
    cdef Batch batch
    cdef Workspace ws
    cdef double batch_loss, last_check, acc
    cdef long long t, t0 = opt.t
    # Written by thread 0 only: [interrupted, loss sum, t]
    cdef double shared[3]
    cdef double sumsq_io
    cdef Py_ssize_t n_bad
    cdef long long bad_total = 0
    cdef bint check = check_x and Xp != NULL
    cdef int n_team = _team_size(lay, B, n_threads)
    cdef Team team
    cdef const Optimizer* o = &opt.opt
    cdef Step step
    ws.acts = acts
    ws.zs = zs
    ws.deltas = deltas
    ws.row_partials = &partials[0]
    ws.sum_partials = ws.row_partials + _n_blocks(B, ROW_BLOCK)
    ws.l2_parts = ws.sum_partials + _n_blocks(lay.n_coefs, SUM_BLOCK)
    shared[0] = 0.0
    memset(&grads[0], 0, lay.n_coefs * sizeof(floating))  # see _passes.backward (clear)
    with nogil, parallel(num_threads=n_team, use_threads_if=n_team > 1):
        team = _this_team()
        step = o.step
        my_csr = csr
        sumsq_io = -1.0  # ||W||^2 unknown until the first batch computes it
        n_bad = 0
        acc = 0.0
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
                batch = _batch(NULL if Xp == NULL else Xp + start * F, NULL, Yp + start * K,
                               NULL if swp == NULL else swp + start, nb)
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
                my_csr.rows = op + start
                batch = _batch(NULL if Xp == NULL else xbuf,
                               NULL if Xp != NULL else &my_csr, ybuf,
                               NULL if swp == NULL else swbuf, nb)
            _sync(&team)  # the batch is gathered; the signal check is seen
            if shared[0] != 0.0:
                break
            t = t + 1
            step.lr = batch_rate(o, t)
            batch_loss = batch_step(lay, n_params, o, &step, &params[0], &grads[0], state_a,
                              state_b, &batch, &ws, &sumsq_io, &team,
                              &n_bad if check else NULL)
            acc = acc + batch_loss * nb
            start = start + nb
        if n_bad > 0:
            fastmlp_omp_atomic_add(&bad_total, n_bad)
        if team.tid == 0:
            shared[1] = acc
            shared[2] = <double>t
    opt.t = <long long>shared[2]
    if shared[0] != 0.0:
        _reraise()
    return shared[1], bad_total


cdef double _chunked_loss(const Layout* lay, Py_ssize_t n_params, const floating* params,
                          floating* grads, const floating* Xp, CSR csr,
                          const Py_ssize_t* all_rows, const floating* Yp,
                          const floating* swp, Py_ssize_t n, double alpha, floating* work,
                          double* partials, int n_threads) noexcept nogil:
    """The loss of all n rows (and, if grads is not NULL, its finished
    gradient into grads), in chunks of ROW_CHUNK rows on a team. The rows
    are dense (Xp) or, if Xp is NULL, the CSR rows all_rows[0 .. n]."""
    cdef Py_ssize_t L = lay.n_layers, F = lay.units[0], K = lay.units[L]
    cdef Py_ssize_t chunk = min(n, <Py_ssize_t>ROW_CHUNK), c0, nb
    cdef floating* acts = work
    cdef floating* deltas = acts + chunk * lay.cum[L]
    cdef floating* zs = deltas + chunk * lay.cum[L] if grads != NULL and lay.keep_z else NULL
    cdef floating* P
    cdef double* row_partials = partials
    cdef double* sum_partials = row_partials + _n_blocks(chunk, ROW_BLOCK)
    cdef double data_loss, penalty, sw_sum = weight_sum(swp, n)
    cdef double total[1]
    cdef CSR my_csr
    cdef const CSR* csrp   # (set inside the region: my_csr is private to each thread)
    cdef int n_team = _team_size(lay, chunk, n_threads)
    cdef Team team
    with parallel(num_threads=n_team, use_threads_if=n_team > 1):
        team = _this_team()
        my_csr = csr
        csrp = NULL if Xp != NULL else &my_csr
        data_loss = 0.0
        c0 = 0
        while c0 < n:
            nb = min(chunk, n - c0)
            P = acts + nb * lay.cum[L - 1]
            my_csr.rows = all_rows + c0
            forward(lay, params, NULL if Xp == NULL else Xp + c0 * F, csrp, nb, acts, zs,
                    P, &team)
            data_loss = data_loss + output_loss(
                lay, P, Yp + c0 * K, NULL if swp == NULL else swp + c0, nb,
                deltas + nb * lay.cum[L - 1], row_partials, &team)
            if grads != NULL:
                backward(lay, <floating*>params, grads, NULL if Xp == NULL else Xp + c0 * F,
                         csrp, nb, acts, zs, deltas, c0 > 0, NULL, NULL, NULL, alpha,
                         sw_sum, NULL, &team)
            _sync(&team)
            c0 = c0 + nb
        if grads != NULL:
            finish_whole(lay, NULL, <floating*>params, grads, NULL, NULL, n_params, alpha,
                         sw_sum, &team)
        penalty = (0.5 * alpha) * sumsq(params, lay.n_coefs, sum_partials, &team) / sw_sum
        if team.tid == 0:
            total[0] = lay.loss.scale * data_loss / sw_sum + penalty
    return total[0]


def loss_grad(NetSpec net, KernelInput X, const floating[:, ::1] Y,
              const floating[::1] sample_weight, const floating[::1] params, *,
              floating[::1] grads, double alpha, floating[::1] work,
              double[::1] partials, int n_threads=1):
    """Loss of all rows of X (with the L2 term) and its gradient into grads (OUT).

    Rows are processed in chunks of ROW_CHUNK; raw gradient sums are
    accumulated over chunks and finished once. Workspaces sized by
    net.workspace_sizes(min(n, row_chunk())).
    """
    cdef Py_ssize_t n = Y.shape[0]
    cdef double total
    _check_rows(net, X, sizeof(floating), Y.shape[0], Y.shape[1], sample_weight,
                params.shape[0])
    _check(grads.shape[0] == net.n_params, "grads")
    n_float, n_double = net.workspace_sizes(min(n, <Py_ssize_t>ROW_CHUNK))
    _check(work.shape[0] >= n_float and partials.shape[0] >= n_double, "workspace")
    with nogil:
        total = _chunked_loss(&net.lay, net.n_params, &params[0], &grads[0],
                              NULL if X.sparse else <const floating*>X.dense, X.csr,
                              X.all_rows, &Y[0, 0],
                              NULL if sample_weight is None else &sample_weight[0], n,
                              alpha, &work[0], &partials[0], n_threads)
    return total


def loss(NetSpec net, KernelInput X, const floating[:, ::1] Y,
         const floating[::1] sample_weight, const floating[::1] params, *,
         double alpha, floating[::1] work, double[::1] partials, int n_threads=1):
    """Loss of all rows of X (with the L2 term), as training reports it, and
    nothing else: forward and loss, no backward (a held-out set's loss).

    The same passes as loss_grad, so the same bits as its loss. Workspaces
    sized by net.workspace_sizes(min(n, row_chunk())).
    """
    cdef Py_ssize_t n = Y.shape[0]
    cdef double total
    _check_rows(net, X, sizeof(floating), Y.shape[0], Y.shape[1], sample_weight,
                params.shape[0])
    n_float, n_double = net.workspace_sizes(min(n, <Py_ssize_t>ROW_CHUNK))
    _check(work.shape[0] >= n_float and partials.shape[0] >= n_double, "workspace")
    with nogil:
        total = _chunked_loss(&net.lay, net.n_params, &params[0], <floating*>NULL,
                              NULL if X.sparse else <const floating*>X.dense, X.csr,
                              X.all_rows, &Y[0, 0],
                              NULL if sample_weight is None else &sample_weight[0], n,
                              alpha, &work[0], &partials[0], n_threads)
    return total


def predict(NetSpec net, KernelInput X, const floating[::1] params, floating[:, ::1] out,
            *, floating[::1] work, int n_threads=1, bint check_finite=False):
    """out := output-layer activations for the rows of X, in chunks of
    ROW_CHUNK rows.

    Dense X of several chunks: each thread runs whole forward passes over its
    own chunks (no barrier between layers), taking the next chunk when it is
    done (schedule "dynamic": chunks are whole and independent, so which
    thread runs one does not change its bits). Otherwise (and for sparse X)
    the chunks run in turn, each forward pass cut into parts that a team of
    threads shares. Chunks and parts depend on the shapes only, so the bits
    do not depend on n_threads.

    check_finite (dense X): also look for NaN/infinity in X; returns True if
    X is finite. False means X may hold one (out is then meaningless):
    chunks are checked through their first layer's product (see
    _passes.forward), which a finite X can also overflow, so the caller
    checks X on False.

    work is sized by net.predict_workspace_size(n, n_threads).
    """
    cdef Py_ssize_t n = out.shape[0], F = net.lay.units[0], K = net.n_outputs
    cdef Py_ssize_t c0, nb, c, n_chunks, n_bad = 0
    cdef Py_ssize_t per_thread = ROW_CHUNK * net.lay.cum[net.lay.n_layers - 1]
    _check_rows(net, X, sizeof(floating), out.shape[0], out.shape[1], None,
                params.shape[0])
    _check(work.shape[0] >= net.predict_workspace_size(n, n_threads), "workspace")
    cdef const floating* Xp = NULL if X.sparse else <const floating*>X.dense
    cdef floating* outp = &out[0, 0]
    cdef CSR csr = X.csr
    cdef CSR my_csr
    cdef const CSR* csrp   # (set inside the region: my_csr is private to each thread)
    cdef const Py_ssize_t* all_rows = X.all_rows
    cdef Team team
    cdef int n_team = _team_size(&net.lay, min(n, <Py_ssize_t>ROW_CHUNK), n_threads)
    check_finite = check_finite and Xp != NULL
    if Xp != NULL and n > ROW_CHUNK:
        n_chunks = _n_blocks(n, ROW_CHUNK)
        with nogil:
            for c in prange(n_chunks, schedule="dynamic",
                            num_threads=min(<Py_ssize_t>n_threads, n_chunks),
                            use_threads_if=n_threads > 1):
                team = _team_of_one()
                c0 = c * ROW_CHUNK
                nb = min(<Py_ssize_t>ROW_CHUNK, n - c0)
                n_bad += forward(&net.lay, &params[0], Xp + c0 * F, NULL, nb,
                                 &work[0] + threadid() * per_thread, NULL, outp + c0 * K,
                                 &team, check_finite)
        return n_bad == 0
    if check_finite and not all_finite(Xp, n * F):
        return False
    with nogil, parallel(num_threads=n_team, use_threads_if=n_team > 1):
        team = _this_team()
        my_csr = csr
        csrp = NULL if Xp != NULL else &my_csr
        c0 = 0
        while c0 < n:
            nb = min(<Py_ssize_t>ROW_CHUNK, n - c0)
            my_csr.rows = all_rows + c0
            forward(&net.lay, &params[0], NULL if Xp == NULL else Xp + c0 * F, csrp, nb,
                    &work[0], NULL, outp + c0 * K, &team)
            c0 = c0 + nb
    return True
