"""Targets: a classifier's labels to the network's outputs and back.

The encoding follows scikit-learn's ``LabelBinarizer`` (which the classifier
keeps as ``_label_binarizer``, as scikit-learn does); for plain 1-D labels
(integers, bools, strings) NumPy alone gives the same result without the
binarizer's fixed cost, which dominates small ``partial_fit`` calls.
"""

import numpy as np
from sklearn.utils.multiclass import unique_labels


def plain_labels(y):
    """1-D integer, bool or string labels: types that cannot be continuous or
    mixed, for which NumPy alone gives scikit-learn's label handling."""
    return isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "iubU"


def unique(y):
    """sklearn.utils.multiclass.unique_labels(y), without its fixed cost for
    plain labels (where it is np.unique)."""
    return np.unique(y) if plain_labels(y) else unique_labels(y)


def binarize(binarizer, y):
    """``binarizer.transform(y).astype(bool)``, computed directly for plain
    binary/multiclass labels that are all among the fitted classes.

    bool, as scikit-learn keeps it (float32 X is then not upcast, and the
    stratified split sees this array)."""
    encoded = binarize_known(binarizer, y)
    return binarizer.transform(y).astype(bool) if encoded is None else encoded


def binarize_known(binarizer, y):
    """binarize(binarizer, y) if y are plain binary/multiclass labels that
    are all among the fitted classes (which it finds out on the way), else
    None."""
    classes = binarizer.classes_
    if (
        plain_labels(y)
        and binarizer.y_type_ in ("binary", "multiclass")
        and not binarizer.sparse_output
        and len(classes) >= 2
        and classes.dtype.kind in "iubU"
        and (classes.dtype.kind == "U") == (y.dtype.kind == "U")  # comparable
    ):
        idx = np.searchsorted(classes, y).clip(0, len(classes) - 1)
        if np.array_equal(classes[idx], y):
            if len(classes) == 2:
                return (idx == 1).reshape(-1, 1)
            encoded = np.zeros((len(y), len(classes)), dtype=bool)
            encoded[np.arange(len(y)), idx] = True
            return encoded
    return None


class LabelDecoder:
    """A classifier's network outputs and encoded targets back to its labels.

    Parameters
    ----------
    binarizer : fitted LabelBinarizer
    classes : ndarray, the classifier's ``classes_``
    n_outputs : int
    """

    def __init__(self, binarizer, classes, n_outputs):
        self.binarizer, self.classes, self.n_outputs = binarizer, classes, n_outputs

    def decode_output(self, y_pred):
        """Labels from output activations: LabelBinarizer.inverse_transform's
        rules without its checks (argmax for multiclass, threshold 0.5 for
        binary and multilabel)."""
        y_type = self.binarizer.y_type_
        if y_type == "multiclass":
            return self.classes.take(y_pred.argmax(axis=1), mode="clip")
        if y_type == "binary" and len(self.classes) == 2:
            return self.classes[(y_pred.ravel() > 0.5).astype(int)]
        if self.n_outputs == 1:
            y_pred = y_pred.ravel()
        return self.binarizer.inverse_transform(y_pred)

    def decode_targets(self, Y):
        """Labels from encoded targets."""
        return self.binarizer.inverse_transform(Y)


class IdentityDecoder:
    """A regressor's outputs are its predictions (one output: a 1-D array)."""

    @staticmethod
    def decode_output(y_pred):
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred

    @staticmethod
    def decode_targets(Y):
        return Y
