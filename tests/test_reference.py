"""The NumPy reference trainer (tests/_reference.py) against scikit-learn,
and fastmlp against it: three implementations, one model."""

import numpy as np
import pytest
from sklearn import neural_network as sk
from sklearn.preprocessing import LabelBinarizer

import fastmlp

import _reference
from _oracle import classification, fit_both, regression, rel_diff

pytestmark = pytest.mark.usefixtures("quiet")

CASES = [
    # (name, estimator, data kind, estimator kwargs, weighted)
    ("adam-multiclass-relu", "MLPClassifier", "multiclass", dict(hidden_layer_sizes=(12,)),
     False),
    ("sgd-nesterov-binary-tanh-sw", "MLPClassifier", "binary",
     dict(hidden_layer_sizes=(9, 7), activation="tanh", solver="sgd", batch_size=40,
          learning_rate_init=0.05), True),
    ("sgd-classical-multilabel-logistic-invscaling", "MLPClassifier", "multilabel",
     dict(hidden_layer_sizes=(8,), activation="logistic", solver="sgd",
          nesterovs_momentum=False, learning_rate="invscaling", power_t=0.3,
          learning_rate_init=0.2, batch_size=50), False),
    ("adam-regression-multi-identity-alpha", "MLPRegressor", "multi",
     dict(hidden_layer_sizes=(10,), activation="identity", alpha=0.1, batch_size=33), True),
    ("sgd-poisson-noshuffle", "MLPRegressor", "poisson",
     dict(loss="poisson", hidden_layer_sizes=(6,), solver="sgd", learning_rate_init=0.001,
          shuffle=False), False),
    ("adam-stopping-rule", "MLPRegressor", "single",
     dict(hidden_layer_sizes=(8,), tol=0.05, n_iter_no_change=2, max_iter=40), False),
]


def _encoded(name, kind):
    """Data, its encoded targets and the loss, as the estimator trains on them."""
    if name == "MLPClassifier":
        X, y = classification(kind)
        Y = LabelBinarizer().fit_transform(y).astype(float)
        loss = "log_loss" if kind == "multiclass" else "binary_log_loss"
    else:
        X, y = regression(kind)
        Y, loss = y.reshape(len(y), -1), "poisson" if kind == "poisson" else "squared_error"
    return X, y, Y, loss


@pytest.mark.parametrize("case, Est, kind, kwargs, weighted", CASES, ids=[c[0] for c in CASES])
def test_reference_trainer_matches_sklearn_and_fastmlp(case, Est, kind, kwargs, weighted):
    X, y, Y, loss = _encoded(Est, kind)
    sw = np.random.RandomState(3).uniform(0.5, 2, len(X)) if weighted else None
    params = {"random_state": 2, "max_iter": 6, **kwargs}
    ref = _reference.fit(X, Y, loss=loss, sample_weight=sw,
                         **{k: v for k, v in params.items() if k != "loss"})
    ours, theirs = fit_both(getattr(fastmlp, Est)(**params), getattr(sk, Est)(**params),
                            X, y, sw)
    assert ref.n_iter == theirs.n_iter_ == ours.n_iter_
    if "n_iter_no_change" in kwargs:
        assert ref.n_iter < params["max_iter"]  # the stopping rule ended it
    assert ref.t == theirs.t_
    for est, tol in ((theirs, 1e-10), (ours, 1e-9)):
        for a, b in zip(est.coefs_ + est.intercepts_, ref.coefs + ref.intercepts):
            assert rel_diff(a, b) <= tol, est
        assert rel_diff(est.loss_curve_, ref.loss_curve) <= tol, est
