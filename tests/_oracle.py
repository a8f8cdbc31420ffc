"""Helpers to compare a fastmlp model with scikit-learn's: tolerances, data
and comparisons, layer by layer."""

import warnings

import numpy as np
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

# Per layer max|a-b|/max|b| after a short run with the same random_state:
# rounding differences only in float64; in float32 scikit-learn computes
# parts (the Adam step, some deltas) in float64 where fastmlp does not.
TOL = {np.float64: 1e-6, np.float32: 1e-3}


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


def param_diff(ours, theirs):
    """Largest per-layer relative difference of coefs_ and intercepts_."""
    return max(rel_diff(a, b) for a, b in zip(ours.coefs_ + ours.intercepts_,
                                               theirs.coefs_ + theirs.intercepts_))


def classification(kind, n=157, n_features=9, seed=0):
    """X, y for kind 'binary' (string labels), 'multiclass' (4 classes) or
    'multilabel' (3 labels), or an int: that many classes (integer labels)."""
    n_classes = kind if isinstance(kind, int) else 2 if kind == "binary" else 4
    X, y = make_classification(
        n_samples=n, n_features=n_features, n_informative=6, n_classes=n_classes,
        n_clusters_per_class=1, random_state=seed,
    )
    if kind == "multilabel":
        rng = np.random.RandomState(seed)
        y = np.column_stack([y == 1, y >= 2, rng.rand(n) > 0.5]).astype(int)
    elif kind == "binary":
        y = np.where(y == 1, "yes", "no")  # string labels go through the binarizer
    return X, y


def regression(kind, n=143, n_features=7, seed=0):
    """X, y for kind 'single', 'multi' (3 targets), 'poisson' (counts), or an
    int: that many targets; scaled to |y| <= 1 (but counts)."""
    n_targets = kind if isinstance(kind, int) else 3 if kind == "multi" else 1
    X, y = make_regression(n_samples=n, n_features=n_features, n_targets=n_targets,
                           noise=0.5 if isinstance(kind, str) else 1.0, random_state=seed)
    y = y / np.abs(y).max()
    if kind == "poisson":
        y = np.random.RandomState(seed).poisson(np.exp(X[:, 0] * 0.5)).astype(float)
    return X, y
