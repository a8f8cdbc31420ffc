"""fastmlp against scikit-learn 1.9 as the oracle, same random_state.

Short runs (a few epochs), so rounding differences cannot grow chaotically:
per layer max|a-b|/max|b| <= 1e-6 in float64 and <= 1e-3 in float32 (where
scikit-learn also computes parts in float64). The configurations cover every
option once rather than every combination.
"""

import numpy as np
import pytest
from sklearn import neural_network as sk

import fastmlp

from _oracle import TOL, classification, fit_both, regression, rel_diff, worst_difference

# (name, estimator kwargs, data kind, dtype, with sample_weight)
CLASSIFIER_CASES = [
    ("adam-multiclass-relu", dict(hidden_layer_sizes=(16,)), "multiclass", np.float64, False),
    ("adam-binary-tanh-2layers-sw", dict(hidden_layer_sizes=(12, 7), activation="tanh"),
     "binary", np.float64, True),
    ("sgd-nesterov-multilabel-logistic-batch1", dict(
        solver="sgd", activation="logistic", batch_size=1, learning_rate_init=0.05,
        hidden_layer_sizes=(8,)), "multilabel", np.float64, False),
    ("sgd-classical-multiclass-identity-noshuffle", dict(
        solver="sgd", nesterovs_momentum=False, activation="identity", batch_size=37,
        shuffle=False, learning_rate_init=0.01), "multiclass", np.float64, True),
    ("sgd-plain-binary-relu-batch37", dict(
        solver="sgd", momentum=0.0, batch_size=37, learning_rate_init=0.1,
        hidden_layer_sizes=(10, 10)), "binary", np.float64, False),
    ("sgd-invscaling", dict(solver="sgd", learning_rate="invscaling", power_t=0.3,
                            learning_rate_init=0.2, batch_size=50), "multiclass", np.float64, False),
    ("no-hidden-layer", dict(hidden_layer_sizes=()), "multiclass", np.float64, False),
    ("adam-multiclass-f32", dict(hidden_layer_sizes=(20,)), "multiclass", np.float32, False),
    ("sgd-nesterov-binary-f32-sw-noshuffle", dict(
        solver="sgd", shuffle=False, learning_rate_init=0.05, activation="tanh"),
     "binary", np.float32, True),
    ("adam-multilabel-f32-batch1", dict(batch_size=1, hidden_layer_sizes=(6,)),
     "multilabel", np.float32, False),
]

REGRESSOR_CASES = [
    ("adam-single-relu-sw", dict(hidden_layer_sizes=(16,)), "single", np.float64, True),
    ("sgd-nesterov-multi-tanh", dict(solver="sgd", activation="tanh", learning_rate_init=0.01,
                                     batch_size=20), "multi", np.float64, False),
    ("poisson-adam-logistic", dict(loss="poisson", activation="logistic",
                                   learning_rate_init=0.01), "poisson", np.float64, False),
    ("poisson-sgd-f32-sw", dict(loss="poisson", solver="sgd", learning_rate_init=0.001,
                                hidden_layer_sizes=(5,)), "poisson", np.float32, True),
    ("sgd-classical-single-f32-batch1", dict(
        solver="sgd", nesterovs_momentum=False, batch_size=1, learning_rate_init=0.001),
     "single", np.float32, False),
    ("adam-multi-identity-noshuffle-f32", dict(activation="identity", shuffle=False,
                                               batch_size=29), "multi", np.float32, True),
]


def _check(ours, theirs, X, dtype, predict_fns):
    tol = TOL[dtype]
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    assert len(ours.loss_curve_) == len(theirs.loss_curve_)
    for i, (a, b) in enumerate(zip(ours.coefs_, theirs.coefs_)):
        assert a.dtype == dtype and a.shape == b.shape
        assert rel_diff(a, b) <= tol, f"coefs_[{i}]"
    for i, (a, b) in enumerate(zip(ours.intercepts_, theirs.intercepts_)):
        assert a.dtype == dtype and rel_diff(a, b) <= tol, f"intercepts_[{i}]"
    assert rel_diff(ours.loss_curve_, theirs.loss_curve_) <= tol
    assert abs(ours.loss_ - theirs.loss_) <= tol * abs(theirs.loss_)
    for fn in predict_fns:
        a, b = getattr(ours, fn)(X), getattr(theirs, fn)(X)
        if a.dtype.kind == "f":
            assert a.dtype == dtype
            assert rel_diff(a, b) <= tol, fn
        else:
            # Labels may differ only where scikit-learn's own output sits at
            # the decision threshold within the tolerance.
            assert np.mean(np.asarray(a) != np.asarray(b)) <= 0.01, fn
    for attr in ("n_layers_", "n_outputs_", "out_activation_", "n_features_in_"):
        assert getattr(ours, attr) == getattr(theirs, attr)


@pytest.mark.parametrize("name, kwargs, kind, dtype, weighted", CLASSIFIER_CASES,
                         ids=[c[0] for c in CLASSIFIER_CASES])
def test_classifier_matches_sklearn(name, kwargs, kind, dtype, weighted):
    X, y = classification(kind)
    X = X.astype(dtype)
    sw = np.random.RandomState(1).uniform(0.5, 2, len(X)) if weighted else None
    params = dict(random_state=3, max_iter=8, **kwargs)
    ours, theirs = fit_both(fastmlp.MLPClassifier(**params), sk.MLPClassifier(**params),
                            X, y, sw)
    _check(ours, theirs, X, dtype, ["predict_proba", "predict"])
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)


@pytest.mark.parametrize("name, kwargs, kind, dtype, weighted", REGRESSOR_CASES,
                         ids=[c[0] for c in REGRESSOR_CASES])
def test_regressor_matches_sklearn(name, kwargs, kind, dtype, weighted):
    X, y = regression(kind)
    X = X.astype(dtype)
    sw = np.random.RandomState(1).uniform(0.5, 2, len(X)) if weighted else None
    params = dict(random_state=5, max_iter=10, **kwargs)
    ours, theirs = fit_both(fastmlp.MLPRegressor(**params), sk.MLPRegressor(**params),
                            X, y, sw)
    _check(ours, theirs, X, dtype, ["predict"])


@pytest.mark.parametrize("Est, data", [
    ("MLPClassifier", lambda: classification("multiclass")),
    ("MLPRegressor", lambda: regression("single")),
])
def test_stopping_rule_matches_sklearn(Est, data):
    # A large tol makes n_iter_no_change trigger within a few epochs.
    X, y = data()
    params = dict(random_state=0, max_iter=50, tol=0.05, n_iter_no_change=2,
                  hidden_layer_sizes=(8,))
    ours, theirs = fit_both(getattr(fastmlp, Est)(**params), getattr(sk, Est)(**params), X, y)
    assert theirs.n_iter_ < 50  # the rule, not max_iter, stopped it
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.best_loss_ == pytest.approx(theirs.best_loss_, rel=1e-9)
    assert ours._no_improvement_count == theirs._no_improvement_count
    assert worst_difference(ours, theirs) <= 1e-6


def test_adaptive_learning_rate_matches_sklearn():
    X, y = classification("multiclass")
    params = dict(solver="sgd", learning_rate="adaptive", tol=0.1, n_iter_no_change=1,
                  random_state=0, max_iter=12, hidden_layer_sizes=(8,),
                  learning_rate_init=0.05)
    ours, theirs = fit_both(fastmlp.MLPClassifier(**params), sk.MLPClassifier(**params), X, y)
    assert theirs._optimizer.learning_rate < 0.05  # the rate was really divided
    assert ours._optimizer.learning_rate == pytest.approx(theirs._optimizer.learning_rate)
    assert ours.n_iter_ == theirs.n_iter_
    assert worst_difference(ours, theirs) <= 1e-6


def test_random_state_instance_and_refit_match_sklearn():
    # A RandomState instance continues its stream across fits, as in sklearn.
    X, y = classification("binary")
    ours = fastmlp.MLPClassifier(random_state=np.random.RandomState(7), max_iter=3)
    theirs = sk.MLPClassifier(random_state=np.random.RandomState(7), max_iter=3)
    for _ in range(2):
        fit_both(ours, theirs, X, y)
        assert worst_difference(ours, theirs) <= 1e-6


def test_batch_size_larger_than_n_warns_and_clips():
    X, y = classification("multiclass", n=40)
    params = dict(batch_size=100, random_state=0, max_iter=3)
    with pytest.warns(UserWarning, match="batch_size"):
        ours = fastmlp.MLPClassifier(**params).fit(X, y)
    with pytest.warns(UserWarning, match="batch_size"):
        theirs = sk.MLPClassifier(**params).fit(X, y)
    assert worst_difference(ours, theirs) <= 1e-6
