"""python -m fastmlp: train on scikit-learn's bundled digits data with fastmlp
and with scikit-learn side by side, and print the accuracy and fit time of each."""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLP

from fastmlp import MLPClassifier


def _fit_timed(est, X, y, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        est.fit(X, y)
        times.append(time.perf_counter() - start)
    return est, float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-iter", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3, help="fits per library (median time)")
    args = parser.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.25, random_state=0, stratify=y
    )
    params = dict(hidden_layer_sizes=(100,), max_iter=args.max_iter, random_state=0)
    print(f"digits: {X_train.shape[0]} training rows, {X_test.shape[0]} test rows, "
          f"{X.shape[1]} features; MLP {params}")
    rows = []
    for name, est in [("fastmlp", MLPClassifier(**params)), ("scikit-learn", SklearnMLP(**params))]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est, seconds = _fit_timed(est, X_train, y_train, args.repeats)
        rows.append((name, est.score(X_test, y_test), seconds, est))
    print(f"{'library':<14}{'test accuracy':>15}{'fit time (s)':>15}")
    for name, acc, seconds, _ in rows:
        print(f"{name:<14}{acc:>15.4f}{seconds:>15.4f}")
    ours, theirs = rows[0][3], rows[1][3]
    diff = max(np.abs(a - b).max() / np.abs(b).max() for a, b in zip(ours.coefs_, theirs.coefs_))
    print(f"speed-up: {rows[1][2] / rows[0][2]:.1f}x; "
          f"largest relative weight difference to scikit-learn: {diff:.1e}")


if __name__ == "__main__":
    main()
