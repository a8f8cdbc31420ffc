"""The rest of the surface against scikit-learn as the oracle: lbfgs,
early stopping, partial_fit, warm_start and sparse input.

Tolerances as in test_oracle.py (per layer max|a-b|/max|b|): 1e-6 in float64,
1e-3 in float32. L-BFGS runs are short (<= 25 iterations): scipy's line search
branches on function values, so two implementations that differ at the
rounding level can take different steps once a run is long enough; over these
runs the measured difference is ~1e-13 in float64. With float32 X scikit-learn
still computes parts of the first evaluation in float32 while fastmlp uses
float64 throughout (lbfgs weights are float64 in both): ~1e-5.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import neural_network as sk
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

import fastmlp

from _oracle import TOL, fit_both, param_diff, rel_diff, worst_difference
from _oracle import classification as _classification
from _oracle import regression as _regression


def _clf_data(n_classes=3, n=240, seed=0):
    return _classification(n_classes, n=n, n_features=10, seed=seed)


def _reg_data(n_targets=1, n=220, seed=0):
    return _regression(n_targets, n=n, n_features=8, seed=seed)


@pytest.mark.parametrize("Est, data, dtype, weighted", [
    ("MLPClassifier", lambda: _clf_data(3), np.float64, False),
    ("MLPClassifier", lambda: _clf_data(2), np.float64, True),
    ("MLPRegressor", lambda: _reg_data(2), np.float64, True),
    ("MLPClassifier", lambda: _clf_data(3), np.float32, False),
])
def test_lbfgs_matches_sklearn(Est, data, dtype, weighted):
    X, y = data()
    X = X.astype(dtype)
    sw = np.random.RandomState(2).uniform(0.5, 2, len(X)) if weighted else None
    params = dict(solver="lbfgs", max_iter=25, random_state=1, hidden_layer_sizes=(12,),
                  activation="tanh")
    ours, theirs = fit_both(getattr(fastmlp, Est)(**params), getattr(sk, Est)(**params),
                            X, y, sw)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.coefs_[0].dtype == theirs.coefs_[0].dtype == np.float64
    assert param_diff(ours, theirs) <= TOL[dtype]
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=TOL[dtype])
    assert ours.t_ == theirs.t_ == 0
    assert not hasattr(ours, "loss_curve_")


def test_lbfgs_convergence_warning_matches_sklearn():
    X, y = _clf_data()
    params = dict(solver="lbfgs", max_iter=3, random_state=0, hidden_layer_sizes=(5,))
    with pytest.warns(ConvergenceWarning) as ours:
        fastmlp.MLPClassifier(**params).fit(X, y)
    with pytest.warns(ConvergenceWarning) as theirs:
        sk.MLPClassifier(**params).fit(X, y)
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]


@pytest.mark.parametrize("Est, data, dtype, weighted", [
    ("MLPClassifier", lambda: _clf_data(2), np.float64, False),   # stratified split
    ("MLPClassifier", lambda: _clf_data(4), np.float64, True),    # unstratified split
    ("MLPRegressor", lambda: _reg_data(1), np.float64, True),
    ("MLPClassifier", lambda: _clf_data(2), np.float32, False),
])
def test_early_stopping_matches_sklearn(Est, data, dtype, weighted):
    X, y = data()
    X = X.astype(dtype)
    sw = np.random.RandomState(2).uniform(0.5, 2, len(X)) if weighted else None
    params = dict(early_stopping=True, validation_fraction=0.2, max_iter=20, random_state=0,
                  hidden_layer_sizes=(10,), n_iter_no_change=3, tol=1e-3)
    ours, theirs = fit_both(getattr(fastmlp, Est)(**params), getattr(sk, Est)(**params),
                            X, y, sw)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.best_loss_ is None and theirs.best_loss_ is None
    assert rel_diff(ours.validation_scores_, theirs.validation_scores_) <= TOL[dtype]
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_,
                                                        rel=TOL[dtype])
    assert worst_difference(ours, theirs) <= TOL[dtype]  # best weights restored alike


def test_early_stopping_too_small_validation_set_raises_like_sklearn():
    X, y = _clf_data(n=12)
    params = dict(early_stopping=True, validation_fraction=0.05)
    with pytest.raises(ValueError, match="validation set is too small"):
        fastmlp.MLPClassifier(**params).fit(X, y)
    with pytest.raises(ValueError, match="validation set is too small"):
        sk.MLPClassifier(**params).fit(X, y)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_partial_fit_sequence_matches_sklearn(solver):
    X, y = _clf_data(3)
    sw = np.random.RandomState(3).uniform(0.5, 2, len(X))
    params = dict(solver=solver, random_state=0, hidden_layer_sizes=(9,),
                  learning_rate_init=0.01)
    ours, theirs = fastmlp.MLPClassifier(**params), sk.MLPClassifier(**params)
    for i, chunk in enumerate(np.array_split(np.arange(len(X)), 6)):
        classes = [0, 1, 2] if i == 0 else None
        ours.partial_fit(X[chunk], y[chunk], sample_weight=sw[chunk], classes=classes)
        theirs.partial_fit(X[chunk], y[chunk], sample_weight=sw[chunk], classes=classes)
    assert ours.n_iter_ == theirs.n_iter_ == 1
    assert ours.t_ == theirs.t_
    assert worst_difference(ours, theirs) <= 1e-6



@pytest.mark.parametrize("later", [np.array([0, 1, 2]), [2, 1, 0], np.array([0, 1]),
                                   np.array([0, 1, 2, 3]), ["0", "1", "2"]])
def test_partial_fit_classes_on_later_calls_match_sklearn(later):
    """classes= given again later: accepted or refused as by scikit-learn."""
    X, y = _clf_data(3)
    outcomes = []
    for module in (fastmlp, sk):
        est = module.MLPClassifier(hidden_layer_sizes=(5,), random_state=0)
        est.partial_fit(X, y, classes=np.array([0, 1, 2]))
        try:
            est.partial_fit(X, y, classes=later)
            outcomes.append(("ok", est.n_iter_, list(est.classes_)))
        except ValueError as exc:
            outcomes.append(("ValueError", str(exc)))
    assert outcomes[0] == outcomes[1]

def test_partial_fit_regressor_and_its_lbfgs_quirk_match_sklearn():
    X, y = _reg_data(2)
    ours, theirs = fastmlp.MLPRegressor(random_state=0), sk.MLPRegressor(random_state=0)
    for chunk in np.array_split(np.arange(len(X)), 4):
        ours.partial_fit(X[chunk], y[chunk])
        theirs.partial_fit(X[chunk], y[chunk])
    assert worst_difference(ours, theirs) <= 1e-6
    # scikit-learn's MLPRegressor(solver='lbfgs').partial_fit runs a full L-BFGS fit.
    params = dict(solver="lbfgs", max_iter=15, random_state=0, hidden_layer_sizes=(6,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = fastmlp.MLPRegressor(**params).partial_fit(X, y)
        theirs = sk.MLPRegressor(**params).partial_fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ > 1
    assert param_diff(ours, theirs) <= 1e-6


def test_partial_fit_is_unavailable_for_lbfgs_classifier():
    messages = []
    for module in (fastmlp, sk):
        est = module.MLPClassifier(solver="lbfgs")
        assert not hasattr(est, "partial_fit")
        with pytest.raises(AttributeError) as info:
            est.partial_fit
        messages.append(str(info.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("Est, data", [
    ("MLPClassifier", lambda: _clf_data(3)),
    ("MLPRegressor", lambda: _reg_data(1)),
])
def test_warm_start_continuation_matches_sklearn(Est, data):
    X, y = data()
    params = dict(warm_start=True, max_iter=4, random_state=0, hidden_layer_sizes=(8,))
    ours, theirs = getattr(fastmlp, Est)(**params), getattr(sk, Est)(**params)
    for _ in range(3):
        fit_both(ours, theirs, X, y)
    assert len(ours.loss_curve_) == len(theirs.loss_curve_) == 12
    assert ours.n_iter_ == theirs.n_iter_ and ours.t_ == theirs.t_
    assert worst_difference(ours, theirs) <= 1e-6


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_large_weight_gradients_match_sklearn_across_batches_and_calls(solver, n_threads):
    """Weight gradients of >= 2**21 multiply-adds take another path: the GEMM
    adds into a gradient the previous step cleared (see backward). Batches,
    epochs, partial_fit calls and a warm start all follow scikit-learn."""
    X, y = make_classification(n_samples=256, n_features=300, n_informative=20,
                               n_classes=3, random_state=0)
    params = dict(solver=solver, hidden_layer_sizes=(128, 64), batch_size=64, max_iter=3,
                  learning_rate_init=0.01, alpha=1e-3, random_state=0)
    assert 64 * 300 * 128 >= 2**21 > 64 * 128 * 64  # one layer of each kind
    ours = fastmlp.MLPClassifier(n_threads=n_threads, warm_start=True, **params)
    theirs = sk.MLPClassifier(warm_start=True, **params)
    fit_both(ours, theirs, X, y)
    fit_both(ours, theirs, X, y)  # warm start
    for chunk in np.array_split(np.arange(len(X)), 2):
        ours.partial_fit(X[chunk], y[chunk])
        theirs.partial_fit(X[chunk], y[chunk])
    assert ours.t_ == theirs.t_
    assert worst_difference(ours, theirs) <= 1e-6


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("solver, dtype", [("adam", np.float64), ("sgd", np.float32),
                                           ("lbfgs", np.float64)])
def test_sparse_input_matches_sklearn(fmt, solver, dtype):
    rng = np.random.RandomState(0)
    X = sp.random(200, 60, density=0.08, format=fmt, random_state=rng, dtype=dtype)
    y = (np.asarray(X.sum(axis=1)).ravel() > np.median(np.asarray(X.sum(axis=1)))).astype(int)
    params = dict(solver=solver, max_iter=8, random_state=0, hidden_layer_sizes=(7,),
                  batch_size=33)
    ours, theirs = fit_both(fastmlp.MLPClassifier(**params), sk.MLPClassifier(**params), X, y)
    assert param_diff(ours, theirs) <= TOL[dtype]
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X),
                               rtol=TOL[dtype], atol=TOL[dtype])
    # Dense and sparse input give the same fastmlp model.
    dense = fastmlp.MLPClassifier(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense.fit(X.toarray(), y)
    assert param_diff(dense, ours) <= TOL[dtype]


def test_sparse_regression_partial_fit_matches_sklearn():
    X = sp.random(150, 30, density=0.1, format="csr", random_state=1)
    y = np.asarray(X.sum(axis=1)).ravel()
    ours, theirs = fastmlp.MLPRegressor(random_state=0), sk.MLPRegressor(random_state=0)
    for _ in range(3):
        ours.partial_fit(X, y)
        theirs.partial_fit(X, y)
    assert worst_difference(ours, theirs) <= 1e-6
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-6)


def test_changing_loss_after_a_fit_keeps_the_fitted_output_activation_like_sklearn():
    # scikit-learn keeps out_activation_ from the first fit; predict follows it.
    X, y = _reg_data(1)
    outputs = []
    for module in (fastmlp, sk):
        est = module.MLPRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
        fit_both(est, est, X, y)
        est.set_params(loss="poisson")
        outputs.append((est.out_activation_, est.predict(X)))
    assert outputs[0][0] == outputs[1][0] == "identity"
    np.testing.assert_allclose(outputs[0][1], outputs[1][1], rtol=1e-6)


def test_lbfgs_warm_start_on_float32_x_starts_from_the_float64_weights():
    """After an lbfgs fit coefs_ are float64 (as scikit-learn's); a warm
    start on float32 X starts from them unrounded, so it continues exactly as
    one on the same values in float64 (L-BFGS runs in float64 either way)."""
    X, y = _clf_data(3)
    X32 = X.astype(np.float32)
    params = dict(solver="lbfgs", max_iter=5, random_state=0, hidden_layer_sizes=(6,),
                  warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = fastmlp.MLPClassifier(**params).fit(X32, y)
        assert a.coefs_[0].dtype == np.float64
        a.fit(X32, y)
        b = fastmlp.MLPClassifier(**params).fit(X32, y)
        b.fit(X32.astype(np.float64), y)
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(p, q)
