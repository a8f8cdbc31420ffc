"""The network's parameters as one flat buffer, and its forward pass.

Owns ``fastmlp._kernels._network``. The flat buffer holds W_0 .. W_{L-1} then
b_0 .. b_{L-1}, each row-major; ``coefs_``/``intercepts_`` are views of it
after a fit, but users may assign or pickle them, so each fit packs them into a
fresh buffer on entry (and predict re-packs them when they are no longer the
views of the buffer the estimator cached).
"""

import numpy as np
import scipy.sparse as sp

from fastmlp._kernels import _network as _kernel
from fastmlp._threads import blas_single_threaded

NetSpec = _kernel.NetSpec
run_epoch = _kernel.run_epoch
SOLVERS = _kernel.SOLVERS


def make_spec(units, activation, out_activation, loss):
    """The kernel's description of a network of layer widths ``units``."""
    return NetSpec(list(units), activation, out_activation, loss)


def output_loss_name(loss, out_activation):
    """scikit-learn's loss for a loss parameter and output activation."""
    if loss == "log_loss" and out_activation == "logistic":
        return "binary_log_loss"
    return loss


def init_params(units, activation, rng, dtype):
    """Glorot-uniform weights and biases, drawn exactly as scikit-learn does.

    For each layer in order: W ~ U(-b, b) of shape (fan_in, fan_out), then
    b ~ U(-b, b) of shape (fan_out,), with b = sqrt(6 / (fan_in + fan_out)),
    or sqrt(2 / ...) for the logistic activation; drawn in float64, then cast.

    Returns
    -------
    coefs, intercepts : lists of ndarray of dtype ``dtype``
    """
    factor = 2.0 if activation == "logistic" else 6.0
    coefs, intercepts = [], []
    for fan_in, fan_out in zip(units[:-1], units[1:]):
        bound = np.sqrt(factor / (fan_in + fan_out))
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype, copy=False))
        intercepts.append(rng.uniform(-bound, bound, fan_out).astype(dtype, copy=False))
    return coefs, intercepts


def pack(coefs, intercepts, dtype):
    """A new flat buffer holding coefs then intercepts, in ``dtype``."""
    return np.concatenate(
        [np.ravel(c) for c in coefs] + [np.ravel(b) for b in intercepts]
    ).astype(dtype, copy=False)


def unpack(flat, units):
    """Views (coefs, intercepts) of the flat buffer for layer widths ``units``."""
    coefs, intercepts, start = [], [], 0
    for fan_in, fan_out in zip(units[:-1], units[1:]):
        coefs.append(flat[start:start + fan_in * fan_out].reshape(fan_in, fan_out))
        start += fan_in * fan_out
    for fan_out in units[1:]:
        intercepts.append(flat[start:start + fan_out])
        start += fan_out
    return coefs, intercepts


def kernel_input(X, dtype):
    """The keyword arguments that hand X to a kernel, in ``dtype``.

    Dense X becomes a C-contiguous array; sparse X (any format) becomes CSR
    arrays with index arrays of np.intp, never a dense copy. Sparse input
    also needs a row order (``rows``), which the callers supply.
    """
    if sp.issparse(X):
        X = X.tocsr()
        return dict(
            X=None,
            X_data=np.ascontiguousarray(X.data, dtype=dtype),
            X_indices=np.ascontiguousarray(X.indices, dtype=np.intp),
            X_indptr=np.ascontiguousarray(X.indptr, dtype=np.intp),
        )
    return dict(X=np.ascontiguousarray(X, dtype=dtype), X_data=None,
                X_indices=None, X_indptr=None)


# Up to this many rows predict runs on one thread, and then needs no BLAS
# limit (threadpoolctl's costs more than such a call).
SERIAL_PREDICT_ROWS = 32


def forward(spec, flat, X, n_threads, check_finite=False):
    """Output-layer activations for the rows of X (dense or sparse, float).

    Runs in X's dtype if it is wider than the parameters' (as NumPy would).
    Allocates its own output and scratch space, so concurrent calls from
    several Python threads on one model are safe. With check_finite (dense
    X), returns None instead if X may hold NaN or infinity: checked inside
    the kernel, on large X through each chunk's first-layer product (no pass
    of its own over X), which a finite X can overflow too, so None asks the
    caller to check X itself.
    """
    dtype = flat.dtype if X.dtype == flat.dtype else np.result_type(X.dtype, flat.dtype)
    flat = flat.astype(dtype, copy=False)
    n = X.shape[0]
    out = np.empty((n, spec.n_outputs), dtype=dtype)
    work = np.empty(spec.predict_workspace_size(n, n_threads), dtype=dtype)
    if n <= SERIAL_PREDICT_ROWS and not sp.issparse(X):
        # No OpenMP region (n_threads=1), so BLAS may keep its own threads.
        finite = _kernel.predict(spec, flat, np.ascontiguousarray(X, dtype=dtype), out, work,
                                 1, check_finite=check_finite)
        return out if finite else None
    inputs = kernel_input(X, dtype)
    rows = np.arange(n, dtype=np.intp) if inputs["X"] is None else None
    with blas_single_threaded():
        finite = _kernel.predict(spec, flat, inputs["X"], out, work, n_threads,
                                 inputs["X_data"], inputs["X_indices"], inputs["X_indptr"],
                                 rows, check_finite)
    return out if finite else None


class FullLoss:
    """Loss and gradient over all rows, for scipy's L-BFGS-B (float64).

    Parameters
    ----------
    spec : NetSpec
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_outputs)
    sample_weight : ndarray of shape (n_samples,) or None
    alpha : float
    n_threads : int
    """

    def __init__(self, spec, X, Y, sample_weight, alpha, n_threads):
        self.spec = spec
        self.inputs = kernel_input(X, np.float64)
        n = X.shape[0]
        self.rows = np.arange(n, dtype=np.intp) if self.inputs["X"] is None else None
        self.Y = np.ascontiguousarray(Y, dtype=np.float64)
        self.sw = None if sample_weight is None else np.ascontiguousarray(
            sample_weight, dtype=np.float64)
        self.alpha = float(alpha)
        self.n_threads = n_threads
        n_work, n_partials = spec.workspace_sizes(min(n, _kernel.loss_grad_chunk()))
        self.work = np.empty(n_work)
        self.partials = np.empty(n_partials)

    def __call__(self, params):
        """(loss, gradient) at the flat float64 parameters ``params``."""
        grads = np.empty_like(params)
        loss = _kernel.loss_grad(
            self.spec, params, grads, self.inputs["X"], self.Y, self.sw, self.alpha,
            self.work, self.partials, self.n_threads, self.inputs["X_data"],
            self.inputs["X_indices"], self.inputs["X_indptr"], self.rows,
        )
        return loss, grads
