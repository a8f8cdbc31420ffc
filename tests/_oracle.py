"""Helpers to compare a fastmlp model with scikit-learn's, layer by layer."""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning


def rel_diff(a, b):
    """max|a - b| / max|b| (b is scikit-learn's)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = np.abs(b).max()
    return np.abs(a - b).max() / (scale if scale > 0 else 1.0)


def fit_both(ours, theirs, X, y, sample_weight=None):
    """Fit both estimators on the same data, ignoring convergence warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y, sample_weight=sample_weight)
        theirs.fit(X, y, sample_weight=sample_weight)
    return ours, theirs


def worst_difference(ours, theirs):
    """Largest per-layer relative difference of coefs_, intercepts_, loss_curve_."""
    diffs = [rel_diff(a, b) for a, b in zip(ours.coefs_, theirs.coefs_)]
    diffs += [rel_diff(a, b) for a, b in zip(ours.intercepts_, theirs.intercepts_)]
    diffs.append(rel_diff(ours.loss_curve_, theirs.loss_curve_))
    return max(diffs)
