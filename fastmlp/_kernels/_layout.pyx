"""A network's layout and a model input, as the kernels read them.

Design: all weights and biases live in one flat buffer: W_0 .. W_{L-1}, then
b_0 .. b_{L-1} (W_l is units[l] x units[l+1], row-major), the order
scikit-learn packs them for L-BFGS. Gradients and optimizer state use the same
layout, so an optimizer step is one element-wise loop. For a batch of nb rows
the activations of layer j (1..L) start at acts + nb * cum[j-1], its deltas
(dLoss/dZ_j) at deltas + nb * cum[j-1] and, for activations whose derivative
needs them, the hidden pre-activations at zs + nb * cum[j-1], with
cum[j] = units[1] + .. + units[j].

This module is the one place where workspaces are sized: the training
workspace holds, per batch row, the activations and deltas of every layer,
the hidden pre-activations if kept, and the gathered rows of X, Y and the
sample weights. Kinds arrive as integers (fastmlp._kinds maps names to them).
"""

import numpy as np
import scipy.sparse as sp

from fastmlp._kernels._ops cimport is_activation, is_hidden_activation, is_loss
from fastmlp._kernels._parts cimport MAX_PARTS, ROW_BLOCK, ROW_CHUNK, SUM_BLOCK, _n_blocks


cdef class NetSpec:
    """Shape and kinds of a network, as integers for nogil code.

    Parameters
    ----------
    units : sequence of int, length L + 1
        Layer widths, input first.
    hidden_activation, out_activation : int
        Kernel ids (fastmlp._kinds) of the hidden and output activations.
    loss : int
        Kernel id of the loss.
    loss_param : float
        The loss's parameter (ignored by losses without one).
    loss_scale : float
        Factor from sum_i w_i r_i / sum_i w_i to the reported loss.
    keep_preactivation : bool
        Training stores the hidden pre-activations (the hidden activation's
        derivative is a function of them, not of its outputs).
    """

    def __cinit__(self, units, *, int hidden_activation, int out_activation, int loss,
                  double loss_param=0.0, double loss_scale=1.0,
                  bint keep_preactivation=False):
        cdef Py_ssize_t L = len(units) - 1, l
        if L < 1 or any(u < 1 for u in units):
            raise ValueError(f"A network needs two or more layers of 1+ units, got {units}.")
        if not (is_hidden_activation(hidden_activation) and is_activation(out_activation)
                and is_loss(loss)):
            raise ValueError("Unknown activation or loss kind.")
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
        self.lay.hidden_act = hidden_activation
        self.lay.out_act = out_activation
        self.lay.keep_z = keep_preactivation and L > 1
        self.lay.loss.kind = loss
        self.lay.loss.param = loss_param
        self.lay.loss.scale = loss_scale

    def workspace_sizes(self, Py_ssize_t batch):
        """(floating elements, float64 elements) that training needs per batch size.

        Floating: activations and deltas of every layer, the kept hidden
        pre-activations, then the gathered rows of X, Y and the weights.
        Float64: row-block sums, SUM_BLOCK sums, then L * MAX_PARTS per-part
        L2 sums.
        """
        cdef Layout* lay = &self.lay
        cdef Py_ssize_t L = lay.n_layers
        n_float = (2 * batch * lay.cum[L] + z_size(lay, batch)
                   + batch * (lay.units[0] + lay.units[L]) + batch)
        n_double = (_n_blocks(batch, ROW_BLOCK) + _n_blocks(lay.n_coefs, SUM_BLOCK)
                    + L * MAX_PARTS)
        return n_float, n_double

    def predict_workspace_size(self, Py_ssize_t n_rows, int n_threads=1):
        """Floating elements that predict needs for n_rows on n_threads
        (the hidden activations of one chunk per thread)."""
        cdef Layout* lay = &self.lay
        cdef Py_ssize_t chunks = (min(n_threads, _n_blocks(n_rows, ROW_CHUNK))
                                  if n_rows > ROW_CHUNK else 1)
        return max(chunks * min(n_rows, ROW_CHUNK) * lay.cum[lay.n_layers - 1], 1)


cdef const void* _address(a) except? NULL:
    """The address of an array's first element (NULL if it is empty)."""
    return NULL if a.size == 0 else array_address(a)


cdef class KernelInput:
    """The rows of X in the floating type of a network, as the kernels read them.

    Dense X becomes a C-contiguous array; sparse X (any format) becomes CSR
    arrays with np.intp indices, never a dense copy. Built once per call;
    the kernels take it whole (no array is unpacked at the call sites).

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (n_samples, n_features)
    dtype : np.float32 or np.float64
    """

    def __cinit__(self, X, dtype):
        dtype = np.dtype(dtype)
        self.itemsize = dtype.itemsize
        self.n_rows, self.n_features = X.shape
        self.sparse = sp.issparse(X)
        if self.sparse:
            X = X.tocsr()
            data = np.ascontiguousarray(X.data, dtype=dtype)
            indices = np.ascontiguousarray(X.indices, dtype=np.intp)
            indptr = np.ascontiguousarray(X.indptr, dtype=np.intp)
            rows = np.arange(self.n_rows, dtype=np.intp)
            self._arrays = (data, indices, indptr, rows)
            self.dense = NULL
            self.csr.data = _address(data)
            self.csr.indices = <const Py_ssize_t*>_address(indices)
            self.csr.indptr = <const Py_ssize_t*>_address(indptr)
            self.csr.rows = NULL
            self.all_rows = <const Py_ssize_t*>_address(rows)
        else:
            X = np.ascontiguousarray(X, dtype=dtype)
            self._arrays = (X,)
            self.dense = array_address(X)
            self.csr.data = NULL
            self.csr.indices = NULL
            self.csr.indptr = NULL
            self.csr.rows = NULL
            self.all_rows = NULL

    @property
    def array(self):
        """The dense C-contiguous array the kernels read (None if sparse)."""
        return None if self.sparse else self._arrays[0]
