"""The training drivers: scikit-learn's semantics of training in one place.

The Cython epoch kernel (``_network.run_epoch``) runs every mini-batch of an
epoch; this module owns what happens between epochs, exactly as scikit-learn
1.9's ``BaseMultilayerPerceptron._fit_stochastic``: the row order (one
``rng.shuffle`` per epoch, composed with the previous order), the batch size,
the validation split, the epoch loss, the tol / n_iter_no_change stopping
rule, learning-rate schedules, early stopping, the ConvergenceWarning and
Ctrl-C. ``fit_lbfgs`` hands the flat parameters to scipy's L-BFGS-B as
``_fit_lbfgs`` does.

Data flows down and results come back: the drivers take the settings, the
network, the data and the training state so far, and return the trained
parameters and the new state; they never see the estimator. What happens at
the end of an epoch is told to listeners (``on_epoch_end``); scikit-learn's
verbose output is one of them.
"""

import warnings
from dataclasses import dataclass, field
from typing import NamedTuple, Optional

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastmlp import _network
from fastmlp._optimizers import StochasticOptimizer


class NonFiniteInput(ValueError):
    """X holds NaN or infinity (found during training; the estimator words
    scikit-learn's error for it)."""


@dataclass
class StochasticSettings:
    """What sgd/adam training reads of the estimator's parameters."""

    max_iter: int
    batch_size: object          # int or 'auto'
    shuffle: bool
    tol: float
    n_iter_no_change: float
    early_stopping: bool
    validation_fraction: float
    alpha: float
    optimizer: dict             # StochasticOptimizer.PARAMS: what a new optimizer is made of

    # The estimator parameters training reads (the optimizer's included).
    OWN = ("max_iter", "batch_size", "shuffle", "tol", "n_iter_no_change", "early_stopping",
           "validation_fraction", "alpha")
    PARAMS = OWN + StochasticOptimizer.PARAMS

    @classmethod
    def from_params(cls, params):
        """From a mapping holding at least PARAMS (get_params() does)."""
        return cls(**{k: params[k] for k in cls.OWN},
                   optimizer={k: params[k] for k in StochasticOptimizer.PARAMS})


@dataclass
class TrainingState:
    """What sgd/adam training continues from and returns: the estimator's
    fitted attributes of these names (``n_iter_``, ``t_``, ``loss_``, ...,
    ``_no_improvement_count``, ``_best_params``, ``_optimizer``)."""

    n_iter: int = 0
    t: int = 0
    loss: Optional[float] = None
    loss_curve: list = field(default_factory=list)
    best_loss: Optional[float] = np.inf
    validation_scores: Optional[list] = None
    best_validation_score: Optional[float] = None
    no_improvement_count: int = 0
    best_params: Optional[np.ndarray] = None
    optimizer: Optional[StochasticOptimizer] = None

    @classmethod
    def fresh(cls, early_stopping, best_params):
        """The state before the first epoch (scikit-learn's _initialize)."""
        if early_stopping:
            return cls(best_loss=None, validation_scores=[], best_validation_score=-np.inf,
                       best_params=best_params)
        return cls(best_params=best_params)


class EpochEnd(NamedTuple):
    """What listeners hear at the end of every epoch."""

    n_iter: int                         # epochs of this call so far
    loss: float                         # the epoch's training loss
    validation_score: Optional[float]   # early stopping's score, or None
    message: Optional[str]              # what the stopping rule said, or None


class VerboseOutput:
    """scikit-learn's verbose lines, on standard output."""

    @staticmethod
    def on_epoch_end(event):
        print("Iteration %d, loss = %.8f" % (event.n_iter, event.loss))
        if event.validation_score is not None:
            print("Validation score: %f" % event.validation_score)
        if event.message is not None:
            print(event.message)


class ImprovementMonitor:
    """Counts consecutive epochs without improvement of a monitored value.

    A score improves when it beats the best by more than tol (higher is
    better: validation accuracy or R^2); a loss when it is below the best by
    more than tol (lower is better: the training loss). Each value that is
    strictly better than the best becomes the best.

    Parameters
    ----------
    higher_is_better : bool
    tol : float
    best : float
        The best value so far (-inf / inf before the first).
    count : int
        Epochs without improvement so far.
    """

    def __init__(self, higher_is_better, tol, best, count):
        self.higher_is_better, self.tol = higher_is_better, tol
        self.best, self.count = best, count

    def update(self, value):
        """Count ``value``; returns True if it is the new best."""
        if self.higher_is_better:
            stalled, better = value < self.best + self.tol, value > self.best
        else:
            stalled, better = value > self.best - self.tol, value < self.best
        self.count = self.count + 1 if stalled else 0
        if better:
            self.best = value
        return better


class ValidationScorer:
    """Early stopping's score of a network on a held-out set: accuracy for a
    classifier, R^2 for a regressor, on decoded predictions.

    Parameters
    ----------
    spec : NetSpec
    n_threads : int
    decoder : fastmlp._targets.LabelDecoder or IdentityDecoder
    score_function : callable (y_true, y_pred, sample_weight=) -> float
    """

    def __init__(self, spec, n_threads, decoder, score_function):
        self.spec, self.n_threads = spec, n_threads
        self.decoder, self.score_function = decoder, score_function

    def bind(self, X, Y, sample_weight):
        """The score as a function of the flat parameters, on these rows
        (Y encoded as the network's targets)."""
        y = self.decoder.decode_targets(Y)

        def score(flat):
            y_pred = self.decoder.decode_output(
                _network.predict_outputs(self.spec, flat, X, self.n_threads))
            if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
                return np.nan
            return self.score_function(y, y_pred, sample_weight=sample_weight)

        return score


def resolve_batch_size(batch_size, n_samples):
    """'auto' is min(200, n); an int above n warns and is clipped. More than
    BLAS_MAX_DIM rows in one batch is a ValueError."""
    if batch_size == "auto":
        return min(200, n_samples)
    if batch_size > n_samples:
        warnings.warn(
            "Got `batch_size` less than 1 or larger than "
            "sample size. It is going to be clipped"
        )
    batch_size = int(np.clip(batch_size, 1, n_samples))
    if batch_size > _network.BLAS_MAX_DIM:
        raise ValueError(
            f"batch_size={batch_size} rows do not fit one BLAS call (32-bit sizes);"
            f" use batch_size <= {_network.BLAS_MAX_DIM}."
        )
    return batch_size


def fit_stochastic(settings, spec, flat, X, Y, sample_weight, rng, state, *, incremental,
                   n_threads, scorer, stratify, listeners=(), check_x=False):
    """sgd/adam: train ``flat`` for up to max_iter epochs (one if incremental).

    The caller holds BLAS at one thread. ``flat`` is trained in place and
    ``state`` updated in place (pass fresh ones); what they refer to is not
    modified (the lists and the optimizer are copied first), so a failed call
    leaves the caller's attributes as they were.

    Parameters
    ----------
    settings : StochasticSettings
    spec : NetSpec of the network
    flat : ndarray of shape (n_params,) of X's dtype, the parameters to start from
    X : ndarray (C-contiguous) or CSR/CSC matrix of shape (n_samples, n_features),
        float32 or float64
    Y : ndarray of shape (n_samples, n_outputs), the encoded targets
    sample_weight : ndarray of shape (n_samples,) or None
    rng : numpy RandomState (validation split, then the row order)
    state : TrainingState to continue from
    incremental : bool
        partial_fit: keep the optimizer, one epoch, no ConvergenceWarning.
    n_threads : int
    scorer : ValidationScorer (early stopping's score), or None without early stopping
    stratify : bool
        Stratify the validation split (scikit-learn: binary classification).
    listeners : objects with on_epoch_end(EpochEnd); one that returns True
        stops training after that epoch.
    check_x : bool
        X's values were not checked (a later call's fast path): the first
        epoch's kernel looks for NaN/inf on the way, and X itself is checked
        only if it saw some, or if that epoch was interrupted before seeing
        every row; NonFiniteInput if X holds any. Without early stopping only.

    Returns
    -------
    flat : ndarray of shape (n_params,), the trained parameters in X's dtype
    state : TrainingState after training
    """
    dtype = X.dtype
    state.loss_curve = list(state.loss_curve)
    if not incremental or state.optimizer is None:
        opt = StochasticOptimizer.from_params(flat.size, dtype, settings.optimizer)
    else:
        if state.optimizer.n_params != flat.size:
            # (scikit-learn fails here too, on shapes that do not broadcast)
            raise ValueError(
                "The optimizer state from the previous partial_fit does not match "
                f"the network ({state.optimizer.n_params} != {flat.size} parameters)."
            )
        opt = state.optimizer.copy(dtype)
    state.optimizer = opt

    if settings.early_stopping and incremental:
        raise ValueError("partial_fit does not support early_stopping=True")
    early_stopping = settings.early_stopping
    if early_stopping:
        X, X_val, Y, Y_val, sample_weight, sw_val = _validation_split(
            X, Y, sample_weight, rng, settings.validation_fraction, stratify)
        validation_score = scorer.bind(X_val, Y_val, sw_val)
        state.validation_scores = list(state.validation_scores)
        monitor = ImprovementMonitor(True, settings.tol, state.best_validation_score,
                                     state.no_improvement_count)
    else:
        monitor = ImprovementMonitor(False, settings.tol, state.best_loss,
                                     state.no_improvement_count)
    Y = np.ascontiguousarray(Y, dtype=dtype)
    if sample_weight is not None:
        sample_weight = np.ascontiguousarray(sample_weight, dtype=dtype)

    n_samples = X.shape[0]
    batch_size = resolve_batch_size(settings.batch_size, n_samples)
    inputs = _network.KernelInput(X, dtype)
    n_work, n_partials = spec.workspace_sizes(batch_size)
    work = _network.aligned_empty(n_work, dtype)
    partials = np.empty(n_partials, dtype=np.float64)
    grads = _network.aligned_empty(flat.size, dtype)
    # Sparse rows are addressed through the order, so it always exists then.
    need_order = settings.shuffle or inputs.sparse
    order = np.arange(n_samples, dtype=np.intp) if need_order else None
    x_unchecked = check_x and not inputs.sparse
    kernel_opt = None
    try:
        state.n_iter = 0
        for _ in range(settings.max_iter):
            if settings.shuffle:
                perm = np.arange(n_samples)
                rng.shuffle(perm)
                order = order[perm]
            kernel_opt = opt.kernel_spec(settings.alpha)
            loss_sum, n_suspect = _network.run_epoch(
                spec, kernel_opt, inputs, Y, sample_weight, order, batch_size, flat,
                grads=grads, work=work, partials=partials, n_threads=n_threads,
                check_x=x_unchecked,
            )
            opt.took_steps(kernel_opt)
            if x_unchecked:
                # NaN/inf seen, or a finite X whose product overflowed
                if n_suspect and not np.isfinite(inputs.array).all():
                    raise NonFiniteInput("X holds NaN or infinity.")
                x_unchecked = False
            state.n_iter += 1
            state.loss = float(loss_sum / n_samples)
            state.t += n_samples
            state.loss_curve.append(state.loss)

            score = None
            if early_stopping:
                score = validation_score(flat)
                state.validation_scores.append(score)
                if monitor.update(score):
                    state.best_params = flat.copy()
                state.best_validation_score = monitor.best
            else:
                monitor.update(state.loss)
                state.best_loss = monitor.best
            state.no_improvement_count = monitor.count
            opt.iteration_ends(state.t)

            stop, message = False, None
            if monitor.count > settings.n_iter_no_change:
                if early_stopping:
                    msg = (
                        "Validation score did not improve more than "
                        "tol=%f for %d consecutive epochs."
                        % (settings.tol, settings.n_iter_no_change)
                    )
                else:
                    msg = (
                        "Training loss did not improve more than tol=%f"
                        " for %d consecutive epochs."
                        % (settings.tol, settings.n_iter_no_change)
                    )
                stop, message = opt.trigger_stopping(msg)
                if not stop:
                    monitor.count = state.no_improvement_count = 0
            event = EpochEnd(state.n_iter, state.loss, score, message)
            requested = [listener.on_epoch_end(event) for listener in listeners]
            if stop or any(requested) or incremental:
                break
            if state.n_iter == settings.max_iter:
                warnings.warn(
                    "Stochastic Optimizer: Maximum iterations (%d) "
                    "reached and the optimization hasn't converged yet."
                    % settings.max_iter,
                    ConvergenceWarning,
                )
    except KeyboardInterrupt:
        # The kernel stopped between mini-batches; keep what was trained.
        if x_unchecked and not np.isfinite(inputs.array).all():  # (rows not reached)
            raise NonFiniteInput("X holds NaN or infinity.") from None
        if kernel_opt is not None:
            opt.took_steps(kernel_opt)
        warnings.warn("Training interrupted by user.")

    if early_stopping:
        # scikit-learn always ends on the best snapshot, also at max_iter.
        flat = state.best_params.astype(dtype, copy=True)
    return flat, state


def _validation_split(X, Y, sample_weight, rng, validation_fraction, stratify):
    """scikit-learn's early-stopping split: same RNG use; stratified on Y
    when ``stratify`` (scikit-learn: a single output column, i.e. binary)."""
    arrays = (X, Y) if sample_weight is None else (X, Y, sample_weight)
    parts = train_test_split(
        *arrays, random_state=rng, test_size=validation_fraction,
        stratify=Y if stratify else None,
    )
    X_train, X_val, Y_train, Y_val = parts[:4]
    sw_train, sw_val = parts[4:] if sample_weight is not None else (None, None)
    if X_val.shape[0] < 2:
        raise ValueError(
            "The validation set is too small. Increase 'validation_fraction' "
            "or the size of your dataset."
        )
    return X_train, X_val, Y_train, Y_val, sw_train, sw_val


def fit_lbfgs(spec, flat, X, Y, sample_weight, *, alpha, max_iter, max_fun, tol, n_threads):
    """L-BFGS-B over the flat float64 parameters, as scikit-learn calls it.

    Loss and gradient over all rows come from the Cython kernels (in chunks).
    Warns ConvergenceWarning when scipy's status is not 0.

    Returns
    -------
    flat : ndarray of float64, the parameters found
    n_iter : int, min(scipy's iterations, max_iter)
    loss : float, the loss at ``flat``
    """
    loss = _network.FullLoss(spec, X, Y, sample_weight, alpha, n_threads)
    res = scipy.optimize.minimize(
        loss, flat.astype(np.float64), method="L-BFGS-B", jac=True,
        options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol},
    )
    n_iter = min(res.nit, max_iter)
    if res.status != 0:
        msg = (
            f"lbfgs failed to converge after {n_iter} iteration(s) "
            f"(status={res.status}):\n{res.message}\n"
        )
        if n_iter == max_iter:
            msg += (
                "\nIncrease the number of iterations to improve the "
                f"convergence (max_iter={max_iter})."
            )
        msg += (
            "\nYou might also want to scale the data as shown in:\n"
            "    https://scikit-learn.org/stable/modules/preprocessing.html"
        )
        warnings.warn(msg, ConvergenceWarning, stacklevel=2)
    return np.ascontiguousarray(res.x, dtype=np.float64), n_iter, float(res.fun)
