"""fastmlp.save / fastmlp.load: round trips, and hostile or damaged files."""

import hashlib
import io
import json
import pickle
import struct
import textwrap
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_multilabel_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

import fastmlp
from _child import run_python
from fastmlp import ModelFileError


def _fit(est, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kw)


def _roundtrip(model):
    buf = io.BytesIO()
    fastmlp.save(model, buf)
    return fastmlp.load(io.BytesIO(buf.getvalue()))


def _assert_same_state(a, b):
    assert type(a) is type(b)
    assert a.get_params().keys() == b.get_params().keys()
    for k, v in a.get_params().items():
        if isinstance(v, np.random.RandomState):
            np.testing.assert_array_equal(v.get_state()[1], b.get_params()[k].get_state()[1])
        else:
            assert b.get_params()[k] == v, k
    assert sorted(k for k in vars(a) if k != "_predict_cache") == \
        sorted(k for k in vars(b) if k != "_predict_cache")
    for x, y in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    for k in ("n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_",
              "n_features_in_"):
        assert getattr(a, k) == getattr(b, k)
    if hasattr(a, "loss_curve_"):
        assert a.loss_curve_ == b.loss_curve_


def _iris():
    X, y = load_iris(return_X_y=True)
    return X, y


CASES = {
    "multiclass-str": lambda: _fit(fastmlp.MLPClassifier((8,), max_iter=20, random_state=0),
                                   _iris()[0], np.array(["setosa", "versi", "virg"])[_iris()[1]]),
    "binary-f32-sgd": lambda: _fit(
        fastmlp.MLPClassifier((6, 5), solver="sgd", max_iter=15, random_state=1),
        _iris()[0].astype(np.float32), _iris()[1] > 0),
    "multilabel": lambda: _fit(fastmlp.MLPClassifier((7,), max_iter=10, random_state=2),
                               *make_multilabel_classification(60, 5, random_state=0)),
    "lbfgs-regressor": lambda: _fit(
        fastmlp.MLPRegressor(hidden_layer_sizes=(9,), solver="lbfgs", max_iter=20, random_state=3),
        *make_regression(50, 4, n_targets=2, random_state=0)),
    "early-stopping-rs": lambda: _fit(
        fastmlp.MLPRegressor(hidden_layer_sizes=5, early_stopping=True, max_iter=12,
                             random_state=np.random.RandomState(4)),
        *make_regression(80, 3, random_state=1)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_roundtrip_keeps_parameters_weights_and_predictions(case, tmp_path):
    model = CASES[case]()
    path = tmp_path / "model.fmlp"
    fastmlp.save(model, path)
    loaded = fastmlp.load(path)
    _assert_same_state(model, loaded)
    X = model.coefs_[0][:, :1].T.repeat(3, axis=0) + np.arange(3)[:, None]
    X = X.astype(model.coefs_[0].dtype)
    np.testing.assert_array_equal(model.predict(X), loaded.predict(X))
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(model.predict_proba(X), loaded.predict_proba(X))
    assert not any(p.name.startswith(".fastmlp-") for p in tmp_path.iterdir())


def test_loaded_model_continues_training_exactly_like_the_original():
    X, y = _iris()
    model = _fit(fastmlp.MLPClassifier((10,), max_iter=5, random_state=0), X, y)
    loaded = _roundtrip(model)
    for est in (model, loaded):
        for _ in range(3):
            est.partial_fit(X, y)
    _assert_same_state(model, loaded)
    model.set_params(warm_start=True)
    loaded.set_params(warm_start=True)
    _fit(model, X, y)
    _fit(loaded, X, y)
    _assert_same_state(model, loaded)


def test_unfitted_model_and_feature_names_roundtrip():
    pd = pytest.importorskip("pandas")
    model = fastmlp.MLPRegressor(hidden_layer_sizes=[3, 2], alpha=0.5, n_threads=2)
    loaded = _roundtrip(model)
    assert loaded.get_params() == model.get_params()
    assert not hasattr(loaded, "coefs_")
    X, y = make_regression(30, 3, random_state=0)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    _fit(model, df, y)
    loaded = _roundtrip(model)
    np.testing.assert_array_equal(loaded.feature_names_in_, ["a", "b", "c"])
    np.testing.assert_array_equal(model.predict(df), loaded.predict(df))


def test_pickle_still_works():
    model = CASES["multiclass-str"]()
    again = pickle.loads(pickle.dumps(model))
    _assert_same_state(model, again)


def test_save_rejects_what_it_cannot_store():
    with pytest.raises(TypeError, match="MLPClassifier or MLPRegressor"):
        fastmlp.save(object(), io.BytesIO())
    model = fastmlp.MLPClassifier(hidden_layer_sizes=(3,))
    model.hidden_layer_sizes = (3, object())
    with pytest.raises(TypeError, match="hidden_layer_sizes"):
        fastmlp.save(model, io.BytesIO())


# ---- damaged and hostile files ---------------------------------------------------

def _blob(model=None):
    buf = io.BytesIO()
    fastmlp.save(model if model is not None else CASES["binary-f32-sgd"](), buf)
    return buf.getvalue()


def _split(blob):
    (n,) = struct.unpack("<Q", blob[8:16])
    return json.loads(blob[16:16 + n]), blob[16 + n:-32]


def _join(header, body):
    text = json.dumps(header).encode()
    blob = fastmlp._persist.MAGIC + struct.pack("<Q", len(text)) + text + body
    return blob + hashlib.sha256(blob).digest()


def test_every_flipped_byte_and_every_truncation_is_rejected():
    blob = _blob()
    rng = np.random.RandomState(0)
    for pos in rng.choice(len(blob), 400, replace=False):
        bad = bytearray(blob)
        bad[pos] ^= 1 << rng.randint(8)
        with pytest.raises(ModelFileError):
            fastmlp.load(io.BytesIO(bytes(bad)))
    for n in [0, 1, 7, 8, 15, 16, 40, *rng.randint(0, len(blob), 100), len(blob) - 1]:
        with pytest.raises(ModelFileError):
            fastmlp.load(io.BytesIO(blob[:n]))


def _edit(fn):
    header, body = _split(_blob())
    fn(header)
    return _join(header, body)


@pytest.mark.parametrize("edit, message", [
    (lambda h: h.update(format_version=2), "newer"),
    (lambda h: h.update(format="other"), "Not a fastmlp"),
    (lambda h: h.update(estimator="os.system"), "Unknown estimator"),
    (lambda h: h["params"].update(activation="evil"), "activation"),
    (lambda h: h["params"].update(hidden_layer_sizes={"__tuple__": [6, 4]}), "shapes"),
    (lambda h: h["attributes"].update(n_outputs_=3), ""),
    (lambda h: h["attributes"].update(n_features_in_=5), "shapes"),
    (lambda h: h["attributes"].update(__class__="x"), "Unknown attribute"),
    (lambda h: h["attributes"].update(out_activation_="softmax"), "output activation"),
    (lambda h: h["attributes"].pop("coefs_"), "Missing"),
    (lambda h: h["attributes"].update(classes_={"__array__": 99}), "array reference"),
    (lambda h: h["attributes"].update(classes_={"__pickle__": "x"}), "tagged"),
    (lambda h: h["arrays"][0].update(dtype="O"), "not allowed"),
    (lambda h: h["arrays"][0].update(dtype="V8"), "not allowed"),
    (lambda h: h["arrays"][0].update(nbytes=10**12), "out of range"),
    (lambda h: h["arrays"][0].update(offset=-8), "out of range"),
    (lambda h: h["arrays"][0].update(shape=[2**62, 2**62]), "out of range"),
    (lambda h: h["arrays"][0].update(dtype="<f8"), ""),
    (lambda h: h["attributes"]["_optimizer"]["__optimizer__"].update(t=-1), "optimizer"),
    (lambda h: h["attributes"]["_label_binarizer"]["__labels__"].update(y_type_="x"),
     "label"),
])
def test_consistent_but_wrong_files_are_rejected(edit, message):
    with pytest.raises(ModelFileError, match=message):
        fastmlp.load(io.BytesIO(_edit(edit)))


def test_non_finite_weights_are_rejected():
    header, body = _split(_blob())
    entry = header["arrays"][header["attributes"]["coefs_"][0]["__array__"]]
    body = bytearray(body)
    body[entry["offset"]:entry["offset"] + 4] = np.float32(np.nan).tobytes()
    with pytest.raises(ModelFileError, match="finite"):
        fastmlp.load(io.BytesIO(_join(header, bytes(body))))


def test_pickles_and_npy_files_are_not_loaded(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for blob in (pickle.dumps(Payload()), pickle.dumps(CASES["multiclass-str"]())):
        with pytest.raises(ModelFileError, match="Not a fastmlp"):
            fastmlp.load(io.BytesIO(blob))
    buf = io.BytesIO()
    np.save(buf, np.array([Payload()], dtype=object), allow_pickle=True)
    with pytest.raises(ModelFileError):
        fastmlp.load(io.BytesIO(buf.getvalue()))
    assert not marker.exists()


def test_resigned_random_damage_never_crashes(tmp_path):
    # Flips with a recomputed checksum reach the parser and the model checks.
    # In a subprocess, so that a crash fails this test instead of the run.
    path = tmp_path / "model.fmlp"
    path.write_bytes(_blob())
    code = textwrap.dedent(f"""
        import collections, hashlib, io, json
        import numpy as np
        import fastmlp
        blob = open({str(path)!r}, "rb").read()
        rng = np.random.RandomState(0)
        X = np.random.RandomState(1).rand(5, 4).astype(np.float32)
        outcomes = collections.Counter()
        for trial in range(600):
            bad = bytearray(blob[:-32])
            for pos in rng.randint(8, len(bad), rng.randint(1, 4)):
                bad[pos] = rng.randint(256)
            bad = bytes(bad) + hashlib.sha256(bytes(bad)).digest()
            try:
                model = fastmlp.load(io.BytesIO(bad))
            except fastmlp.ModelFileError:
                outcomes["rejected"] += 1
                continue
            proba = model.predict_proba(X)
            assert np.isfinite(proba).all()
            outcomes["loaded"] += 1
        print(json.dumps(outcomes))
    """)
    out = run_python(["-c", code], timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert counts["rejected"] > 0 and sum(counts.values()) == 600


DATA = __import__("pathlib").Path(__file__).with_name("data")


def test_files_of_format_version_1_still_load():
    """Files written by fastmlp 0.1.0 at commit 98fce46 (before the model
    file's writer moved into the optimizer): the weights predict what a NumPy
    forward pass of them gives, and the training state is scikit-learn's."""
    X = np.random.RandomState(0).randn(40, 4)
    clf = fastmlp.load(DATA / "v1-adam-classifier.fmlp")  # two partial_fit calls
    hidden = np.maximum(X @ clf.coefs_[0] + clf.intercepts_[0], 0)
    p = 1 / (1 + np.exp(-(hidden @ clf.coefs_[1] + clf.intercepts_[1])))
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], p.ravel(), rtol=1e-12)
    assert list(clf.classes_) == ["no", "yes"]
    assert (clf.t_, clf.n_iter_, clf._optimizer.t) == (80, 1, 2)  # two 40-row batches
    assert [a.shape for a in clf._optimizer.state] == [(31,), (31,)]
    assert all(a.any() for a in clf._optimizer.state)
    clf.partial_fit(X, np.where(X[:, 0] + X[:, 1] > 0, "yes", "no"))
    assert clf._optimizer.t == 3

    reg = fastmlp.load(DATA / "v1-sgd-regressor-float32.fmlp")  # 4 epochs, invscaling
    assert reg.coefs_[0].dtype == np.float32 and reg.t_ == 160
    assert reg._optimizer.learning_rate == pytest.approx(0.001 / 161 ** 0.5, rel=1e-12)
    assert len(reg._optimizer.state) == 1 and reg._optimizer.state[0].shape == (19,)
    hidden = np.maximum(X.astype(np.float32) @ reg.coefs_[0] + reg.intercepts_[0], 0)
    np.testing.assert_allclose(reg.predict(X.astype(np.float32)),
                               (hidden @ reg.coefs_[1] + reg.intercepts_[1]).ravel(),
                               rtol=1e-5)


def test_a_pickle_of_before_the_refactor_continues_like_its_model_file():
    """A pickle written at 98fce46 (its optimizer held state_a/state_b) of
    the model in v1-adam-classifier.fmlp: both continue with the same bits."""
    X = np.random.RandomState(0).randn(40, 4)
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    with open(DATA / "v1-adam-classifier.pkl", "rb") as f:
        unpickled = pickle.load(f)  # our own fixture
    loaded = fastmlp.load(DATA / "v1-adam-classifier.fmlp")
    for model in (unpickled, loaded):
        model.partial_fit(X, y)
    assert unpickled._optimizer.t == loaded._optimizer.t == 3
    for a, b in zip(unpickled.coefs_ + unpickled.intercepts_ + list(unpickled._optimizer.state),
                    loaded.coefs_ + loaded.intercepts_ + list(loaded._optimizer.state)):
        np.testing.assert_array_equal(a, b)
