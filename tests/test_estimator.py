"""The estimator surface: errors as scikit-learn raises them, state, pickling."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import neural_network as sk
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import fastmlp

from _snapshot import assert_unchanged, snapshot


pytestmark = pytest.mark.usefixtures("quiet")  # short fits: no ConvergenceWarning


def _data(n=60, f=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, f)
    return X, (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)


def _raised(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - we compare the class
        return type(exc)
    return None


def _assert_same_error(make, call):
    """fastmlp raises exactly the exception class scikit-learn raises."""
    theirs = _raised(lambda: call(make(sk)))
    ours = _raised(lambda: call(make(fastmlp)))
    assert theirs is not None
    assert ours is theirs


X, y = _data()
# Bad data and calls (bad parameters: INVALID_PARAMS below).
BAD_CALLS = {
    "nan-in-X": lambda m: m.MLPClassifier(max_iter=2).fit(np.where(X > 1.5, np.nan, X), y),
    "inf-in-X": lambda m: m.MLPRegressor(max_iter=2).fit(np.where(X > 1.5, np.inf, X), X[:, 0]),
    "nan-in-y": lambda m: m.MLPRegressor(max_iter=2).fit(X, np.where(y, np.nan, 1.0)),
    "empty-X": lambda m: m.MLPClassifier(max_iter=2).fit(X[:0], y[:0]),
    "1d-X": lambda m: m.MLPClassifier(max_iter=2).fit(X[:, 0], y),
    "y-length": lambda m: m.MLPClassifier(max_iter=2).fit(X, y[:-1]),
    "sample-weight-length": lambda m: m.MLPClassifier(max_iter=2).fit(X, y, np.ones(3)),
    "hidden-zero": lambda m: m.MLPClassifier(hidden_layer_sizes=(3, 0), max_iter=2).fit(X, y),
    "regressor-positional-loss": lambda m: m.MLPRegressor((8,)).fit(X, X[:, 0]),
    "multiclass-multioutput": lambda m: m.MLPClassifier(max_iter=2).fit(
        X, np.column_stack([y, 2 * y - (X[:, 2] > 0)])),
    "predict-unfitted": lambda m: m.MLPClassifier().predict(X),
    "predict-n-features": lambda m: m.MLPClassifier(max_iter=2).fit(X, y).predict(X[:, :3]),
    "predict-nan": lambda m: m.MLPRegressor(max_iter=2).fit(X, X[:, 0]).predict(X * np.nan),
    "predict-strings": lambda m: m.MLPClassifier(max_iter=2).fit(X, y).predict(
        X.astype(str)),
    "lbfgs-nan": lambda m: m.MLPClassifier(solver="lbfgs").fit(X * np.nan, y),
    "sparse-nan": lambda m: m.MLPClassifier(max_iter=2).fit(
        sp.csr_matrix(np.where(X > 1.5, np.nan, X)), y),
    "sparse-predict-n-features": lambda m: m.MLPClassifier(max_iter=2).fit(
        sp.csr_matrix(X), y).predict(sp.csr_matrix(X[:, :2])),
    "partial-fit-no-classes": lambda m: m.MLPClassifier().partial_fit(X, y),
    "partial-fit-unseen-class": lambda m: m.MLPClassifier().partial_fit(
        X[:30], y[:30], classes=[0, 1]).partial_fit(X[30:], y[30:] + 1),
    "partial-fit-other-classes": lambda m: m.MLPClassifier().partial_fit(
        X, y, classes=[0, 1]).partial_fit(X, y, classes=[0, 1, 2]),
    "partial-fit-early-stopping": lambda m: m.MLPRegressor(early_stopping=True).partial_fit(
        X, X[:, 0]),
    "partial-fit-bad-param": lambda m: m.MLPRegressor(alpha=-1).partial_fit(X, X[:, 0]),
    # later partial_fit calls (fastmlp's fast validation path must still catch these)
    "partial-fit-nan-x-later": lambda m: m.MLPClassifier().partial_fit(
        X, y, classes=[0, 1]).partial_fit(np.where(X > 1.5, np.nan, X), y),
    "partial-fit-other-label-kind-later": lambda m: m.MLPClassifier().partial_fit(
        X, np.where(y, "a", "b"), classes=["a", "b"]).partial_fit(X, y),
    "partial-fit-y-length-later": lambda m: m.MLPClassifier().partial_fit(
        X, y, classes=[0, 1]).partial_fit(X, y[:-1]),
    "partial-fit-width-later": lambda m: m.MLPRegressor().partial_fit(
        X, X[:, 0]).partial_fit(X[:, :2], X[:, 0]),
    "partial-fit-nan-y-later": lambda m: m.MLPRegressor().partial_fit(
        X, X[:, 0]).partial_fit(X, np.where(y, np.nan, 1.0)),
    "warm-start-new-classes": lambda m: m.MLPClassifier(warm_start=True, max_iter=2).fit(
        X, y).fit(X, y + 1),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_input_raises_sklearns_exception(case):
    _assert_same_error(lambda m: m, BAD_CALLS[case])


def test_unfitted_predict_is_not_fitted_error():
    with pytest.raises(NotFittedError):
        fastmlp.MLPRegressor().predict(X)


def test_failed_fit_leaves_fitted_model_untouched():
    clf = fastmlp.MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
    before = snapshot(clf)
    with pytest.raises(ValueError):
        clf.fit(np.where(X > 1.5, np.nan, X), y)
    assert_unchanged(clf, before)
    with pytest.raises(ValueError):
        clf.set_params(warm_start=True).fit(X, np.where(y, "a", "b"))  # new classes
    assert_unchanged(clf, before)


def test_failed_partial_fit_leaves_model_untouched():
    clf = fastmlp.MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    clf.partial_fit(X, y, classes=[0, 1])
    before = snapshot(clf)
    optimizer_state = clf._optimizer.state[0].copy()
    with pytest.raises(ValueError, match="classes not in"):
        clf.partial_fit(X, y + 1)
    assert_unchanged(clf, before)
    np.testing.assert_array_equal(clf._optimizer.state[0], optimizer_state)


def test_invalid_n_threads_raises():
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="n_threads"):
        fastmlp.MLPClassifier(n_threads=0).fit(X, y)


def test_divergence_raises_and_keeps_the_previous_model():
    reg = fastmlp.MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", max_iter=2,
                               random_state=0).fit(X, X[:, 0])
    before = snapshot(reg)
    huge = X * 1e200
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        with np.errstate(all="ignore"):
            reg.set_params(learning_rate_init=1e3).fit(huge, huge[:, 0])
    assert_unchanged(reg, before)


def test_pickle_clone_and_assigned_coefs():
    clf = fastmlp.MLPClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    clf2 = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clf2.predict_proba(X), proba)
    assert clone(clf).get_params() == clf.get_params()
    assert not hasattr(clone(clf), "coefs_")

    # Assigned weights are used: compare with a plain NumPy forward pass.
    rng = np.random.RandomState(1)
    clf.coefs_[0] = rng.randn(*clf.coefs_[0].shape)
    clf.intercepts_[1] = np.asarray(rng.randn(1))
    hidden = np.maximum(X @ clf.coefs_[0] + clf.intercepts_[0], 0)
    p = 1 / (1 + np.exp(-(hidden @ clf.coefs_[1] + clf.intercepts_[1])))
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], p.ravel(), rtol=1e-12)


@pytest.mark.parametrize("params, rule_speaks", [
    (dict(), False),
    (dict(early_stopping=True, n_iter_no_change=2, tol=0.5, max_iter=20), True),
    (dict(solver="sgd", learning_rate="adaptive", n_iter_no_change=1, tol=0.5, max_iter=8),
     True),
], ids=["plain", "early-stopping", "adaptive"])
def test_verbose_prints_sklearns_lines(capsys, params, rule_speaks):
    params = {"hidden_layer_sizes": (3,), "max_iter": 2, "random_state": 0, **params}
    fastmlp.MLPClassifier(verbose=True, **params).fit(X, y)
    ours = capsys.readouterr().out
    sk.MLPClassifier(verbose=True, **params).fit(X, y)
    theirs = capsys.readouterr().out
    assert ours == theirs and "Iteration 2, loss = " in ours
    assert ("did not improve" in ours) == rule_speaks


def _requests(est):
    routing = est.get_metadata_routing()
    return {method: dict(getattr(routing, method).requests)
            for method in ("fit", "partial_fit", "score")}


def test_metadata_routing_matches_sklearn():
    """The routing of scikit-learn's own parameters is scikit-learn's (an
    extra fit parameter of fastmlp's would add entries of its own)."""
    from sklearn import config_context

    with config_context(enable_metadata_routing=True):
        for name in ("MLPClassifier", "MLPRegressor"):
            ours, theirs = getattr(fastmlp, name)(), getattr(sk, name)()
            for est in (ours, theirs):
                est.set_fit_request(sample_weight=True)
                est.set_score_request(sample_weight=False)
                est.set_partial_fit_request(sample_weight="weights")
            expected = _requests(theirs)
            got = _requests(ours)
            for method, requests in expected.items():
                assert {k: v for k, v in got[method].items() if k in requests} == requests
            assert got["partial_fit"]["sample_weight"] == "weights"


def test_feature_names_in_with_pandas():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    clf = fastmlp.MLPClassifier(max_iter=2).fit(frame, y)
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns)
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X)


def test_predict_sees_in_place_changes_to_assigned_weights():
    clf = fastmlp.MLPRegressor(hidden_layer_sizes=(5,), max_iter=2, random_state=0)
    clf.fit(X, X[:, 0])
    row = X[:1].copy()
    clf.coefs_[1] = clf.coefs_[1].copy()  # no longer a view of the fitted buffer
    before = clf.predict(row)
    clf.coefs_[1][:] = 0.0  # changed in place after a predict
    clf.intercepts_[1][:] = 3.0  # a view of the fitted buffer, changed in place
    np.testing.assert_allclose(clf.predict(row), [3.0])
    assert before[0] != 3.0


def test_fast_and_general_predict_paths_agree():
    clf = fastmlp.MLPClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=0).fit(X, y)
    fast = clf.predict_proba(X[:3])  # float64 ndarray: the fast path
    general = clf.predict_proba(X[:3].tolist())  # a list: full validation
    np.testing.assert_array_equal(fast, general)
    np.testing.assert_array_equal(clf.predict(X), np.unique(y)[clf.predict_proba(X).argmax(1)])


@pytest.mark.parametrize("labels", [
    np.array([0, 1, 1, 0]), np.array([3, 1, 2, 1, 3]), np.array(["b", "a", "c", "a"]),
    np.array([True, False, True]), np.array([2.0, 1.0, 2.0]), np.array(["x", "y"], dtype=object),
])
def test_label_encoding_matches_label_binarizer(labels):
    from sklearn.preprocessing import LabelBinarizer

    from fastmlp._targets import binarize as _binarize
    from fastmlp._targets import unique as _unique_labels
    from sklearn.utils.multiclass import unique_labels

    binarizer = LabelBinarizer().fit(labels)
    for subset in (labels, labels[:2], labels[::-1]):
        np.testing.assert_array_equal(_binarize(binarizer, subset),
                                      binarizer.transform(subset).astype(bool))
        if _raised(lambda: unique_labels(subset)) is None:
            np.testing.assert_array_equal(_unique_labels(subset), unique_labels(subset))
        else:  # the same error for labels scikit-learn rejects
            assert _raised(lambda: _unique_labels(subset)) is _raised(
                lambda: unique_labels(subset))


@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_constructor_signature_is_sklearns_then_keyword_only_extras(name):
    """scikit-learn's parameters first, in its order, kinds and defaults (so
    positional use agrees); every extra after them, keyword-only, with a
    default that keeps scikit-learn's behaviour."""
    import inspect

    ours = list(inspect.signature(getattr(fastmlp, name)).parameters.values())
    theirs = list(inspect.signature(getattr(sk, name)).parameters.values())
    assert [(p.name, p.kind, p.default) for p in ours[:len(theirs)]] == [
        (p.name, p.kind, p.default) for p in theirs]
    extras = ours[len(theirs):]
    assert "n_threads" in [p.name for p in extras]
    assert all(p.kind == inspect.Parameter.KEYWORD_ONLY for p in extras)
    # The defaults keep scikit-learn's model: set explicitly, same bits as unset.
    est = getattr(fastmlp, name)(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    target = y if name == "MLPClassifier" else X[:, 0]
    plain = clone(est).fit(X, target)
    explicit = clone(est).set_params(**{p.name: p.default for p in extras}).fit(X, target)
    for a, b in zip(plain.coefs_ + plain.intercepts_, explicit.coefs_ + explicit.intercepts_):
        np.testing.assert_array_equal(a, b)


# Names that stay invalid: no kind will ever be called so (the next kinds
# fastmlp adds must not turn these tests green for the wrong reason).
INVALID_PARAMS = [
    dict(alpha=-1), dict(hidden_layer_sizes="x"), dict(hidden_layer_sizes=0),
    dict(activation="no_such_activation"), dict(batch_size=0), dict(batch_size="x"),
    dict(shuffle="x"), dict(random_state="x"), dict(verbose="x"), dict(momentum=2),
    dict(momentum=1.5), dict(n_iter_no_change=0), dict(n_iter_no_change=1.5),
    dict(max_iter=1.5), dict(learning_rate_init=0), dict(beta_1=1), dict(epsilon=-1e-3),
    dict(epsilon=0.0), dict(tol=np.nan), dict(solver=None), dict(solver="no_such_solver"),
    dict(learning_rate="no_such_schedule"), dict(validation_fraction=1.0),
    dict(solver="lbfgs", max_fun=0), dict(loss="no_such_loss"),
]


def _normalised(message):
    """Sets print in arbitrary order: sort their members."""
    import re

    return re.sub(r"\{([^}]*)\}",
                  lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", message)


@pytest.mark.parametrize("params", INVALID_PARAMS, ids=lambda p: repr(p))
def test_invalid_parameters_raise_sklearns_error_and_message(params):
    from sklearn.utils._param_validation import InvalidParameterError

    # (the regressor for its own `loss`, the classifier for everything else)
    name, target = ("MLPRegressor", X[:, 0]) if "loss" in params else ("MLPClassifier", y)
    errors = []
    for module in (fastmlp, sk):
        with pytest.raises(InvalidParameterError) as info:
            getattr(module, name)(**params).fit(X, target)
        errors.append(_normalised(str(info.value)))
    assert errors[0] == errors[1]


def test_sample_weight_errors_match_sklearn():
    for bad in (np.ones((len(X), 2)), np.zeros(len(X)), np.ones(3), np.full(len(X), np.nan)):
        messages = []
        for module in (fastmlp, sk):
            with pytest.raises(ValueError) as info:
                module.MLPRegressor(max_iter=2).fit(X, X[:, 0], sample_weight=bad)
            messages.append(str(info.value))
        assert messages[0] == messages[1]


def test_partial_fit_after_changing_solver_or_network_never_crashes():
    # scikit-learn keeps the first optimizer across partial_fit calls, even if
    # `solver` changes; a changed network gives a ValueError, not a crash.
    ours = fastmlp.MLPClassifier(solver="sgd", hidden_layer_sizes=(4,), random_state=0)
    theirs = sk.MLPClassifier(solver="sgd", hidden_layer_sizes=(4,), random_state=0)
    for est in (ours, theirs):
        est.partial_fit(X, y, classes=[0, 1])
        est.set_params(solver="adam").partial_fit(X, y)
    for a, b in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    ours.set_params(hidden_layer_sizes=(6,))
    ours.coefs_ = [np.zeros((X.shape[1], 6)), np.zeros((6, 1))]
    ours.intercepts_ = [np.zeros(6), np.zeros(1)]
    with pytest.raises(ValueError, match="optimizer state"):
        ours.partial_fit(X, y)


def test_inconsistent_assigned_weights_raise_instead_of_crashing():
    clf = fastmlp.MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0).fit(X, y)
    for attr, index, value in [
        ("coefs_", 1, np.zeros((4, 1))),        # does not chain to layer 0
        ("intercepts_", 0, np.zeros(3)),        # wrong bias length
        ("coefs_", 0, np.zeros((2, 5))),        # other input width than X
    ]:
        broken = pickle.loads(pickle.dumps(clf))
        getattr(broken, attr)[index] = value
        with pytest.raises(ValueError):
            broken.predict(X)
        with pytest.raises(ValueError):
            broken.set_params(warm_start=True).fit(X, y)
