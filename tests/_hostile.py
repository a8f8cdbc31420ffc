"""Random hostile inputs, fastmlp against scikit-learn (run as a script).

tests/test_hostile_input.py runs this file in a subprocess, so that a crash
(a segfault in a kernel) fails that test instead of killing the test run.

Property: for any shape, dtype, memory layout and values, fastmlp's fit then
predict either works like scikit-learn's (same output shape and dtype kind,
finite probabilities) or raises the exception class scikit-learn raises for
the same input. Both fail alike on divergence ("non-finite parameter
weights"), which is allowed to differ in which of the two reaches it first
only when the values are huge.
"""

import os
import shutil
import sys
import tempfile
import warnings

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import sklearn.neural_network as sk

import fastmlp

FOLDER = tempfile.mkdtemp(prefix="fastmlp-hostile-")  # memory-mapped inputs; removed at exit
DTYPES = ["float64", "float32", "int64", "int32", "uint8", "bool"]
LAYOUTS = ["C", "F", "strided", "readonly", "memmap", "csr", "csc"]
VALUES = ["normal", "huge", "tiny", "constant-column", "zeros", "mixed-scale", "nan", "inf"]


@st.composite
def cases(draw):
    n = draw(st.integers(1, 40))
    return {
        "n": n,
        "f": draw(st.integers(1, 12)),
        "hidden": draw(st.lists(st.integers(1, 40), min_size=1, max_size=3)),
        "batch": draw(st.one_of(st.just("auto"), st.integers(1, n + 5))),
        "solver": draw(st.sampled_from(["adam", "sgd", "lbfgs"])),
        "activation": draw(st.sampled_from(["relu", "tanh", "logistic", "identity"])),
        "early_stopping": draw(st.booleans()),
        "dtype": draw(st.sampled_from(DTYPES)),
        "layout": draw(st.sampled_from(LAYOUTS)),
        "values": draw(st.sampled_from(VALUES)),
        "task": draw(st.sampled_from(["classes", "binary", "one-class", "regression",
                                      "multi-output"])),
        "n_threads": draw(st.sampled_from([1, 2, 3])),
        "seed": draw(st.integers(0, 2**31 - 1)),
    }


def make_data(case, folder):
    rng = np.random.RandomState(case["seed"])
    n, f = case["n"], case["f"]
    X = rng.randn(n, f)
    kind = case["values"]
    if kind == "huge":
        X *= 1e30
    elif kind == "tiny":
        X *= 1e-30
    elif kind == "constant-column":
        X[:, 0] = 3.0
    elif kind == "zeros":
        X[:] = 0
    elif kind == "mixed-scale":
        X *= 10.0 ** rng.randint(-20, 20, size=f)
    elif kind == "nan":
        X[rng.randint(n), rng.randint(f)] = np.nan
    elif kind == "inf":
        X[rng.randint(n), rng.randint(f)] = np.inf
    dtype = np.dtype(case["dtype"])
    if dtype.kind in "iub":
        with np.errstate(invalid="ignore", over="ignore"):
            X = (X > 0) if dtype.kind == "b" else np.nan_to_num(X).clip(-100, 100)
        X = X.astype(dtype)
    else:
        with np.errstate(over="ignore"):
            X = X.astype(dtype)
    layout = case["layout"]
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "strided":
        wide = np.zeros((n, 2 * f), dtype=X.dtype)
        wide[:, ::2] = X
        X = wide[:, ::2]
    elif layout == "readonly":
        X = X.copy()
        X.flags.writeable = False
    elif layout == "memmap":
        fd, path = tempfile.mkstemp(suffix=".dat", dir=folder)  # never reused while mapped
        os.close(fd)
        mm = np.memmap(path, dtype=X.dtype, mode="w+", shape=X.shape)
        mm[:] = X
        mm.flush()
        X = np.memmap(path, dtype=X.dtype, mode="r", shape=X.shape)
    elif layout in ("csr", "csc"):
        X = (sp.csr_matrix if layout == "csr" else sp.csc_matrix)(X)
    task = case["task"]
    if task == "classes":
        y = rng.randint(0, 3, n)
    elif task == "binary":
        y = np.array(["no", "yes"])[rng.randint(0, 2, n)]
    elif task == "one-class":
        y = np.zeros(n, dtype=int)
    elif task == "regression":
        y = rng.randn(n)
    else:
        y = rng.randn(n, 2)
    return X, y


def _output(model, X):
    return model.predict_proba(X) if hasattr(model, "predict_proba") else model.predict(X)


def attempt(call):
    """('ok', call()) or ('error', the exception it raised)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "ok", call()
    except (ValueError, TypeError, MemoryError) as exc:
        return "error", exc


def _message(exc):
    return "non-finite" in str(exc)


@settings(max_examples=int(os.environ.get("FASTMLP_HOSTILE_EXAMPLES", "300")),
          deadline=None, derandomize=True, print_blob=True,
          suppress_health_check=list(HealthCheck))
@given(cases())
def check_random_inputs(case):
    X, y = make_data(case, FOLDER)
    regression = case["task"] in ("regression", "multi-output")
    params = dict(hidden_layer_sizes=case["hidden"], batch_size=case["batch"],
                  solver=case["solver"], activation=case["activation"],
                  early_stopping=case["early_stopping"], max_iter=3, random_state=0)
    ours_cls = fastmlp.MLPRegressor if regression else fastmlp.MLPClassifier
    theirs_cls = sk.MLPRegressor if regression else sk.MLPClassifier
    X_test = X[:3]
    ours = attempt(lambda: _output(ours_cls(n_threads=case["n_threads"], **params).fit(X, y),
                                   X_test))
    theirs = attempt(lambda: _output(theirs_cls(**params).fit(X, y), X_test))
    if ours[0] == theirs[0] == "ok":
        a, b = ours[1], theirs[1]
        assert a.shape == b.shape, (a.shape, b.shape)
        assert a.dtype.kind == b.dtype.kind or (a.dtype.kind in "fiu" and b.dtype.kind
                                                in "fiu"), (a.dtype, b.dtype)
        if a.dtype.kind == "f" and not regression:
            assert np.isfinite(a).all()
        return
    if ours[0] == theirs[0] == "error":
        assert type(ours[1]) is type(theirs[1]), (repr(ours[1]), repr(theirs[1]))
        return
    # One fitted, the other diverged: acceptable only on the edge of divergence.
    failed = ours[1] if ours[0] == "error" else theirs[1]
    assert _message(failed) and case["values"] in ("huge", "mixed-scale"), \
        f"fastmlp: {ours[0]} {ours[1]!r:.300}; scikit-learn: {theirs[0]} {theirs[1]!r:.300}"


_FITTED = {}


def _fitted_pair(regression):
    """A fastmlp and a scikit-learn model fitted alike on clean data (cached)."""
    if regression not in _FITTED:
        rng = np.random.RandomState(0)
        X = rng.randn(30, 4)
        y = X[:, 0] if regression else (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
        pair = []
        for cls in ((fastmlp.MLPRegressor, sk.MLPRegressor) if regression
                    else (fastmlp.MLPClassifier, sk.MLPClassifier)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pair.append(cls(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y))
        _FITTED[regression] = pair
    return _FITTED[regression]


@settings(max_examples=int(os.environ.get("FASTMLP_HOSTILE_EXAMPLES", "300")) // 2,
          deadline=None, derandomize=True, print_blob=True,
          suppress_health_check=list(HealthCheck))
@given(cases(), st.sampled_from([4, 4, 4, 3, 5, 0]), st.booleans())
def check_random_predict_inputs(case, n_features, regression):
    """Predict on hostile input (any width) with models fitted on 4 features."""
    case = dict(case, f=max(n_features, 1))
    X, _ = make_data(case, FOLDER)
    if n_features == 0:
        X = X[:, :0]
    ours, theirs = _fitted_pair(regression)
    a, b = attempt(lambda: _output(ours, X)), attempt(lambda: _output(theirs, X))
    assert a[0] == b[0], f"fastmlp: {a[0]} {a[1]!r:.300}; scikit-learn: {b[0]} {b[1]!r:.300}"
    if a[0] == "error":
        assert type(a[1]) is type(b[1]), (repr(a[1]), repr(b[1]))
    else:
        assert a[1].shape == b[1].shape


if __name__ == "__main__":
    try:
        check_random_inputs()
        check_random_predict_inputs()
    finally:
        shutil.rmtree(FOLDER, ignore_errors=True)
    print("hostile inputs: all examples passed", file=sys.stderr)
