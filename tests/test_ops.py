"""Kernel level: every activation and loss point function (through the loops
of fastmlp/_kernels/_ops.pyx) against the NumPy references of fastmlp._kinds.

float32 and float64, read-only inputs, and the rows shared by 1 or 2
threads (the loops keep no state between calls; how the passes cut work
between threads is checked in test_network and test_threads_dtypes). The
references are float64; the kernels compute in the input's type (loss terms
in float64).
"""

import numpy as np
import pytest

from fastmlp._kernels._ops import (
    _activation_derivative, _bias_activation, _output_delta_loss,
)
from fastmlp._kinds import ACTIVATIONS, LOSSES

RTOL = {np.float32: 2e-6, np.float64: 1e-14}
DTYPES = [np.float32, np.float64]


def _readonly(a):
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def _preactivations(dtype, rows=37, cols=19, seed=0):
    rng = np.random.RandomState(seed)
    Z = rng.uniform(-6, 6, (rows, cols))
    Z[0, :4] = [0.0, -0.0, 40.0, -40.0]  # relu's kink, logistic's tails
    return Z.astype(dtype), rng.uniform(-1, 1, cols).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_matches_its_reference(name, dtype):
    kind = ACTIVATIONS[name]
    Z, b = _preactivations(dtype)
    if name == "exp":
        Z = Z / 8  # no overflow to compare
    expected = kind.forward(Z.astype(np.float64) + b.astype(np.float64))
    results = {}
    for n_threads in (1, 2):
        results[n_threads] = _bias_activation(Z.copy(), _readonly(b), kind.kernel,
                                              n_threads=n_threads)
    np.testing.assert_array_equal(results[1], results[2])
    assert results[1].dtype == dtype
    np.testing.assert_allclose(results[1], expected, rtol=RTOL[dtype], atol=RTOL[dtype] * 1e-3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", [n for n, a in ACTIVATIONS.items() if a.hidden])
def test_kept_preactivations_give_the_same_activations(name, dtype):
    # A hidden layer whose derivative needs Z keeps Z + b and writes act(Z + b)
    # elsewhere: the same bits as the in-place path.
    kind = ACTIVATIONS[name]
    Z, b = _preactivations(dtype)
    in_place = _bias_activation(Z.copy(), b, kind.kernel)
    kept = Z.copy()
    A = _bias_activation(kept, b, kind.kernel, keep_z=True, n_threads=2)
    np.testing.assert_array_equal(A, in_place)
    np.testing.assert_array_equal(kept, Z + b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", [n for n, a in ACTIVATIONS.items() if a.hidden])
def test_activation_derivative_matches_its_reference(name, dtype):
    kind = ACTIVATIONS[name]
    Z, b = _preactivations(dtype)
    Z = Z + b
    A = _bias_activation(Z.copy(), np.zeros_like(b), kind.kernel)
    delta = np.random.RandomState(1).randn(*Z.shape).astype(dtype)
    expected = delta.astype(np.float64) * kind.derivative(Z.astype(np.float64))
    results = {}
    for n_threads in (1, 2):
        d = delta.copy()
        _activation_derivative(d, _readonly(Z), _readonly(A), kind.kernel, n_threads)
        results[n_threads] = d
    np.testing.assert_array_equal(results[1], results[2])
    # The kernel's derivative is computed from A = act(Z) (rounded in dtype).
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(results[1], expected, rtol=rtol, atol=rtol)


def _loss_problem(name, dtype, rows=41, cols=5, seed=0):
    """Outputs P in the loss's output range and matching targets Y."""
    rng = np.random.RandomState(seed)
    out = LOSSES[name].out_activation
    P = ACTIVATIONS[out].forward(rng.randn(rows, cols) * (0.5 if out == "exp" else 2))
    if out == "softmax":
        Y = np.eye(cols)[rng.randint(cols, size=rows)]
        P[0] = np.eye(cols)[0]  # a probability of exactly 1 (clipped)
    elif out == "logistic":
        Y = (rng.rand(rows, cols) > 0.5).astype(float)
        P[0, 0] = 0.0  # (clipped)
    elif out == "exp":
        Y = rng.poisson(1.5, (rows, cols)).astype(float)
    else:
        Y = rng.randn(rows, cols)
    return P.astype(dtype), Y.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_terms_and_delta_match_their_reference(name, weighted, dtype):
    kind = LOSSES[name]
    P, Y = _loss_problem(name, dtype)
    sw = np.random.RandomState(2).uniform(0.2, 3, len(P)).astype(dtype) if weighted else None
    w = np.ones(len(P)) if sw is None else sw.astype(np.float64)
    P64, Y64 = P.astype(np.float64), Y.astype(np.float64)
    if name.endswith("log_loss"):  # the reference clips in the kernel's epsilon
        eps = np.finfo(dtype).eps
        P64 = np.clip(P64, eps, 1 - eps)
        expected_rows = w * kind.term(Y64, P64).sum(axis=1)
        P64 = P.astype(np.float64)
    else:
        expected_rows = w * kind.term(Y64, P64).sum(axis=1)
    expected_delta = w[:, None] * kind.delta(Y64, P64)
    results = {}
    for n_threads in (1, 2):
        delta = np.empty_like(P)
        rows = _output_delta_loss(delta, _readonly(P), _readonly(Y),
                                  None if sw is None else _readonly(sw), kind.kernel,
                                  0.0, n_threads)
        results[n_threads] = (delta, rows)
    np.testing.assert_array_equal(results[1][0], results[2][0])
    np.testing.assert_array_equal(results[1][1], results[2][1])
    delta, rows = results[1]
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(rows, expected_rows, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(delta, expected_delta, rtol=rtol, atol=rtol)
