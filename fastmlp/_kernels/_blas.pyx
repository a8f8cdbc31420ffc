"""The one BLAS shim of fastmlp, over scipy.linalg.cython_blas.

Design: every matrix in fastmlp is C-contiguous (row-major). BLAS is
column-major, and a row-major matrix read column-major is its transpose, so
``C = op(A) @ op(B)`` in row-major is ``C^T = op(B)^T @ op(A)^T`` in
column-major: the call swaps the operands (and m/n) and keeps the transpose
flags. No other module cimports scipy.
"""

from libc.string cimport memcpy
from scipy.linalg.cython_blas cimport dgemm, sgemm


cdef void gemm(Trans ta, Trans tb, blas_int m, blas_int n, blas_int k,
               floating alpha, const floating* A, blas_int lda,
               const floating* B, blas_int ldb,
               floating beta, floating* C, blas_int ldc) noexcept nogil:
    """C := alpha * op(A) @ op(B) + beta * C, all row-major; C is m x n.

    op(A) is m x k and op(B) is k x n; lda/ldb/ldc are row strides.
    """
    cdef char ta_c = <char>ta
    cdef char tb_c = <char>tb
    if floating is float:
        sgemm(&tb_c, &ta_c, &n, &m, &k, &alpha, <float*>B, &ldb,
              <float*>A, &lda, &beta, C, &ldc)
    else:
        dgemm(&tb_c, &ta_c, &n, &m, &k, &alpha, <double*>B, &ldb,
              <double*>A, &lda, &beta, C, &ldc)


def _gemm(bint trans_a, bint trans_b, double alpha,
          const floating[:, ::1] A, const floating[:, ::1] B,
          double beta, floating[:, ::1] C):
    """Test shim: C := alpha * op(A) @ op(B) + beta * C (shapes trusted)."""
    cdef blas_int m = C.shape[0]
    cdef blas_int n = C.shape[1]
    cdef blas_int k = A.shape[0] if trans_a else A.shape[1]
    with nogil:
        gemm(Transpose if trans_a else NoTrans,
             Transpose if trans_b else NoTrans,
             m, n, k, <floating>alpha, &A[0, 0], A.shape[1], &B[0, 0], B.shape[1],
             <floating>beta, &C[0, 0], C.shape[1])


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
