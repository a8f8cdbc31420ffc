"""The per-epoch driver of sgd/adam training: scikit-learn's semantics in one place.

The Cython epoch kernel (``_network.run_epoch``) runs every mini-batch of an
epoch; this module owns what happens between epochs, exactly as scikit-learn
1.9's ``BaseMultilayerPerceptron._fit_stochastic``: the row order (one
``rng.shuffle`` per epoch, composed with the previous order), the batch size,
the epoch loss, ``loss_curve_``, the tol / n_iter_no_change stopping rule,
learning-rate schedules, verbose output, the ConvergenceWarning and Ctrl-C.
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastmlp._network import SOLVERS, run_epoch


class StochasticOptimizer:
    """sgd or adam state over the flat parameter buffer.

    Parameters
    ----------
    solver : {'sgd', 'adam'}
    n_params : int
        Size of the flat parameter buffer.
    dtype : numpy dtype
        dtype of the parameters (and so of the state).
    params : dict
        The estimator's parameters (learning_rate_init, learning_rate,
        momentum, nesterovs_momentum, power_t, beta_1, beta_2, epsilon).

    Attributes
    ----------
    learning_rate : float
        The current rate (sgd); Adam scales ``learning_rate_init`` per step.
    t : int
        Adam's step count (batches seen).
    state_a, state_b : ndarray of shape (n_params,)
        Velocity (sgd), or first and second moments (adam).
    """

    def __init__(self, solver, n_params, dtype, params):
        self.solver = solver
        self.learning_rate_init = float(params["learning_rate_init"])
        self.learning_rate = self.learning_rate_init
        self.lr_schedule = params["learning_rate"] if solver == "sgd" else "constant"
        self.momentum = float(params["momentum"])
        self.nesterov = bool(params["nesterovs_momentum"])
        self.power_t = float(params["power_t"])
        self.beta_1 = float(params["beta_1"])
        self.beta_2 = float(params["beta_2"])
        self.epsilon = float(params["epsilon"])
        self.t = 0
        self.state_a = np.zeros(n_params, dtype=dtype)
        self.state_b = np.zeros(n_params if solver == "adam" else 1, dtype=dtype)

    def copy(self):
        """An independent copy (so a failed call cannot change the original)."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.state_a = self.state_a.copy()
        new.state_b = self.state_b.copy()
        return new

    def iteration_ends(self, time_step):
        """invscaling: lr = lr0 / (samples seen + 1) ** power_t, once per epoch."""
        if self.lr_schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg, verbose):
        """Whether to stop; 'adaptive' divides the rate by 5 instead, down to 1e-6."""
        if self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.learning_rate)
        return False


def resolve_batch_size(batch_size, n_samples):
    """'auto' is min(200, n); an int above n warns and is clipped."""
    if batch_size == "auto":
        return min(200, n_samples)
    if batch_size > n_samples:
        warnings.warn(
            "Got `batch_size` less than 1 or larger than "
            "sample size. It is going to be clipped"
        )
    return int(np.clip(batch_size, 1, n_samples))


def fit_stochastic(est, spec, flat, X, Y, sample_weight, rng, incremental, n_threads):
    """Train ``flat`` in place for up to max_iter epochs (one if incremental).

    Reads the hyper-parameters from ``est`` and updates its training
    attributes (n_iter_, t_, loss_, loss_curve_, best_loss_,
    _no_improvement_count, _optimizer) as scikit-learn does. The caller holds
    BLAS at one thread and restores ``est`` if this raises.

    Parameters
    ----------
    est : the estimator
    spec : NetSpec of the network
    flat : ndarray of shape (n_params,), the parameters (IN/OUT)
    X : ndarray of shape (n_samples, n_features), C-contiguous, float32/64
    Y : ndarray of shape (n_samples, n_outputs), X's dtype
    sample_weight : ndarray of shape (n_samples,) of X's dtype, or None
    rng : numpy RandomState, consumed for the row order
    incremental : bool, one epoch and no ConvergenceWarning (partial_fit)
    n_threads : int
    """
    opt = est._optimizer
    n_samples = X.shape[0]
    batch_size = resolve_batch_size(est.batch_size, n_samples)
    n_work, n_partials = spec.workspace_sizes(batch_size)
    work = np.empty(n_work, dtype=X.dtype)
    partials = np.empty(n_partials, dtype=np.float64)
    grads = np.empty_like(flat)
    order = np.arange(n_samples, dtype=np.intp) if est.shuffle else None
    result = np.zeros(2, dtype=np.float64)
    solver = SOLVERS[est.solver]
    alpha = float(est.alpha)
    try:
        est.n_iter_ = 0
        for _ in range(est.max_iter):
            if est.shuffle:
                perm = np.arange(n_samples)
                rng.shuffle(perm)
                order = order[perm]
            result[0] = 0.0
            result[1] = opt.t
            lr = opt.learning_rate if est.solver == "sgd" else opt.learning_rate_init
            run_epoch(
                spec, flat, grads, opt.state_a, opt.state_b, X, Y, sample_weight,
                order, batch_size, solver, lr, opt.momentum, opt.nesterov,
                opt.beta_1, opt.beta_2, opt.epsilon, alpha, work, partials,
                result, n_threads,
            )
            opt.t = int(result[1])
            est.n_iter_ += 1
            est.loss_ = float(result[0] / n_samples)
            est.t_ += n_samples
            est.loss_curve_.append(est.loss_)
            if est.verbose:
                print("Iteration %d, loss = %.8f" % (est.n_iter_, est.loss_))

            _update_no_improvement_count(est)
            opt.iteration_ends(est.t_)

            if est._no_improvement_count > est.n_iter_no_change:
                msg = (
                    "Training loss did not improve more than tol=%f"
                    " for %d consecutive epochs." % (est.tol, est.n_iter_no_change)
                )
                if opt.trigger_stopping(msg, est.verbose):
                    break
                est._no_improvement_count = 0

            if incremental:
                break

            if est.n_iter_ == est.max_iter:
                warnings.warn(
                    "Stochastic Optimizer: Maximum iterations (%d) "
                    "reached and the optimization hasn't converged yet."
                    % est.max_iter,
                    ConvergenceWarning,
                )
    except KeyboardInterrupt:
        # The kernel stopped between mini-batches; keep what was trained.
        opt.t = int(result[1])
        warnings.warn("Training interrupted by user.")


def _update_no_improvement_count(est):
    """Count epochs whose loss did not beat best_loss_ - tol."""
    loss = est.loss_curve_[-1]
    if loss > est.best_loss_ - est.tol:
        est._no_improvement_count += 1
    else:
        est._no_improvement_count = 0
    if loss < est.best_loss_:
        est.best_loss_ = loss
