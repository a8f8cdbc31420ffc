"""The network: its flat parameters, its kernel spec, and the kernels' whole-
input entry points (outputs, loss, loss and gradient).

Owns ``fastmlp._kernels._network`` (and its ``_layout``). The flat buffer
holds W_0 .. W_{L-1} then b_0 .. b_{L-1}, each row-major; ``coefs_`` and
``intercepts_`` are views of it after a fit, but users may assign or pickle
them, so each fit packs them into a fresh buffer on entry (and predict
re-packs them when they are no longer the views of the buffer the estimator
cached). Kinds are named here and turned into kernel ids by fastmlp._kinds.
"""

import functools

import numpy as np

from fastmlp._kernels import _network as _kernel
from fastmlp._kernels._blas import MAX_DIM as BLAS_MAX_DIM  # noqa: F401 (re-exported)
from fastmlp._kernels._layout import KernelInput, NetSpec  # noqa: F401 (re-exported)
from fastmlp._kinds import ACTIVATIONS, LOSSES
from fastmlp._threads import blas_single_threaded

run_epoch = _kernel.run_epoch


def make_spec(units, activation, loss, loss_param=0.0, out_activation=None):
    """The kernels' description of a network of layer widths ``units`` with
    hidden ``activation`` and ``loss``, whose own parameter (if it has one) is
    ``loss_param``. The output activation is the loss's unless given (a
    fitted model keeps its ``out_activation_``, as scikit-learn does, even if
    ``loss`` is changed afterwards).

    Specs are immutable, so equal ones are shared (a small partial_fit call
    would otherwise spend a tenth of its overhead building one)."""
    return _make_spec(tuple(int(u) for u in units), activation, loss, float(loss_param),
                      out_activation)


@functools.lru_cache(maxsize=64)
def _make_spec(units, activation, loss, loss_param, out_activation):
    hidden = ACTIVATIONS[activation]
    if not hidden.hidden:
        raise ValueError(f"{activation!r} is not a hidden activation.")
    kind = LOSSES[loss]
    return NetSpec(
        list(units), hidden_activation=hidden.kernel,
        out_activation=ACTIVATIONS[out_activation or kind.out_activation].kernel,
        loss=kind.kernel,
        loss_param=loss_param, loss_scale=kind.scale(units[-1]),
        keep_preactivation=hidden.needs_preactivation,
    )


def init_params(units, activation, rng, dtype):
    """Glorot-uniform weights and biases, drawn exactly as scikit-learn does.

    For each layer in order: W ~ U(-b, b) of shape (fan_in, fan_out), then
    b ~ U(-b, b) of shape (fan_out,), with b = sqrt(f / (fan_in + fan_out))
    and f the activation's init_factor (6, or 2 for logistic); drawn in
    float64, then cast.

    Returns
    -------
    coefs, intercepts : lists of ndarray of dtype ``dtype``
    """
    factor = ACTIVATIONS[activation].init_factor
    coefs, intercepts = [], []
    for fan_in, fan_out in zip(units[:-1], units[1:]):
        bound = np.sqrt(factor / (fan_in + fan_out))
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype, copy=False))
        intercepts.append(rng.uniform(-bound, bound, fan_out).astype(dtype, copy=False))
    return coefs, intercepts


def pack(coefs, intercepts, dtype):
    """A new flat buffer holding coefs then intercepts, in ``dtype``, on a
    64-byte boundary (see aligned_empty)."""
    parts = [np.ravel(c) for c in coefs] + [np.ravel(b) for b in intercepts]
    out = aligned_empty(sum(p.size for p in parts), dtype)
    np.concatenate(parts, out=out, casting="unsafe")
    return out


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


# Up to this many rows predict runs on one thread, and then needs no BLAS
# limit (threadpoolctl's costs more than such a call).
SERIAL_PREDICT_ROWS = 32


def predict_outputs(spec, flat, X, n_threads, check_finite=False):
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
    inputs = KernelInput(X, dtype)
    if n <= SERIAL_PREDICT_ROWS and not inputs.sparse:
        # No OpenMP region (n_threads=1), so BLAS may keep its own threads.
        finite = _kernel.predict(spec, inputs, flat, out, work=work, n_threads=1,
                                 check_finite=check_finite)
    else:
        with blas_single_threaded():
            finite = _kernel.predict(spec, inputs, flat, out, work=work,
                                     n_threads=n_threads, check_finite=check_finite)
    return out if finite else None


class _ChunkedLoss:
    """Workspaces for the kernels' chunked passes over all rows (float64 or X's)."""

    def __init__(self, spec, X, Y, sample_weight, alpha, n_threads, dtype):
        self.spec = spec
        self.inputs = KernelInput(X, dtype)
        self.Y = np.ascontiguousarray(Y, dtype=dtype)
        self.sw = None if sample_weight is None else np.ascontiguousarray(
            sample_weight, dtype=dtype)
        self.alpha = float(alpha)
        self.n_threads = n_threads
        n_work, n_partials = spec.workspace_sizes(min(X.shape[0], _kernel.row_chunk()))
        self.work = np.empty(n_work, dtype=dtype)
        self.partials = np.empty(n_partials)


class FullLoss(_ChunkedLoss):
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
        super().__init__(spec, X, Y, sample_weight, alpha, n_threads, np.float64)

    def __call__(self, params):
        """(loss, gradient) at the flat float64 parameters ``params``."""
        grads = np.empty_like(params)
        loss = _kernel.loss_grad(self.spec, self.inputs, self.Y, self.sw, params,
                                 grads=grads, alpha=self.alpha, work=self.work,
                                 partials=self.partials, n_threads=self.n_threads)
        return loss, grads


class HeldOutLoss(_ChunkedLoss):
    """The training loss (with the L2 term) of a fixed set of rows, such as a
    validation set, at any parameters: forward passes only.

    Parameters as FullLoss, plus ``dtype`` (the parameters' dtype).
    """

    def __call__(self, flat):
        """The loss at the flat parameters ``flat``."""
        return _kernel.loss(self.spec, self.inputs, self.Y, self.sw, flat,
                            alpha=self.alpha, work=self.work, partials=self.partials,
                            n_threads=self.n_threads)


ALIGN = 64  # bytes: a cache line (and an AVX-512 vector)


def aligned_empty(n, dtype):
    """An uninitialised 1-D array of n elements whose data starts on a
    64-byte boundary (NumPy guarantees 16).

    The training buffers (parameters, optimizer state, gradients, workspace)
    are aligned so, so that the vector loops never straddle cache lines
    because of where malloc happened to put an array: measured here, W5's
    epochs (float64 Adam, 5569 parameters) ran 1.43-1.48M samples/s
    depending on the alignments a run got, 1.53M with them aligned; W4's
    went from 0.40-0.46M to 0.47-0.49M."""
    dtype = np.dtype(dtype)
    raw = np.empty(n * dtype.itemsize + ALIGN, dtype=np.uint8)
    start = -raw.__array_interface__["data"][0] % ALIGN
    return raw[start:start + n * dtype.itemsize].view(dtype)


def aligned_copy(a, dtype=None):
    """A 64-byte-aligned 1-D copy of a (in dtype, if given)."""
    out = aligned_empty(a.size, a.dtype if dtype is None else dtype)
    out[...] = a
    return out

