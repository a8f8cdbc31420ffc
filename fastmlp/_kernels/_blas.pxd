from cython cimport floating

# scipy's cython_blas takes 32-bit Fortran integers.
ctypedef int blas_int

cpdef enum Trans:
    NoTrans = 110  # 'n'
    Transpose = 116  # 't'

cdef void gemm(Trans ta, Trans tb, blas_int m, blas_int n, blas_int k,
               floating alpha, const floating* A, blas_int lda,
               const floating* B, blas_int ldb,
               floating beta, floating* C, blas_int ldc) noexcept nogil
