"""The training drivers: scikit-learn's semantics of training in one place.

The Cython epoch kernel (``_network.run_epoch``) runs every mini-batch of an
epoch; this module owns what happens between epochs, exactly as scikit-learn
1.9's ``BaseMultilayerPerceptron._fit_stochastic``: the row order (one
``rng.shuffle`` per epoch, composed with the previous order), the batch size,
the epoch loss, ``loss_curve_``, the tol / n_iter_no_change stopping rule,
learning-rate schedules, early stopping, verbose output, the
ConvergenceWarning and Ctrl-C. ``fit_lbfgs`` hands the flat parameters to
scipy's L-BFGS-B as ``_fit_lbfgs`` does.
"""

import warnings

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastmlp import _network


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

    def copy(self, dtype):
        """An independent copy in ``dtype`` (a failed call cannot change the original)."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.state_a = self.state_a.astype(dtype, copy=True)
        new.state_b = self.state_b.astype(dtype, copy=True)
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


# BLAS takes 32-bit sizes: a batch and every layer width are GEMM dimensions.
BLAS_MAX_DIM = 2**31 - 1


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
    if batch_size > BLAS_MAX_DIM:
        raise ValueError(
            f"batch_size={batch_size} rows do not fit one BLAS call (32-bit sizes);"
            f" use batch_size <= {BLAS_MAX_DIM}."
        )
    return batch_size


def fit_stochastic(est, spec, X, Y, sample_weight, rng, incremental, n_threads, score,
                   check_x=False):
    """sgd/adam: train from est.coefs_ for up to max_iter epochs (one if incremental).

    Reads the hyper-parameters from ``est`` and updates its training
    attributes (n_iter_, t_, loss_, loss_curve_, best_loss_,
    validation_scores_, best_validation_score_, _no_improvement_count,
    _optimizer, _best_params) as scikit-learn does. The caller holds BLAS at
    one thread and restores ``est`` if this raises.

    Parameters
    ----------
    est : the estimator
    spec : NetSpec of the network
    X : ndarray (C-contiguous) or CSR/CSC matrix of shape (n_samples, n_features),
        float32 or float64
    Y : ndarray of shape (n_samples, n_outputs), the encoded targets
    sample_weight : ndarray of shape (n_samples,) or None
    rng : numpy RandomState (validation split, then the row order)
    incremental : bool
        partial_fit: keep the optimizer, one epoch, no ConvergenceWarning.
    n_threads : int
    score : callable (flat, X_val, y_val, sample_weight_val) -> float
        The estimator's validation score for early stopping.
    check_x : bool
        X's values were not checked (a later call's fast path): the first
        epoch's kernel looks for NaN/inf on the way, and X itself is checked
        (raising scikit-learn's error) only if it saw some, or if that epoch
        was interrupted before seeing every row. Without early stopping only.

    Returns
    -------
    flat : ndarray of shape (n_params,), the trained parameters in X's dtype
    """
    dtype = X.dtype
    flat = _network.pack(est.coefs_, est.intercepts_, dtype)
    if not incremental or not hasattr(est, "_optimizer"):
        est._optimizer = StochasticOptimizer(est.solver, flat.size, dtype, est.get_params())
    else:
        if est._optimizer.state_a.size != flat.size:
            # (scikit-learn fails here too, on shapes that do not broadcast)
            raise ValueError(
                "The optimizer state from the previous partial_fit does not match "
                f"the network ({est._optimizer.state_a.size} != {flat.size} parameters)."
            )
        est._optimizer = est._optimizer.copy(dtype)
    opt = est._optimizer

    if est.early_stopping and incremental:
        raise ValueError("partial_fit does not support early_stopping=True")
    early_stopping = est.early_stopping
    if early_stopping:
        X, X_val, Y, y_val, sample_weight, sw_val = _validation_split(
            est, X, Y, sample_weight, rng
        )
    Y = np.ascontiguousarray(Y, dtype=dtype)
    if sample_weight is not None:
        sample_weight = np.ascontiguousarray(sample_weight, dtype=dtype)

    n_samples = X.shape[0]
    batch_size = resolve_batch_size(est.batch_size, n_samples)
    inputs = _network.kernel_input(X, dtype)
    n_work, n_partials = spec.workspace_sizes(batch_size)
    work = np.empty(n_work, dtype=dtype)
    partials = np.empty(n_partials, dtype=np.float64)
    grads = np.empty_like(flat)
    # Sparse rows are addressed through the order, so it always exists then.
    need_order = est.shuffle or inputs["X"] is None
    order = np.arange(n_samples, dtype=np.intp) if need_order else None
    result = np.zeros(2, dtype=np.float64)
    # The optimizer's own rule: partial_fit keeps it even if `solver` changed.
    solver = _network.SOLVERS[opt.solver]
    alpha = float(est.alpha)
    est.loss_curve_ = list(est.loss_curve_)
    if early_stopping:
        est.validation_scores_ = list(est.validation_scores_)
    x_unchecked = check_x and inputs["X"] is not None
    try:
        est.n_iter_ = 0
        for _ in range(est.max_iter):
            if est.shuffle:
                perm = np.arange(n_samples)
                rng.shuffle(perm)
                order = order[perm]
            result[0] = 0.0
            result[1] = opt.t
            lr = opt.learning_rate if opt.solver == "sgd" else opt.learning_rate_init
            n_suspect = _network.run_epoch(
                spec, flat, grads, opt.state_a, opt.state_b, inputs["X"],
                inputs["X_data"], inputs["X_indices"], inputs["X_indptr"], Y,
                sample_weight, order, batch_size, solver, lr, opt.momentum,
                opt.nesterov, opt.beta_1, opt.beta_2, opt.epsilon, alpha, work,
                partials, result, n_threads, x_unchecked,
            )
            if x_unchecked:
                # NaN/inf seen, or a finite X whose product overflowed
                error = est._nonfinite_x_error(X) if n_suspect else None
                if error is not None:
                    raise error
                x_unchecked = False
            opt.t = int(result[1])
            est.n_iter_ += 1
            est.loss_ = float(result[0] / n_samples)
            est.t_ += n_samples
            est.loss_curve_.append(est.loss_)
            if est.verbose:
                print("Iteration %d, loss = %.8f" % (est.n_iter_, est.loss_))

            if early_stopping:
                _update_validation(est, flat, score(flat, X_val, y_val, sw_val))
            else:
                _update_no_improvement_count(est)
            opt.iteration_ends(est.t_)

            if est._no_improvement_count > est.n_iter_no_change:
                if early_stopping:
                    msg = (
                        "Validation score did not improve more than "
                        "tol=%f for %d consecutive epochs."
                        % (est.tol, est.n_iter_no_change)
                    )
                else:
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
        error = est._nonfinite_x_error(X) if x_unchecked else None  # (rows not reached)
        if error is not None:
            raise error from None
        opt.t = int(result[1])
        warnings.warn("Training interrupted by user.")

    if early_stopping:
        # scikit-learn always ends on the best snapshot, also at max_iter.
        flat = est._best_params.astype(dtype, copy=True)
    return flat


def _validation_split(est, X, Y, sample_weight, rng):
    """scikit-learn's early-stopping split: same RNG use, stratified only
    when there is a single output column (binary classification)."""
    stratify = Y if (est._is_classifier and est.n_outputs_ == 1) else None
    arrays = (X, Y) if sample_weight is None else (X, Y, sample_weight)
    parts = train_test_split(
        *arrays, random_state=rng, test_size=est.validation_fraction, stratify=stratify
    )
    X_train, X_val, Y_train, Y_val = parts[:4]
    sw_train, sw_val = parts[4:] if sample_weight is not None else (None, None)
    if X_val.shape[0] < 2:
        raise ValueError(
            "The validation set is too small. Increase 'validation_fraction' "
            "or the size of your dataset."
        )
    y_val = est._decode_targets(Y_val)
    return X_train, X_val, Y_train, y_val, sw_train, sw_val


def _update_validation(est, flat, val_score):
    """Early stopping: count epochs whose score did not beat best + tol."""
    est.validation_scores_.append(val_score)
    if est.verbose:
        print("Validation score: %f" % val_score)
    if val_score < est.best_validation_score_ + est.tol:
        est._no_improvement_count += 1
    else:
        est._no_improvement_count = 0
    if val_score > est.best_validation_score_:
        est.best_validation_score_ = val_score
        est._best_params = flat.copy()


def fit_lbfgs(est, spec, X, Y, sample_weight, n_threads):
    """L-BFGS-B over the flat float64 parameters, as scikit-learn calls it.

    Loss and gradient over all rows come from the Cython kernels (in chunks).
    Sets n_iter_ (min(nit, max_iter)) and loss_; warns ConvergenceWarning
    when scipy's status is not 0. Returns the float64 parameters.
    """
    loss = _network.FullLoss(spec, X, Y, sample_weight, est.alpha, n_threads)
    x0 = _network.pack(est.coefs_, est.intercepts_, np.float64)
    res = scipy.optimize.minimize(
        loss, x0, method="L-BFGS-B", jac=True,
        options={"maxfun": est.max_fun, "maxiter": est.max_iter, "gtol": est.tol},
    )
    n_iter = min(res.nit, est.max_iter)
    if res.status != 0:
        msg = (
            f"lbfgs failed to converge after {n_iter} iteration(s) "
            f"(status={res.status}):\n{res.message}\n"
        )
        if n_iter == est.max_iter:
            msg += (
                "\nIncrease the number of iterations to improve the "
                f"convergence (max_iter={est.max_iter})."
            )
        msg += (
            "\nYou might also want to scale the data as shown in:\n"
            "    https://scikit-learn.org/stable/modules/preprocessing.html"
        )
        warnings.warn(msg, ConvergenceWarning, stacklevel=2)
    est.n_iter_ = n_iter
    est.loss_ = float(res.fun)
    return np.ascontiguousarray(res.x, dtype=np.float64)


def _update_no_improvement_count(est):
    """Count epochs whose loss did not beat best_loss_ - tol."""
    loss = est.loss_curve_[-1]
    if loss > est.best_loss_ - est.tol:
        est._no_improvement_count += 1
    else:
        est._no_improvement_count = 0
    if loss < est.best_loss_:
        est.best_loss_ = loss
