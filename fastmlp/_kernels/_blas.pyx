"""The one BLAS shim of fastmlp, over scipy.linalg.cython_blas.

Design: every matrix in fastmlp is C-contiguous (row-major). BLAS is
column-major, and a row-major matrix read column-major is its transpose, so
``C = op(A) @ op(B)`` in row-major is ``C^T = op(B)^T @ op(A)^T`` in
column-major: the call swaps the operands (and m/n) and keeps the transpose
flags. No other module cimports scipy.
"""

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


# BLAS takes 32-bit sizes: a batch and every layer width are GEMM dimensions.
MAX_DIM = 2**31 - 1
