"""The registry of kinds (fastmlp/_kinds.py): one row per kernel id, the
default set is scikit-learn's, the parameter constraints come from it, and
its NumPy references are consistent with each other."""

import numpy as np
import pytest
from sklearn import neural_network as sk

import fastmlp
from fastmlp._kernels._ops import Activation, Loss
from fastmlp._kernels._optim import Rule
from fastmlp._kinds import (
    ACTIVATIONS, HIDDEN_ACTIVATIONS, LOSSES, REGRESSION_LOSSES, SCHEDULES, SOLVERS,
)


def _options(constraints):
    """The string values a list of scikit-learn constraints accepts."""
    values = set()
    for c in constraints:
        values |= set(getattr(c, "options", None) or getattr(c, "values", None) or ())
    return {v for v in values if isinstance(v, str)}


@pytest.mark.parametrize("table, enum", [
    (ACTIVATIONS, Activation), (LOSSES, Loss),
    ({n: s for n, s in SOLVERS.items() if s.stochastic}, Rule),
])
def test_every_kernel_id_has_exactly_one_row(table, enum):
    ids = [row.kernel if hasattr(row, "kernel") else row.rule for row in table.values()]
    assert sorted(ids) == sorted(int(m) for m in enum)


@pytest.mark.parametrize("param, ours", [
    ("activation", {n for n in HIDDEN_ACTIVATIONS if ACTIVATIONS[n].sklearn}),
    ("solver", {n for n, s in SOLVERS.items() if s.sklearn}),
    ("learning_rate", {n for n, s in SCHEDULES.items() if s.sklearn}),
])
def test_the_sklearn_rows_are_scikit_learns_values(param, ours):
    assert ours == _options(sk.MLPClassifier._parameter_constraints[param])


def test_the_sklearn_regression_losses_are_scikit_learns():
    ours = {n for n in REGRESSION_LOSSES if LOSSES[n].sklearn}
    assert ours == _options(sk.MLPRegressor._parameter_constraints["loss"])


@pytest.mark.parametrize("Est, param, expected", [
    ("MLPClassifier", "activation", set(HIDDEN_ACTIVATIONS)),
    ("MLPClassifier", "solver", set(SOLVERS)),
    ("MLPClassifier", "learning_rate", set(SCHEDULES)),
    ("MLPRegressor", "loss", set(REGRESSION_LOSSES)),
])
def test_parameter_constraints_come_from_the_registry(Est, param, expected):
    assert _options(getattr(fastmlp, Est)._parameter_constraints[param]) == expected


@pytest.mark.parametrize("name", [n for n, a in ACTIVATIONS.items() if a.derivative])
def test_activation_references_derivative_by_finite_differences(name):
    kind = ACTIVATIONS[name]
    z = np.linspace(-4, 4, 161) + 0.0123  # (relu's kink avoided)
    h = 1e-6
    numeric = (kind.forward(z + h) - kind.forward(z - h)) / (2 * h)
    np.testing.assert_allclose(kind.derivative(z), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_references_delta_is_the_gradient_of_the_loss(name):
    """delta(y, p) is d(sum_k term(y, act(z)))/dz at p = act(z), by finite
    differences in z (softmax couples the outputs of a row)."""
    kind = LOSSES[name]
    act = ACTIVATIONS[kind.out_activation].forward
    rng = np.random.RandomState(0)
    z = rng.randn(6, 4) * 0.7
    p = act(z)
    if kind.out_activation == "softmax":
        y = np.eye(4)[rng.randint(4, size=6)]
    elif kind.out_activation == "logistic":
        y = (rng.rand(6, 4) > 0.5).astype(float)
    elif kind.out_activation == "exp":
        y = rng.poisson(1.5, (6, 4)).astype(float)
    else:
        y = rng.randn(6, 4)
    numeric = np.empty_like(z)
    h = 1e-6
    for idx in np.ndindex(z.shape):
        e = np.zeros_like(z)
        e[idx] = h
        row = idx[0]
        up = kind.term(y[row], act(z + e)[row]).sum()
        down = kind.term(y[row], act(z - e)[row]).sum()
        numeric[idx] = (up - down) / (2 * h)
    # squared_error's term is the full square, its delta half its gradient:
    # the 1/2 lives in scale (scikit-learn's half squared error).
    factor = 0.5 if name == "squared_error" else 1.0
    np.testing.assert_allclose(kind.delta(y, p), factor * numeric, rtol=1e-5, atol=1e-7)
