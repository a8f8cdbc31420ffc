"""Benchmark shims (benchmarks/): BLAS alone, on the shapes of a workload.

Not used by fastmlp itself. ``_replay_epoch`` repeats the GEMM sequence of
_passes.forward/backward by hand (without their parts: one GEMM per
product); keep the two in step if the passes change their GEMMs.
"""

from cython cimport floating
from libc.string cimport memcpy

from fastmlp._kernels._blas cimport NoTrans, Transpose, blas_int, gemm


def _gemm_repeat(bint trans_a, bint trans_b, const floating[:, ::1] A,
                 const floating[:, ::1] B, floating[:, ::1] C, Py_ssize_t repeats):
    """Benchmark shim: C := op(A) @ op(B), ``repeats`` times without the GIL.

    Times BLAS itself on a shape (no Python call per product); the thread
    count is whatever BLAS is set to.
    """
    cdef blas_int m = C.shape[0]
    cdef blas_int n = C.shape[1]
    cdef blas_int k = A.shape[0] if trans_a else A.shape[1]
    cdef Py_ssize_t r
    with nogil:
        for r in range(repeats):
            gemm(Transpose if trans_a else NoTrans,
                 Transpose if trans_b else NoTrans,
                 m, n, k, <floating>1, &A[0, 0], A.shape[1], &B[0, 0], B.shape[1],
                 <floating>0, &C[0, 0], C.shape[1])


def _replay_epoch(const floating[:, ::1] X, const Py_ssize_t[::1] order,
                  Py_ssize_t batch, const Py_ssize_t[::1] units,
                  const floating[::1] weights, floating[::1] grads,
                  floating[::1] acts, floating[::1] deltas):
    """Benchmark shim: only the GEMMs of one training epoch, without the GIL.

    For each batch of ``order`` (the epoch's row order), gathers the rows of
    X into the first block of acts, then runs every forward, delta and weight
    gradient GEMM of a network with these units, in the training loop's
    order, with nothing else: no bias, activation, loss or step. Measures
    how fast BLAS alone runs an epoch's real data flow (cold rows, weights
    and gradients larger than the caches). weights/grads hold W_l (units[l] x
    units[l+1]) one after another; acts/deltas batch x sum(units) each.
    """
    cdef Py_ssize_t L = units.shape[0] - 1, n = order.shape[0], F = units[0]
    cdef Py_ssize_t start, nb, i, l, w_off, a_off, u_in, u_out
    cdef floating* A = &acts[0]
    cdef floating* D = &deltas[0]
    cdef const floating* W
    with nogil:
        start = 0
        while start < n:
            nb = min(batch, n - start)
            for i in range(nb):
                memcpy(A + i * F, &X[order[start + i], 0], F * sizeof(floating))
            w_off = a_off = 0
            for l in range(L):  # forward: A_{l+1} = A_l W_l
                gemm(NoTrans, NoTrans, nb, units[l + 1], units[l], <floating>1,
                     A + a_off, units[l], &weights[w_off], units[l + 1], <floating>0,
                     A + a_off + nb * units[l], units[l + 1])
                w_off += units[l] * units[l + 1]
                a_off += nb * units[l]
            for l in range(L - 1, -1, -1):  # backward, from the output delta
                u_in = units[l]
                u_out = units[l + 1]
                w_off -= u_in * u_out
                a_off -= nb * u_in
                W = &weights[w_off]
                if l > 0:  # D_l = D_{l+1} W_l^T
                    gemm(NoTrans, Transpose, nb, u_in, u_out, <floating>1,
                         D + a_off + nb * u_in, u_out, W, u_out, <floating>0,
                         D + a_off, u_in)
                # gW_l = A_l^T D_{l+1}
                gemm(Transpose, NoTrans, u_in, u_out, nb, <floating>1, A + a_off, u_in,
                     D + a_off + nb * u_in, u_out, <floating>0, &grads[w_off], u_out)
            start += nb
