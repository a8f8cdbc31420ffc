"""The network's parameters as one flat buffer, and its forward pass.

Owns ``fastmlp._kernels._network``. The flat buffer holds W_0 .. W_{L-1} then
b_0 .. b_{L-1}, each row-major; ``coefs_``/``intercepts_`` are views of it
after a fit, but users may assign or pickle them, so each fit packs them into a
fresh buffer on entry (and predict re-packs only when they are no longer the
views of the buffer it knows).
"""

import numpy as np

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


def are_views_of(flat, coefs, intercepts, units):
    """True if coefs/intercepts are exactly the views ``unpack(flat)`` gives."""
    if flat is None or len(coefs) != len(units) - 1:
        return False
    base = flat.__array_interface__["data"][0]
    offset = 0
    for arr in list(coefs) + list(intercepts):
        if (
            not isinstance(arr, np.ndarray)
            or arr.dtype != flat.dtype
            or arr.__array_interface__["data"][0] != base + offset * flat.itemsize
            or not arr.flags.c_contiguous
        ):
            return False
        offset += arr.size
    return offset == flat.size


def forward(spec, flat, X, n_threads):
    """Output-layer activations for the rows of X (C-contiguous float array).

    Runs in X's dtype if it is wider than the parameters' (as NumPy would).
    """
    dtype = np.result_type(X.dtype, flat.dtype)
    X = np.ascontiguousarray(X, dtype=dtype)
    flat = flat.astype(dtype, copy=False)
    out = np.empty((X.shape[0], spec.n_outputs), dtype=dtype)
    work = np.empty(spec.predict_workspace_size(X.shape[0]), dtype=dtype)
    with blas_single_threaded():
        _kernel.predict(spec, flat, X, out, work, n_threads)
    return out
