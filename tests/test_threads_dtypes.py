"""Thread-count independence and dtype preservation."""

import os
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastmlp


def _assert_identical(fits, X):
    """Every fit has the same bits as the first: weights and predictions."""
    for other in fits[1:]:
        for a, b in zip(fits[0].coefs_ + fits[0].intercepts_, other.coefs_ + other.intercepts_):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(fits[0].predict_proba(X), other.predict_proba(X))


def _fits(X, y, n_threads_values=(1, 2, 3), **params):
    """One MLPClassifier(random_state=0, **params) fitted per n_threads value."""
    fits = []
    for n_threads in n_threads_values:
        clf = fastmlp.MLPClassifier(random_state=0, n_threads=n_threads, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(clf.fit(X, y))
    return fits


def _data(n=600, f=200, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, f)
    y = (X[:, :3].sum(1) > 0).astype(int) + (X[:, 3] > 1)
    return X, y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_results_are_bit_identical_for_any_n_threads(dtype, solver):
    # Large enough that every kernel takes its parallel path with 2+ threads.
    X, y = _data()
    X = X.astype(dtype)
    fits = _fits(X, y, hidden_layer_sizes=(128, 64), solver=solver, max_iter=3)
    _assert_identical(fits, X)
    assert all(fits[0].loss_curve_ == other.loss_curve_ for other in fits[1:])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chunked_predict_is_bit_identical_for_any_n_threads(dtype):
    # 3000 rows: several predict chunks, which threads take whole.
    X, y = _data()
    X = X.astype(dtype)
    (clf,) = _fits(X, y, (None,), hidden_layer_sizes=(128, 64), max_iter=2)
    big = np.random.RandomState(1).randn(3000, X.shape[1]).astype(dtype)
    results = []
    for n_threads in (1, 2, 3, 10_000):  # 10_000: capped, not 10_000 threads started
        clf.set_params(n_threads=n_threads)
        results.append(clf.predict_proba(big))
    for other in results[1:]:
        np.testing.assert_array_equal(results[0], other)
    # A chunk's rows do not depend on the rows around them.
    np.testing.assert_array_equal(results[0][:1024], clf.predict_proba(big[:1024]))
    # And they are the network's output (float64 recomputation).
    A = big.astype(np.float64)
    for i, (W, b) in enumerate(zip(clf.coefs_, clf.intercepts_)):
        A = A @ W.astype(np.float64) + b
        A = np.maximum(A, 0) if i < len(clf.coefs_) - 1 else A
    A = np.exp(A - A.max(1, keepdims=True))
    A /= A.sum(1, keepdims=True)
    np.testing.assert_allclose(results[0], A, rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-6 if dtype == np.float32 else 1e-14)


def test_float32_stays_float32_and_float64_input_upcasts():
    X, y = _data(n=120, f=10)
    X32 = X.astype(np.float32)
    clf = fastmlp.MLPClassifier(hidden_layer_sizes=(7,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X32, y)
    assert all(c.dtype == np.float32 for c in clf.coefs_ + clf.intercepts_)
    assert clf.predict_proba(X32).dtype == np.float32
    # As with NumPy (and scikit-learn), float64 input to a float32 model gives float64.
    proba64 = clf.predict_proba(X)
    assert proba64.dtype == np.float64
    np.testing.assert_allclose(proba64, clf.predict_proba(X32), rtol=1e-5)

    reg = fastmlp.MLPRegressor(hidden_layer_sizes=(5,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X32, X[:, 0])  # float64 y is cast to X's dtype
    assert reg.predict(X32).dtype == np.float32
    assert all(c.dtype == np.float32 for c in reg.coefs_)


def test_integer_input_becomes_float64():
    X, y = _data(n=80, f=6)
    Xi = np.round(X * 10).astype(np.int64)
    clf = fastmlp.MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Xi, y)
    assert clf.coefs_[0].dtype == np.float64
    assert clf.predict_proba(Xi).dtype == np.float64


@pytest.mark.parametrize("solver, sparse", [("adam", True), ("lbfgs", False), ("lbfgs", True)])
def test_sparse_and_lbfgs_are_bit_identical_for_any_n_threads(solver, sparse):
    import scipy.sparse as sp

    X, y = _data(n=1500, f=300)
    X = np.where(np.abs(X) > 1.0, X, 0.0)  # ~30% nonzeros
    if sparse:
        X = sp.csr_matrix(X)
    # Sizes that put every kernel (sparse rows and gradient, GEMM parts,
    # chunked L-BFGS gradient) on its parallel path with 2+ threads.
    fits = _fits(X, y, hidden_layer_sizes=(300,), solver=solver, max_iter=3, batch_size=500)
    _assert_identical(fits, X)


DIGEST_CHILD = """
import hashlib, sys, warnings
import numpy as np
import fastmlp
warnings.simplefilter("ignore")
rng = np.random.RandomState(0)
X = rng.randn(600, 200).astype(np.float32)
y = (X[:, :3].sum(1) > 0).astype(int)
h = hashlib.sha256()
for solver in ("adam", "sgd", "lbfgs"):
    clf = fastmlp.MLPClassifier((128, 64), solver=solver, max_iter=3, random_state=0,
                                n_threads=int(sys.argv[1])).fit(X, y)
    for a in clf.coefs_ + clf.intercepts_ + [clf.predict_proba(X)]:
        h.update(a.tobytes())
print(h.hexdigest())
"""


def test_bits_are_the_same_across_processes_and_more_threads_than_cores():
    from _child import run_python

    digests = set()
    for n_threads in (1, 2, 4, 2 * (os.cpu_count() or 1) + 1):
        proc = run_python(["-c", DIGEST_CHILD, str(n_threads)], timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        digests.add(proc.stdout.strip())
    assert len(digests) == 1, digests


def test_n_threads_none_honours_omp_num_threads_and_show_config_says_so():
    from _child import run_python

    child = ("import io, fastmlp; from fastmlp._threads import resolve_n_threads\n"
             "out = io.StringIO(); fastmlp.show_config(file=out)\n"
             "print(resolve_n_threads(None), resolve_n_threads(5)); print(out.getvalue())")
    proc = run_python(["-c", child], timeout=120, env_extra={"OMP_NUM_THREADS": "3"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    first, *config = proc.stdout.splitlines()
    from fastmlp._kernels._openmp_helpers import openmp_enabled

    assert first == ("3 5" if openmp_enabled() else "1 1")
    assert any(line.strip().startswith("OpenMP: ") for line in config)
    if openmp_enabled():
        assert "  max threads: 3 (n_threads=None uses this)" in config
