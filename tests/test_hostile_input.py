"""Hostile input: random shapes, dtypes, layouts and values; divergence."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import sklearn.neural_network as sk
from sklearn.datasets import load_iris

import fastmlp
from _child import run_python
from _snapshot import assert_unchanged, snapshot


def test_random_hostile_inputs_work_or_raise_like_scikit_learn():
    pytest.importorskip("hypothesis")  # (only this test needs it)
    # Property-based (tests/_hostile.py), in a child process: a crash in a
    # kernel fails this test with the child's output instead of the run.
    proc = run_python([str(Path(__file__).with_name("_hostile.py"))], timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "all examples passed" in proc.stderr


def _outcome(make, X, y):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = make().fit(X, y)
        return "ok", model
    except ValueError as exc:
        return "error", str(exc)


EXPLODING = [
    # (estimator kind, solver, learning_rate_init, X scale, dtype)
    ("regressor", "sgd", 1e6, 1.0, np.float64),
    ("regressor", "sgd", 1e6, 1.0, np.float32),
    ("classifier", "sgd", 0.1, 1e30, np.float64),
    ("classifier", "sgd", 0.1, 1e30, np.float32),
    ("regressor", "adam", 1e6, 1.0, np.float64),
    ("classifier", "adam", 1e3, 1e20, np.float64),
    ("regressor", "lbfgs", 1e-3, 1e200, np.float64),
]


@pytest.mark.parametrize("kind, solver, lr, scale, dtype", EXPLODING)
def test_divergence_ends_like_scikit_learn_never_with_nan_weights(kind, solver, lr, scale,
                                                                   dtype):
    X, y = load_iris(return_X_y=True)
    X = (X * scale).astype(dtype)
    if kind == "regressor":
        y = y.astype(float)
    params = dict(solver=solver, learning_rate_init=lr, max_iter=20, random_state=0,
                  activation="identity")
    ours_cls, theirs_cls = ((fastmlp.MLPRegressor, sk.MLPRegressor) if kind == "regressor"
                            else (fastmlp.MLPClassifier, sk.MLPClassifier))
    ours = _outcome(lambda: ours_cls(**params), X, y)
    theirs = _outcome(lambda: theirs_cls(**params), X, y)
    assert ours[0] == theirs[0]
    if ours[0] == "error":
        assert ours[1] == theirs[1]
        assert "non-finite parameter weights" in ours[1]
    else:
        assert all(np.isfinite(c).all() for c in ours[1].coefs_ + ours[1].intercepts_)
        assert np.isfinite(ours[1].predict(X).astype(float)).all()


def test_diverging_partial_fit_raises_and_keeps_the_fitted_model():
    X, y = load_iris(return_X_y=True)
    model = fastmlp.MLPRegressor(solver="sgd", activation="identity", batch_size=1, max_iter=5,
                                 random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y.astype(float))
    before = [c.copy() for c in model.coefs_ + model.intercepts_]
    prediction = model.predict(X)
    model.set_params(learning_rate_init=1e8)
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        model.partial_fit(X * 1e30, y.astype(float))
    for a, b in zip(before, model.coefs_ + model.intercepts_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(prediction, model.predict(X))


def _fitted_iris_pair(dtype=np.float64, n_threads=None):
    """(ours, theirs, X): the same small classifier fitted on iris by both."""
    X, y = load_iris(return_X_y=True)
    X = X.astype(dtype)
    ours = fastmlp.MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0,
                                 n_threads=n_threads)
    theirs = sk.MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours.fit(X, y)
        theirs.fit(X, y)
    return ours, theirs, X


@pytest.mark.parametrize("n_rows, bad_row", [(1, 0), (20, 19), (700, 3), (5000, 4500)])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_on_nan_or_inf_raises_scikit_learns_error(n_rows, bad_row, bad, dtype):
    # Found anywhere: the 1-row path, one chunk, or one of several chunks
    # that threads take (the check runs inside predict's kernel).
    ours, theirs, X = _fitted_iris_pair(dtype)
    X_test = np.tile(X, (n_rows // len(X) + 1, 1))[:n_rows]
    X_test[bad_row, 2] = bad
    with pytest.raises(ValueError) as theirs_error:
        theirs.predict_proba(X_test)
    for method in (ours.predict_proba, ours.predict):
        with pytest.raises(ValueError) as ours_error:
            method(X_test)
        assert str(ours_error.value) == str(theirs_error.value)
    X_test[bad_row, 2] = 0.5
    ours.predict_proba(X_test)  # and the same rows, made finite, predict


def test_a_batch_beyond_blas_32_bit_sizes_is_a_clear_error():
    from fastmlp._training import resolve_batch_size

    n = 2**31 + 10  # rows of a (memory-mapped) X this large
    assert resolve_batch_size("auto", n) == 200
    assert resolve_batch_size(2**31 - 1, n) == 2**31 - 1
    with pytest.raises(ValueError, match="32-bit"):
        resolve_batch_size(2**31, n)


def test_a_layer_beyond_blas_32_bit_sizes_is_a_clear_error():
    X, y = load_iris(return_X_y=True)
    model = fastmlp.MLPClassifier(hidden_layer_sizes=(2**31,), max_iter=1)
    with pytest.raises(ValueError, match="32-bit"):
        model.fit(X, y)
    assert not hasattr(model, "coefs_")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("column", [0, 3])
def test_predict_finds_nan_or_inf_under_zero_weights(bad, column):
    # Large X is checked through its first-layer product: a non-finite value
    # must show there even where every weight it meets is zero (inf * 0).
    ours, theirs, X = _fitted_iris_pair(n_threads=2)
    for model in (ours, theirs):
        model.coefs_[0][column] = 0.0
    X_test = np.tile(X, (5000 // len(X) + 1, 1))[:5000]
    X_test[4321, column] = bad
    with pytest.raises(ValueError) as theirs_error:
        theirs.predict(X_test)
    with pytest.raises(ValueError) as ours_error:
        ours.predict(X_test)
    assert str(ours_error.value) == str(theirs_error.value)


@pytest.mark.parametrize("n_rows", [20, 5000])
def test_predict_on_finite_x_whose_product_overflows_does_not_raise(n_rows):
    # float32 X near its largest value: X @ W_0 overflows to infinity, which
    # the kernel's check cannot tell from an infinite X; X itself is finite,
    # so predict goes on, as scikit-learn's does.
    ours, theirs, X = _fitted_iris_pair(np.float32, n_threads=2)
    X_test = np.tile(X, (n_rows // len(X) + 1, 1))[:n_rows]
    X_test[n_rows // 2] = np.finfo(np.float32).max
    with np.errstate(all="ignore"):
        expected = theirs.predict_proba(X_test)
        got = ours.predict_proba(X_test)
    assert got.shape == expected.shape
    normal = np.ones(n_rows, dtype=bool)
    normal[n_rows // 2] = False
    np.testing.assert_allclose(got[normal], expected[normal], rtol=1e-4, atol=1e-6)


def _ending(call):
    try:
        call()
        return "ok"
    except ValueError as exc:
        return f"ValueError: {exc}"


@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("dtype, n_threads, shuffle", [(np.float32, 1, True),
                                                      (np.float64, 2, True),
                                                      (np.float32, 2, False)])
def test_later_partial_fit_on_nan_or_inf_raises_like_sklearn_and_keeps_the_model(
        where, bad, dtype, n_threads, shuffle):
    # Later sgd/adam calls find NaN/inf in X inside the epoch's kernel (no pass
    # of their own over X); the call must still end as scikit-learn's does,
    # with its error and the fitted model untouched.
    rng = np.random.RandomState(0)
    X = rng.randn(3000, 30).astype(dtype)
    y = (X[:, 0] > 0).astype(int)
    params = dict(hidden_layer_sizes=(64, 32), batch_size=100, shuffle=shuffle,
                  random_state=0)
    ours = fastmlp.MLPClassifier(n_threads=n_threads, **params).partial_fit(X, y, classes=[0, 1])
    theirs = sk.MLPClassifier(**params).partial_fit(X, y, classes=[0, 1])
    row = {"first": 0, "middle": 1234, "last": len(X) - 1}[where]
    X_bad = X.copy()
    X_bad[row, 17] = bad
    before = snapshot(ours)
    expected = _ending(lambda: theirs.partial_fit(X_bad, y))
    assert expected.startswith("ValueError: Input X contains")
    assert _ending(lambda: ours.partial_fit(X_bad, y)) == expected
    assert_unchanged(ours, before)
    ours.partial_fit(X, y)  # and goes on as before
    theirs.partial_fit(X, y)
    assert ours.t_ == theirs.t_ == 2 * len(X)
    for a, b in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)


def test_nan_x_is_reported_before_other_errors_like_sklearn():
    # scikit-learn validates X before y's classes, sample weights or the
    # optimizer; with X's check moved into the kernel the order must hold.
    rng = np.random.RandomState(1)
    X = rng.randn(400, 6)
    y = (X[:, 0] > 0).astype(int)
    X_bad = X.copy()
    X_bad[7, 2] = np.nan
    cases = {
        "new class": lambda m: m.partial_fit(X_bad, y + 2),
        "bad weights": lambda m: m.partial_fit(X_bad, y, sample_weight=np.ones(3)),
        "warm start": lambda m: m.set_params(warm_start=True, max_iter=3).fit(X_bad, y),
        "regressor": None,
    }
    for name, call in cases.items():
        outcomes = []
        for module in (fastmlp, sk):
            if name == "regressor":
                model = module.MLPRegressor(hidden_layer_sizes=(5,), random_state=0)
                model.partial_fit(X, X[:, 1])
                outcomes.append(_ending(lambda: model.partial_fit(X_bad, X[:, 1])))
            else:
                model = module.MLPClassifier(hidden_layer_sizes=(5,), random_state=0)
                model.partial_fit(X, y, classes=[0, 1])
                outcomes.append(_ending(lambda: call(model)))
        assert outcomes[0] == outcomes[1], name
        assert outcomes[0].startswith("ValueError: Input X contains NaN"), name


def test_later_partial_fit_on_finite_x_whose_product_overflows_ends_like_sklearn():
    # float32 X near its largest value overflows the first layer's product:
    # the kernel's check cannot tell that from an infinite X, so X itself is
    # checked; it is finite, and the call ends as scikit-learn's does.
    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    outcomes = []
    for module in (fastmlp, sk):
        model = module.MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
        model.partial_fit(X, y, classes=[0, 1, 2])
        X_big = X.copy()
        X_big[3] = np.finfo(np.float32).max
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcomes.append(_ending(lambda: model.partial_fit(X_big, y)))
    assert outcomes[0] == outcomes[1]


def test_nan_x_stops_a_later_fit_in_its_first_epoch(capsys):
    # The kernel's check ends the call after the first epoch: no further
    # epochs on NaN weights, nothing printed (scikit-learn prints nothing).
    rng = np.random.RandomState(2)
    X = rng.randn(500, 8)
    y = (X[:, 0] > 0).astype(int)
    X_bad = X.copy()
    X_bad[250, 3] = np.nan
    printed = []
    for module in (fastmlp, sk):
        model = module.MLPClassifier(hidden_layer_sizes=(6,), max_iter=4, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        model.set_params(warm_start=True, verbose=True)
        capsys.readouterr()
        with pytest.raises(ValueError, match="Input X contains NaN"):
            model.fit(X_bad, y)
        printed.append(capsys.readouterr().out)
    assert printed[0] == printed[1] == ""
