"""Smoke test of an installed fastmlp (run from outside the source tree).

Fits and predicts on the digits data, checks the model against scikit-learn's
for the same random_state, and checks that the build is what we asked for:
``--openmp yes|no``.
"""

import argparse
import io
import sys
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier as Reference

import fastmlp

parser = argparse.ArgumentParser()
parser.add_argument("--openmp", choices=["yes", "no"], required=True)
args = parser.parse_args()

assert "site-packages" in fastmlp.__file__, fastmlp.__file__
config = io.StringIO()
fastmlp.show_config(file=config)
print(config.getvalue())
enabled = "OpenMP: enabled" in config.getvalue()
assert enabled == (args.openmp == "yes"), "unexpected OpenMP build"

X, y = load_digits(return_X_y=True)
X = X / 16.0
params = dict(hidden_layer_sizes=(32,), max_iter=30, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ours = fastmlp.MLPClassifier(n_threads=2, **params).fit(X, y)
    theirs = Reference(**params).fit(X, y)
diff = max(np.abs(a - b).max() / np.abs(b).max() for a, b in zip(ours.coefs_, theirs.coefs_))
accuracy = (ours.predict(X) == y).mean()
print(f"smoke: relative difference to scikit-learn {diff:.1e}, training accuracy {accuracy:.3f}")
assert diff < 1e-6 and accuracy > 0.8
print("smoke test passed")
sys.exit(0)
