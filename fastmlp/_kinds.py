"""Every kind fastmlp knows, one row each: activations, losses, solvers and
learning-rate schedules.

This is the single source of truth for them. The estimators' parameter
constraints, the kernels' integer ids, the model-file checks and the tests'
parametrisation are all derived from these tables, so adding a kind is a row
here plus its kernel point functions (see CONTRIBUTING.md). Each row carries a
NumPy reference of its math (float64), which the kernel-level tests compare
the kernels against.

The model followed is scikit-learn's ``_loss/loss.py`` (``_LOSSES``) and
``linear_model/_stochastic_gradient.py`` (``loss_functions`` feeding the
parameter constraints).
"""

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from fastmlp._kernels._ops import Activation as _Act
from fastmlp._kernels._ops import Loss as _Loss
from fastmlp._kernels._optim import Rule as _Rule


# ---- activations ----------------------------------------------------------

def _logistic(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class ActivationKind:
    """An activation function.

    name : the value of ``activation`` (hidden) or ``out_activation_`` (output)
    kernel : its id in the kernels (``_ops.Activation``)
    forward, derivative : NumPy references a(z) and a'(z), element-wise
        (softmax: row-wise, and no derivative: it is only an output)
    init_factor : the initial weights are U(-b, b) with
        b = sqrt(init_factor / (fan_in + fan_out)) (scikit-learn's rule)
    hidden : offered as the hidden activation (``activation=``)
    sklearn : scikit-learn's MLP has it (the default set stays scikit-learn's)
    needs_preactivation : its derivative is a function of Z, not of a(Z);
        training then stores the hidden pre-activations
    """

    name: str
    kernel: int
    forward: Callable
    derivative: Optional[Callable]
    init_factor: float = 6.0
    hidden: bool = True
    sklearn: bool = True
    needs_preactivation: bool = False


ACTIVATIONS = {a.name: a for a in [
    ActivationKind("identity", _Act.IDENTITY, lambda z: z, np.ones_like),
    ActivationKind("logistic", _Act.LOGISTIC, _logistic,
                   lambda z: _logistic(z) * (1.0 - _logistic(z)), init_factor=2.0),
    ActivationKind("tanh", _Act.TANH, np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    ActivationKind("relu", _Act.RELU, lambda z: np.maximum(z, 0.0),
                   lambda z: (z > 0).astype(z.dtype)),
    ActivationKind("softmax", _Act.SOFTMAX, _softmax, None, hidden=False),
    ActivationKind("exp", _Act.EXP, np.exp, np.exp, hidden=False),
]}

HIDDEN_ACTIVATIONS = tuple(name for name, a in ACTIVATIONS.items() if a.hidden)


# ---- losses -----------------------------------------------------------------

def _clip(p):
    eps = np.finfo(p.dtype).eps
    return np.clip(p, eps, 1 - eps)


def _xlogy(x, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))


@dataclass(frozen=True)
class LossKind:
    """A loss, computed on the output of its output activation.

    name : the value of the regressor's ``loss`` (classifiers choose theirs
        from the targets)
    kernel : its id in the kernels (``_ops.Loss``)
    out_activation : the output activation it is paired with
    term : NumPy reference of the per-element term r(y, p): a row's loss is
        the sum of its terms over the outputs
    delta : NumPy reference of dLoss/dz per element, (y, p) -> array (z the
        output pre-activation; p - y for a loss on its canonical link)
    scale : n_outputs -> the factor from sum_i w_i r_i / sum_i w_i to the
        reported loss (before the L2 term)
    estimator : 'classifier' (chosen by the target type) or 'regressor'
        (chosen by ``loss=``)
    sklearn : scikit-learn's MLP has it
    parameter : the estimator parameter that holds the loss's own parameter
        (None: the loss has none)
    """

    name: str
    kernel: int
    out_activation: str
    term: Callable
    delta: Callable
    scale: Callable[[int], float]
    estimator: str
    sklearn: bool = True
    parameter: Optional[str] = None


def _canonical_delta(y, p):
    return p - y


def _unit_scale(n_outputs):
    return 1.0


LOSSES = {loss.name: loss for loss in [
    # scikit-learn reports half the mean over outputs of the squared error (its
    # gradient is that of the sum: its issue #8349, kept for compatibility).
    LossKind("squared_error", _Loss.SQUARED_ERROR, "identity",
             lambda y, p: (y - p) ** 2, _canonical_delta,
             lambda n_outputs: 0.5 / n_outputs, "regressor"),
    LossKind("poisson", _Loss.POISSON, "exp",
             lambda y, p: _xlogy(y, y / p) - y + p, _canonical_delta, _unit_scale,
             "regressor"),
    LossKind("log_loss", _Loss.LOG_LOSS, "softmax",
             lambda y, p: -_xlogy(y, _clip(p)), _canonical_delta, _unit_scale,
             "classifier"),
    LossKind("binary_log_loss", _Loss.BINARY_LOG_LOSS, "logistic",
             lambda y, p: -(_xlogy(y, _clip(p)) + _xlogy(1 - y, 1 - _clip(p))),
             _canonical_delta, _unit_scale, "classifier"),
]}

REGRESSION_LOSSES = tuple(n for n, loss in LOSSES.items() if loss.estimator == "regressor")


def classification_loss(multiclass):
    """The classifier's loss: log-loss on a softmax for multiclass targets,
    binary log-loss on logistic outputs for binary and multilabel ones."""
    return "log_loss" if multiclass else "binary_log_loss"


# ---- solvers and learning-rate schedules ------------------------------------

@dataclass(frozen=True)
class SolverKind:
    """A solver.

    name : the value of ``solver``
    rule : the kernels' update rule (``_optim.Rule``); None for L-BFGS, which
        runs in scipy over the kernels' loss and gradient
    state : the names of its state arrays (one each per parameter)
    counts_steps : its rate depends on its step count t (batches seen)
    sklearn : scikit-learn's MLP has it
    """

    name: str
    rule: Optional[int]
    state: tuple
    counts_steps: bool = False
    sklearn: bool = True

    @property
    def stochastic(self):
        return self.rule is not None


SOLVERS = {s.name: s for s in [
    SolverKind("lbfgs", None, ()),
    SolverKind("sgd", _Rule.SGD, ("velocity",)),
    SolverKind("adam", _Rule.ADAM, ("first_moment", "second_moment"), counts_steps=True),
]}

STOCHASTIC_SOLVERS = tuple(name for name, s in SOLVERS.items() if s.stochastic)


@dataclass(frozen=True)
class ScheduleKind:
    """A learning-rate schedule (``learning_rate=``; scikit-learn applies it
    to sgd only, and so does fastmlp).

    epoch_rate : (rate, initial rate, samples seen, power_t) -> the rate for
        the next epoch
    on_stall : rate -> the rate after the stopping rule fired, or None to
        stop training
    stop_note : what verbose output adds when on_stall stops training
    """

    name: str
    epoch_rate: Callable
    on_stall: Callable
    stop_note: str = " Stopping."
    sklearn: bool = True


def _keep(rate, initial, samples_seen, power_t):
    return rate


def _stop(rate):
    return None


def _inverse_scaling(rate, initial, samples_seen, power_t):
    return initial / (samples_seen + 1) ** power_t


def _divide_by_five(rate):
    return None if rate <= 1e-6 else rate / 5.0


SCHEDULES = {s.name: s for s in [
    ScheduleKind("constant", _keep, _stop),
    ScheduleKind("invscaling", _inverse_scaling, _stop),
    ScheduleKind("adaptive", _keep, _divide_by_five,
                 stop_note=" Learning rate too small. Stopping."),
]}
