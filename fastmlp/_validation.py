"""Validation, once, at the boundary: parameters, sample weights, the fast
paths for input that needs no conversion, and assigned weights' shapes.

Only scikit-learn's public API is used. scikit-learn validates estimator
parameters with a private module (``sklearn.utils._param_validation``).
fastmlp declares the same constraints with the small classes below and
raises the same messages. The exception is scikit-learn's own
``InvalidParameterError`` when it can be imported (so code that catches it
keeps working); should it move, an equivalent class (a ValueError and a
TypeError, as scikit-learn's) takes its place.
"""

import numbers

import numpy as np
from sklearn.utils import check_array

try:  # not public API: used when present, never required
    from sklearn.utils._param_validation import InvalidParameterError
except ImportError:  # pragma: no cover - only with a future scikit-learn

    class InvalidParameterError(ValueError, TypeError):
        """An estimator parameter has an invalid type or value."""


class Interval:
    """Numbers of ``kind`` (numbers.Integral or numbers.Real) in a range.

    ``left``/``right`` of None are unbounded; ``closed`` is 'left', 'right',
    'both' or 'neither'.
    """

    def __init__(self, kind, left, right, closed):
        self.kind, self.left, self.right, self.closed = kind, left, right, closed

    def __call__(self, value):
        if not isinstance(value, self.kind) or isinstance(value, (str, bytes)):
            return False
        if isinstance(value, numbers.Real) and np.isnan(value):
            return False
        left_ok = self.left is None or (
            value >= self.left if self.closed in ("left", "both") else value > self.left
        )
        right_ok = self.right is None or (
            value <= self.right if self.closed in ("right", "both") else value < self.right
        )
        return bool(left_ok and right_ok)

    def __str__(self):
        integral = self.kind is numbers.Integral
        fmt = int if integral else float
        left = "-inf" if self.left is None else fmt(self.left)
        right = "inf" if self.right is None else fmt(self.right)
        lb = "[" if self.closed in ("left", "both") and self.left is not None else "("
        rb = "]" if self.closed in ("right", "both") and self.right is not None else ")"
        return f"{'an int' if integral else 'a float'} in the range {lb}{left}, {right}{rb}"


class Among:
    """One of a set of ``values`` of ``kind`` (str or numbers.Real)."""

    def __init__(self, kind, values):
        self.kind, self.values = kind, values

    def __call__(self, value):
        return isinstance(value, self.kind) and value in self.values

    def __str__(self):
        kind = "a str" if self.kind is str else "a float"
        return f"{kind} among {{{', '.join(repr(v) for v in self.values)}}}"


class _Predicate:
    def __init__(self, test, text):
        self.test, self.text = test, text

    def __call__(self, value):
        return self.test(value)

    def __str__(self):
        return self.text


def _is_array_like(value):
    return (
        hasattr(value, "__len__") or hasattr(value, "shape") or hasattr(value, "__array__")
    ) and not np.isscalar(value)


ARRAY_LIKE = _Predicate(_is_array_like, "an array-like")
BOOLEAN = _Predicate(lambda v: isinstance(v, (bool, np.bool_)),
                     "an instance of 'bool' or an instance of 'numpy.bool'")
NONE = _Predicate(lambda v: v is None, "None")
_SEED = Interval(numbers.Integral, 0, 2**32 - 1, "both")
RANDOM_STATE = _Predicate(
    lambda v: v is None or _SEED(v) or isinstance(v, np.random.RandomState),
    f"{_SEED}, an instance of 'numpy.random.mtrand.RandomState' or None",
)
_VERBOSITY = Interval(numbers.Integral, 0, None, "left")
VERBOSE = _Predicate(
    lambda v: _VERBOSITY(v) or BOOLEAN(v),
    f"{_VERBOSITY}, an instance of 'bool' or an instance of 'numpy.bool'",
)


def validate_params(estimator, constraints):
    """Check every parameter of ``estimator`` against its list of constraints.

    A value passes if any constraint of its list accepts it.

    Raises
    ------
    InvalidParameterError
        Naming the parameter, what it must be and what it got, as
        scikit-learn words it.
    """
    params = estimator.get_params(deep=False)
    for name, allowed in constraints.items():
        value = params[name]
        if any(check(value) for check in allowed):
            continue
        texts = [str(c) for c in allowed]
        must_be = texts[0] if len(texts) == 1 else f"{', '.join(texts[:-1])} or {texts[-1]}"
        raise InvalidParameterError(
            f"The {name!r} parameter of {type(estimator).__name__} must be "
            f"{must_be}. Got {value!r} instead."
        )


def check_sample_weight(sample_weight, X):
    """sample_weight as a C-contiguous 1-D float array of length n_samples.

    A scalar is broadcast; float32/float64 input keeps its dtype, anything else
    becomes float64. Same errors as scikit-learn: wrong dimension or length,
    NaN/inf (check_array's), and all weights zero.
    """
    n_samples = X.shape[0]
    if isinstance(sample_weight, numbers.Number):
        sample_weight = np.full(n_samples, sample_weight, dtype=np.float64)
    else:
        sample_weight = check_array(
            sample_weight, accept_sparse=False, ensure_2d=False,
            dtype=[np.float64, np.float32], order="C", input_name="sample_weight",
        )
        if sample_weight.ndim != 1:
            raise ValueError(
                f"Sample weights must be 1D array or scalar, got "
                f"{sample_weight.ndim}D array. Expected either a scalar value "
                f"or a 1D array of length {n_samples}."
            )
        if sample_weight.shape != (n_samples,):
            raise ValueError(
                "sample_weight.shape == {}, expected {}!".format(
                    sample_weight.shape, (n_samples,)
                )
            )
    if np.all(sample_weight == 0):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return sample_weight


# ---- fast paths: input that scikit-learn's validation would pass unchanged ----

def is_fast_input(X, n_features, has_feature_names, check_finite=True):
    """True for X that needs none of validate_data's conversions.

    A float ndarray of ``n_features`` columns with finite values, for a model
    fitted without feature names: validate_data would pass it unchanged, so
    predict (and later partial_fit calls) skip its fixed cost (most of a
    1-row call). Anything else takes the general path, which raises
    scikit-learn's errors. Without check_finite the caller checks the values
    (the kernels can, on the way: see fastmlp._kernels._passes.forward).
    """
    return (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.shape[0] > 0
        and X.shape[1] == n_features
        and X.dtype in (np.float32, np.float64)
        and not has_feature_names
        and (not check_finite or bool(np.isfinite(X.sum() if X.size > 64 else X).all()))
    )


def is_fast_fit_input(X, y, y_kinds, n_features, has_feature_names, check_x=True):
    """True for a later fit/partial_fit call whose X passes is_fast_input and
    whose y is a plain 1-D array of a kind in ``y_kinds`` (finite, of X's
    length): validate_data(reset=False) would return both unchanged. Without
    check_x, X's values are left for the caller to check."""
    return (
        type(y) is np.ndarray
        and y.ndim == 1
        and y.dtype.kind in y_kinds
        and (y.dtype.kind != "f" or bool(np.isfinite(y).all()))
        and n_features is not None
        and is_fast_input(X, n_features, has_feature_names, check_finite=check_x)
        and y.shape[0] == X.shape[0]
    )


def check_layers(coefs, intercepts, units):
    """coefs_/intercepts_ (maybe assigned by the user) fit layer widths units.

    The kernels trust the shapes, so a mismatch is a ValueError here.
    """
    expected = [((a, b), (b,)) for a, b in zip(units[:-1], units[1:])]
    got = [(np.shape(c), np.shape(b)) for c, b in zip(coefs, intercepts)]
    if len(coefs) != len(intercepts) or got != expected:
        raise ValueError(
            f"The shapes of coefs_ and intercepts_ {got} do not match the "
            f"network of layer widths {units}."
        )
