"""Test configuration shared by every run (in the source tree or outside it).

Map of the tests, by level:

kernel level (small shims over the Cython kernels, float32/float64, n_threads 1 and 2)
    test_blas          the BLAS shim, and the benchmark's replay shim
    test_ops           every activation and loss point function, against the
                       NumPy references in fastmlp._kinds
    test_optim         one optimizer step of each rule against its closed form
    test_network       the entry points: loss-only and loss/gradient agree, the
                       fused step against params - lr * gradient, the whole-gradient
                       and pre-activation paths give the same bits
    test_gradients     finite differences of the loss, every activation x loss
    test_training      the training driver's epoch-end listeners and its monitor
    test_kinds         the registry: its rows match the kernels' enums and
                       scikit-learn's parameter values; its references are
                       consistent (derivatives by finite differences)

oracle level (the estimators against an independent reference)
    test_oracle, test_oracle_surface   scikit-learn 1.9 as the oracle, same random_state
    test_sklearn_suite, test_estimator_checks   scikit-learn's own tests, run on fastmlp
    test_reference     tests/_reference.py, a NumPy trainer of our own, checked against
                       scikit-learn (it decomposes a failing comparison, and covers
                       what PyTorch, the oracle of the extras, lacks)

surface and system level
    test_estimator     errors, parameters, signatures, pickling, metadata routing
    test_hostile_input random and hostile input, divergence, NaN/inf
    test_threads_dtypes  bit-identity for any n_threads and across processes; dtypes
    test_concurrency, test_interrupt, test_memory, test_large  threads, Ctrl-C,
                       memory, inputs beyond 2**31 elements (slow)
    test_persist       save/load, and hostile model files
    test_benchmarks, test_demo   the benchmark scripts and the demo still run

Helpers: _oracle.py (tolerances, data, comparisons with scikit-learn),
_snapshot.py (a failed call changed nothing), _child.py (a fresh Python),
_hostile.py (the property-based hostile-input run), _reference.py.
"""

import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: long-running; deselected by default (pyproject.toml), run with -m slow")


@pytest.fixture
def quiet():
    """Short fits that stop at max_iter: no ConvergenceWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield
