"""Threads and processes: concurrent predict and fit, joblib, fork after OpenMP."""

import os
import textwrap
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_info

import fastmlp
from _child import run_python


def _data(n=3000, f=50, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, f)
    y = (X[:, :3].sum(1) > 0).astype(int) + (X[:, 3] > 1)
    return X, y


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _blas_threads():
    return sorted((d["internal_api"], d["filepath"], d["num_threads"])
                  for d in threadpool_info() if d["user_api"] == "blas")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_from_8_threads_at_once_gives_the_serial_result(dtype):
    X, y = _data()
    X = X.astype(dtype)
    clf = _fit(fastmlp.MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=2,
                                     random_state=0), X, y)
    reg = _fit(fastmlp.MLPRegressor(hidden_layer_sizes=(16,), max_iter=2, random_state=0),
               X, y.astype(float))
    # Large chunks (several threads' worth), small ones and single rows.
    chunks = [X, X[: 1500], np.ascontiguousarray(X[1::3])] + [X[i:i + 7] for i in range(5)]
    chunks += [X[i:i + 1] for i in range(5)]
    calls = [(f, c) for c in chunks for f in (clf.predict_proba, clf.predict, reg.predict)]
    expected = [f(c) for f, c in calls]
    before = _blas_threads()
    barrier = threading.Barrier(8)

    def worker(k):
        barrier.wait()
        return [f(c) for f, c in calls[k::8]]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(worker, range(8)))
    for k in range(8):
        for got, want in zip(results[k], expected[k::8]):
            np.testing.assert_array_equal(got, want)
    assert _blas_threads() == before


def test_two_fits_in_two_threads_at_once_match_serial_fits():
    X, y = _data(n=2000)
    make = [lambda: fastmlp.MLPClassifier(hidden_layer_sizes=(64,), max_iter=4,
                                          random_state=1, n_threads=2),
            lambda: fastmlp.MLPRegressor(hidden_layer_sizes=(32, 16), solver="sgd",
                                         max_iter=4, random_state=2, n_threads=1)]
    targets = [y, y.astype(float)]
    serial = [_fit(m(), X, t) for m, t in zip(make, targets)]
    before = _blas_threads()
    barrier = threading.Barrier(2)

    def run(k):
        barrier.wait()
        return [_fit(make[k](), X, targets[k]) for _ in range(3)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        parallel = list(pool.map(run, range(2)))
    for k in range(2):
        for est in parallel[k]:
            for a, b in zip(serial[k].coefs_ + serial[k].intercepts_,
                            est.coefs_ + est.intercepts_):
                np.testing.assert_array_equal(a, b)
    assert _blas_threads() == before


def test_grid_search_with_process_workers():
    X, y = _data(n=300, f=10)
    grid = {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(8,), (16,)]}
    est = fastmlp.MLPClassifier(max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        serial = GridSearchCV(est, grid, cv=3, n_jobs=1).fit(X, y)
        parallel = GridSearchCV(est, grid, cv=3, n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(serial.cv_results_["mean_test_score"],
                                  parallel.cv_results_["mean_test_score"])
    assert serial.best_params_ == parallel.best_params_
    np.testing.assert_array_equal(serial.predict(X), parallel.predict(X))


FORK_CHILD = textwrap.dedent("""
    import multiprocessing as mp
    import os
    import warnings
    import numpy as np
    import fastmlp

    warnings.simplefilter("ignore")
    rng = np.random.RandomState(0)
    X = rng.randn(3000, 200)
    y = (X[:, 0] > 0).astype(int)

    def fit_predict(seed):
        # Big enough for parallel GEMM parts and chunked predict.
        m = fastmlp.MLPClassifier((256,), max_iter=2, random_state=seed, n_threads=2)
        return float(m.fit(X, y).predict_proba(X).sum())

    # The parent starts the OpenMP thread pool, then forks.
    expected = [fit_predict(s) for s in range(4)]
    from fastmlp._kernels._openmp_helpers import openmp_enabled
    if os.path.isdir("/proc/self/task") and openmp_enabled():
        assert len(os.listdir("/proc/self/task")) > 1, "OpenMP threads did not start"
    with mp.get_context("fork").Pool(2) as pool:
        got = pool.map(fit_predict, range(4))
    assert got == expected, (got, expected)
    print("fork ok")
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")
def test_fork_after_openmp_started_does_not_hang():
    proc = run_python(["-c", FORK_CHILD], timeout=120)
    assert proc.returncode == 0 and "fork ok" in proc.stdout, proc.stderr[-3000:]


def test_blas_is_held_at_one_thread_in_any_python_thread():
    # threadpoolctl >= 3.8 only lets the first Python thread that limited
    # OpenBLAS change it; fastmlp's limiter must work from every thread.
    from fastmlp._threads import blas_single_threaded

    def inside():
        with blas_single_threaded():
            return {d["filepath"]: d["num_threads"] for d in threadpool_info()
                    if d["user_api"] == "blas"}

    before = _blas_threads()
    seen = [inside()]  # main thread first (it becomes threadpoolctl's controller)
    with ThreadPoolExecutor(max_workers=1) as pool:
        seen.append(pool.submit(inside).result())
    seen.append(inside())
    for counts in seen:
        assert counts and all(n == 1 for n in counts.values()), seen
    assert _blas_threads() == before
