"""save / load: a model file that never runs code when it is read.

Format (version 1), all integers little-endian::

    b"FASTMLP\\n"              8 bytes, the magic
    header length            8 bytes, unsigned
    header                   UTF-8 JSON (below)
    arrays                   raw C-order bytes, each at its header offset
                             (from the start of this section)
    SHA-256                  32 bytes, of everything before it

The header holds the format version, the fastmlp version that wrote it, the
estimator class, its constructor parameters, its fitted attributes and a table
of the arrays (dtype, shape, offset, size). Values are JSON with a few tagged
objects: {"__array__": i} (entry i of the table), {"__tuple__": [...]},
{"__strings__": [...]} (an object array of str), {"__labels__": {...}} (the
classifier's LabelBinarizer), {"__optimizer__": {...}} (sgd/adam state) and
{"__random_state__": {...}} (a RandomState parameter). Arrays are read with
np.frombuffer from an allowlist of plain dtypes; nothing is unpickled.

Loading checks, in order: the magic, the sizes, the checksum (any flipped or
missing byte fails here), the JSON, the version, every name against the
attributes a model can have, every array entry, and then the model itself:
parameters valid, layer shapes consistent with n_features_in_, the hidden
layer sizes and n_outputs_, dtypes float32/float64, weights and optimizer
state finite. Any failure raises ModelFileError (a ValueError).
"""

import hashlib
import json
import os
import struct
import tempfile

import numpy as np
from sklearn.preprocessing import LabelBinarizer

from fastmlp._estimators import MLPClassifier, MLPRegressor
from fastmlp._optimizers import StochasticOptimizer
from fastmlp._validation import validate_params
from fastmlp._version import __version__

MAGIC = b"FASTMLP\n"
FORMAT_VERSION = 1
_DIGEST = 32
_ESTIMATORS = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}

# What a saved model may hold, beyond its parameters.
_COMMON = {
    "coefs_", "intercepts_", "n_features_in_", "feature_names_in_", "n_iter_", "t_",
    "n_layers_", "n_outputs_", "out_activation_", "loss_", "loss_curve_", "best_loss_",
    "validation_scores_", "best_validation_score_", "_no_improvement_count",
    "_best_params", "_optimizer",
}
_ATTRIBUTES = {
    "MLPClassifier": _COMMON | {"classes_", "_label_binarizer"},
    "MLPRegressor": _COMMON,
}
_SKIPPED = {"_predict_cache"}  # rebuilt on demand
_LABEL_FIELDS = ("neg_label", "pos_label", "sparse_output", "classes_", "y_type_",
                 "sparse_input_")


class ModelFileError(ValueError):
    """A model file that is truncated, corrupted, tampered with, or not one."""


def save(model, file):
    """Save a fastmlp model to a file that :func:`load` reads back.

    The format holds only JSON and plain numeric arrays, so loading it never
    runs code (unlike pickle). Fitted or not, the model comes back with the
    same parameters, predictions and training state (so partial_fit and
    warm_start continue where they stopped).

    Parameters
    ----------
    model : MLPClassifier or MLPRegressor
    file : str, os.PathLike or binary file object
        A path is written atomically (a temporary file, then renamed).
    """
    name = type(model).__name__
    if _ESTIMATORS.get(name) is not type(model):
        raise TypeError(f"save expects a fastmlp MLPClassifier or MLPRegressor, got {name}.")
    arrays = []
    state = {k: v for k, v in vars(model).items() if k not in _SKIPPED}
    params = model.get_params(deep=False)
    unknown = sorted(set(state) - set(params) - _ATTRIBUTES[name])
    if unknown:
        raise TypeError(f"save cannot store the attribute(s) {unknown}; use pickle.")
    header = {
        "format": "fastmlp-model",
        "format_version": FORMAT_VERSION,
        "fastmlp_version": __version__,
        "estimator": name,
        "params": {k: _encode(v, arrays, k) for k, v in params.items()},
        "attributes": {k: _encode(v, arrays, k) for k, v in state.items()
                       if k not in params},
    }
    table, chunks, offset = [], [], 0
    for a in arrays:
        offset = -(-offset // 64) * 64  # 64-byte aligned
        table.append({"dtype": a.dtype.str, "shape": list(a.shape), "offset": offset,
                      "nbytes": a.nbytes})
        chunks.append((offset, a.tobytes(order="C")))
        offset += a.nbytes
    header["arrays"] = table
    body = bytearray(offset)
    for start, data in chunks:
        body[start:start + len(data)] = data
    text = json.dumps(header, allow_nan=True, separators=(",", ":")).encode()
    blob = MAGIC + struct.pack("<Q", len(text)) + text + bytes(body)
    blob += hashlib.sha256(blob).digest()
    if hasattr(file, "write"):
        file.write(blob)
        return
    path = os.fspath(file)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)),
                               prefix=".fastmlp-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(file):
    """Load a model written by :func:`save`.

    Parameters
    ----------
    file : str, os.PathLike or binary file object

    Returns
    -------
    model : MLPClassifier or MLPRegressor

    Raises
    ------
    ModelFileError
        If the file is truncated, corrupted, modified, written by a newer
        format version, or does not describe a consistent model.
    """
    if hasattr(file, "read"):
        blob = file.read()
    else:
        with open(file, "rb") as f:
            blob = f.read()
    if not isinstance(blob, bytes):
        raise TypeError("load expects a file opened in binary mode.")
    header, body = _unpack(blob)
    try:
        return _build(header, body)
    except ModelFileError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError,
            OverflowError) as exc:
        raise ModelFileError(f"The model file describes an invalid model: {exc}") from exc


# ---- writing ------------------------------------------------------------------

_PLAIN_KINDS = "biuf"


def _encode(value, arrays, where):
    """value as JSON, its arrays appended to ``arrays``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, arrays, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, arrays, where) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind in _PLAIN_KINDS or value.dtype.kind == "U":
            arrays.append(np.ascontiguousarray(value.astype(value.dtype.newbyteorder("<"))))
            return {"__array__": len(arrays) - 1}
        if value.dtype == object and value.ndim == 1 and all(isinstance(v, str) for v in value):
            return {"__strings__": [str(v) for v in value]}
    if isinstance(value, LabelBinarizer):
        return {"__labels__": {k: _encode(getattr(value, k), arrays, where)
                               for k in _LABEL_FIELDS}}
    if isinstance(value, StochasticOptimizer):  # its own fields (to_fields)
        return {"__optimizer__": {k: _encode(v, arrays, where)
                                  for k, v in value.to_fields().items()}}
    if isinstance(value, np.random.RandomState):
        kind, keys, pos, has_gauss, gauss = value.get_state(legacy=True)
        return {"__random_state__": {"keys": _encode(keys, arrays, where), "pos": int(pos),
                                     "has_gauss": int(has_gauss), "gauss": float(gauss)}}
    raise TypeError(f"save cannot store {where}={value!r} ({type(value).__name__});"
                    " use pickle.")


# ---- reading ------------------------------------------------------------------

_MAX_NDIM = 2


def _unpack(blob):
    """(header dict, array section) of a file, after its integrity checks."""
    head = len(MAGIC) + 8
    if len(blob) < head + _DIGEST or blob[:len(MAGIC)] != MAGIC:
        raise ModelFileError("Not a fastmlp model file (or truncated).")
    if hashlib.sha256(blob[:-_DIGEST]).digest() != blob[-_DIGEST:]:
        raise ModelFileError("The model file is corrupted or was modified (checksum mismatch).")
    (n_header,) = struct.unpack("<Q", blob[len(MAGIC):head])
    if n_header > len(blob) - head - _DIGEST:
        raise ModelFileError("The model file's header length is out of range.")
    try:
        header = json.loads(blob[head:head + n_header].decode("utf-8"),
                            object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFileError(f"The model file's header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict) or header.get("format") != "fastmlp-model":
        raise ModelFileError("Not a fastmlp model file.")
    version = header.get("format_version")
    if type(version) is not int or version < 1:
        raise ModelFileError(f"Invalid format version {version!r}.")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"The model file has format version {version}, newer than this fastmlp"
            f" ({__version__}) reads ({FORMAT_VERSION}); upgrade fastmlp."
        )
    return header, memoryview(blob)[head + n_header:len(blob) - _DIGEST]


def _unique_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate keys")
    return dict(pairs)


def _read_arrays(table, body):
    if not isinstance(table, list):
        raise ModelFileError("Invalid array table.")
    arrays = []
    for entry in table:
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "offset", "nbytes"}:
            raise ModelFileError("Invalid array table entry.")
        dtype, shape = _plain_dtype(entry["dtype"]), entry["shape"]
        offset, nbytes = entry["offset"], entry["nbytes"]
        if (not isinstance(shape, list) or len(shape) > _MAX_NDIM
                or not all(type(s) is int and 0 <= s < 2**40 for s in shape)
                or type(offset) is not int or type(nbytes) is not int
                or not 0 <= offset <= offset + nbytes <= len(body)
                or nbytes != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize):
            raise ModelFileError(f"Array table entry out of range: {entry}.")
        data = np.frombuffer(body, dtype=dtype, count=nbytes // max(dtype.itemsize, 1),
                             offset=offset) if nbytes else np.empty(0, dtype=dtype)
        arrays.append(data.reshape(shape).astype(dtype.newbyteorder("="), copy=True))
    return arrays


def _plain_dtype(text):
    if not isinstance(text, str) or len(text) > 16:
        raise ModelFileError(f"Invalid dtype {text!r}.")
    try:
        dtype = np.dtype(text)
    except TypeError as exc:
        raise ModelFileError(f"Invalid dtype {text!r}.") from exc
    if dtype.kind not in _PLAIN_KINDS + "U" or dtype.hasobject or dtype.itemsize == 0 \
            or dtype.itemsize > 4096 or dtype.fields is not None or dtype.shape:
        raise ModelFileError(f"Dtype {text!r} is not allowed in a model file.")
    return dtype


class _Decoder:
    """JSON values back into Python/NumPy objects (only the tags above)."""

    def __init__(self, arrays):
        self.arrays = arrays

    def __call__(self, value, depth=0):
        if depth > 8:
            raise ModelFileError("The model file's values are nested too deeply.")
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, list):
            return [self(v, depth + 1) for v in value]
        if not isinstance(value, dict) or len(value) != 1:
            raise ModelFileError(f"Invalid value {value!r:.80}.")
        (tag, content), = value.items()
        if tag == "__array__":
            if type(content) is not int or not 0 <= content < len(self.arrays):
                raise ModelFileError(f"Invalid array reference {content!r}.")
            return self.arrays[content]
        if tag == "__tuple__" and isinstance(content, list):
            return tuple(self(v, depth + 1) for v in content)
        if tag == "__strings__" and isinstance(content, list) \
                and all(isinstance(v, str) for v in content):
            return np.array(content, dtype=object)
        if tag == "__labels__" and _fields(content, _LABEL_FIELDS):
            lb = LabelBinarizer()
            for k in _LABEL_FIELDS:
                setattr(lb, k, self(content[k], depth + 1))
            return lb
        if tag == "__optimizer__" and _fields(content, StochasticOptimizer.FILE_FIELDS):
            # checked against the network by _check_fitted (from_fields)
            return {k: self(v, depth + 1) for k, v in content.items()}
        if tag == "__random_state__" and _fields(content, ("keys", "pos", "has_gauss", "gauss")):
            rs = np.random.RandomState()
            rs.set_state(("MT19937", self(content["keys"], depth + 1), content["pos"],
                          content["has_gauss"], content["gauss"]))
            return rs
        raise ModelFileError(f"Invalid tagged value {tag!r}.")


def _fields(content, names):
    return isinstance(content, dict) and set(content) == set(names)


def _build(header, body):
    name = header.get("estimator")
    if name not in _ESTIMATORS:
        raise ModelFileError(f"Unknown estimator {name!r}.")
    cls = _ESTIMATORS[name]
    if set(header) != {"format", "format_version", "fastmlp_version", "estimator",
                       "params", "attributes", "arrays"}:
        raise ModelFileError("Unexpected or missing header fields.")
    decode = _Decoder(_read_arrays(header["arrays"], body))
    params, attributes = header["params"], header["attributes"]
    if not isinstance(params, dict) or not isinstance(attributes, dict):
        raise ModelFileError("Invalid parameters or attributes.")
    model = cls()
    if set(params) != set(model.get_params(deep=False)):
        raise ModelFileError(f"The parameters of {name} do not match: {sorted(params)}.")
    model.set_params(**{k: decode(v) for k, v in params.items()})
    validate_params(model, model._parameter_constraints)
    unknown = set(attributes) - _ATTRIBUTES[name]
    if unknown:
        raise ModelFileError(f"Unknown attribute(s) {sorted(unknown)}.")
    for k, v in attributes.items():
        model.__dict__[k] = decode(v)
    if attributes:
        _check_fitted(model)
        model._relink()
    return model


def _check_fitted(model):
    """Raise ModelFileError unless the fitted state is one fit could produce."""
    d = model.__dict__
    need = {"coefs_", "intercepts_", "n_features_in_", "n_layers_", "n_outputs_",
            "out_activation_", "n_iter_", "t_"}
    if model._is_classifier:
        need |= {"classes_", "_label_binarizer"}
    if not need <= set(d):
        raise ModelFileError(f"Missing fitted attribute(s) {sorted(need - set(d))}.")
    for k in ("n_features_in_", "n_layers_", "n_outputs_", "n_iter_", "t_"):
        if type(d[k]) is not int or d[k] < 0:
            raise ModelFileError(f"{k} must be a non-negative int, got {d[k]!r}.")
    coefs, intercepts = d["coefs_"], d["intercepts_"]
    hidden = model.hidden_layer_sizes
    hidden = list(hidden) if hasattr(hidden, "__iter__") else [hidden]
    units = [d["n_features_in_"], *hidden, d["n_outputs_"]]
    if not (isinstance(coefs, list) and isinstance(intercepts, list)
            and len(coefs) == len(intercepts) == len(units) - 1 == d["n_layers_"] - 1):
        raise ModelFileError("coefs_/intercepts_ do not match the number of layers.")
    arrays = [*coefs, *intercepts]
    if not all(isinstance(a, np.ndarray) for a in arrays):
        raise ModelFileError("coefs_ and intercepts_ must be arrays.")
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) != 1 or dtypes.pop() not in (np.float32, np.float64):
        raise ModelFileError("coefs_ and intercepts_ must share one dtype, float32 or float64.")
    for a, b, (fan_in, fan_out) in zip(coefs, intercepts, zip(units[:-1], units[1:])):
        if a.shape != (fan_in, fan_out) or b.shape != (fan_out,):
            raise ModelFileError(f"Layer shapes {a.shape}, {b.shape} do not match the"
                                 f" layer widths {units}.")
    if not all(np.isfinite(a).all() for a in arrays):
        raise ModelFileError("The weights are not all finite.")
    if d["out_activation_"] != model._output_activation():
        raise ModelFileError(f"Unexpected output activation {d['out_activation_']!r}.")
    names = d.get("feature_names_in_")
    if names is not None and not (isinstance(names, np.ndarray) and names.shape
                                  == (d["n_features_in_"],)
                                  and all(isinstance(v, str) for v in names)):
        raise ModelFileError("feature_names_in_ does not match n_features_in_.")
    n_params = sum(a.size for a in arrays)
    best = d.get("_best_params")
    if best is not None and not (isinstance(best, np.ndarray) and best.shape == (n_params,)):
        raise ModelFileError("_best_params does not match the network.")
    if "_optimizer" in d:
        try:
            d["_optimizer"] = StochasticOptimizer.from_fields(d["_optimizer"], n_params)
        except ValueError as exc:
            raise ModelFileError(str(exc)) from None
    if model._is_classifier:
        _check_labels(model)


def _check_labels(model):
    classes, lb = model.classes_, model._label_binarizer
    if not (isinstance(classes, np.ndarray) and classes.ndim == 1
            and isinstance(lb.classes_, np.ndarray)
            and np.array_equal(lb.classes_, classes)):
        raise ModelFileError("classes_ does not match the label encoding.")
    kind, n = lb.y_type_, len(classes)
    expected = {"binary": 1, "multiclass": n, "multilabel-indicator": n}.get(kind)
    if expected is None or n < 1 or model.n_outputs_ != max(expected, 1) \
            or lb.neg_label != 0 or lb.pos_label != 1 or lb.sparse_output is not False:
        raise ModelFileError("The label encoding does not match the network's outputs.")
