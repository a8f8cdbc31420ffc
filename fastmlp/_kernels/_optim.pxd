from cython cimport floating

cdef void sgd_step(floating* params, const floating* grads, floating* velocity,
                   Py_ssize_t n, floating lr, floating momentum, bint nesterov,
                   int n_threads) noexcept nogil

cdef void adam_step(floating* params, const floating* grads, floating* m,
                    floating* v, Py_ssize_t n, floating lr_t, floating beta_1,
                    floating beta_2, floating epsilon, int n_threads) noexcept nogil

cdef double adam_rate(double lr, double beta_1, double beta_2, Py_ssize_t t) noexcept nogil
