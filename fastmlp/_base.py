"""The machinery MLPClassifier and MLPRegressor share: fit, partial_fit and
predict on fastmlp's kernels, and the fitted state they keep.

Data flows down from here and results come back: this class validates the
parameters and the input, builds the network's spec and the training
settings, calls the training driver (``_training``) or the network
(``_network``) with them, and writes the fitted attributes from what they
return. Nothing below it reads or writes the estimator.
"""

from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from fastmlp import _network
from fastmlp._kinds import HIDDEN_ACTIVATIONS, LOSSES, SCHEDULES, SOLVERS, STOCHASTIC_SOLVERS
from fastmlp._network import BLAS_MAX_DIM
from fastmlp._threads import blas_single_threaded, resolve_n_threads
from fastmlp._training import (
    StochasticSettings, TrainingState, ValidationScorer, VerboseOutput, fit_lbfgs,
    fit_stochastic,
)
from fastmlp._validation import (
    ARRAY_LIKE, BOOLEAN, NONE, RANDOM_STATE, VERBOSE, Among, Interval,
    check_layers, check_sample_weight, is_fast_fit_input, is_fast_input, validate_params,
)


class _BaseMLP(BaseEstimator):
    """Shared machinery of MLPClassifier and MLPRegressor (not public)."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [ARRAY_LIKE, Interval(Integral, 1, None, "left")],
        "activation": [Among(str, HIDDEN_ACTIVATIONS)],
        "solver": [Among(str, tuple(SOLVERS))],
        "alpha": [Interval(Real, 0, None, "left")],
        "batch_size": [Among(str, ("auto",)), Interval(Integral, 1, None, "left")],
        "learning_rate": [Among(str, tuple(SCHEDULES))],
        "learning_rate_init": [Interval(Real, 0, None, "neither")],
        "power_t": [Interval(Real, 0, None, "left")],
        "max_iter": [Interval(Integral, 1, None, "left")],
        "shuffle": [BOOLEAN],
        "random_state": [RANDOM_STATE],
        "tol": [Interval(Real, 0, None, "left")],
        "verbose": [VERBOSE],
        "warm_start": [BOOLEAN],
        "momentum": [Interval(Real, 0, 1, "both")],
        "nesterovs_momentum": [BOOLEAN],
        "early_stopping": [BOOLEAN],
        "validation_fraction": [Interval(Real, 0, 1, "left")],
        "beta_1": [Interval(Real, 0, 1, "left")],
        "beta_2": [Interval(Real, 0, 1, "left")],
        "epsilon": [Interval(Real, 0, None, "neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, "left"), Among(Real, (np.inf,))],
        "max_fun": [Interval(Integral, 1, None, "left")],
        "n_threads": [Interval(Integral, 1, None, "left"), NONE],
    }

    def __init__(self, **params):
        # Each subclass spells out scikit-learn's exact signature (get_params
        # reads it there); the values are stored here once.
        for name, value in params.items():
            setattr(self, name, value)

    # ---- fitting -----------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers in
            regression).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        with _restored_on_failure(self):
            validate_params(self, self._parameter_constraints)
            return self._fit(X, y, sample_weight, incremental=False)

    def _partial_fit(self, X, y, sample_weight, classes=None):
        with _restored_on_failure(self):
            # Like scikit-learn, parameters are validated until the model is fitted.
            if not _looks_fitted(self):
                validate_params(self, self._parameter_constraints)
            self._first_partial_fit(y, classes)
            return self._fit(X, y, sample_weight, incremental=True)

    def _first_partial_fit(self, y, classes):
        """Classifier: set up the classes on the first partial_fit."""

    def _fit(self, X, y, sample_weight, incremental):
        hidden = self.hidden_layer_sizes
        if not hasattr(hidden, "__iter__"):
            hidden = [hidden]
        hidden = list(hidden)
        if np.any(np.array(hidden) <= 0):
            raise ValueError("hidden_layer_sizes must be > 0, got %s." % hidden)
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        # Later sgd/adam calls on a plain float X leave its NaN/inf check to
        # the epoch's kernel, which finds them on the way (see fit_stochastic).
        defer_check = (
            not first_pass and self.solver in STOCHASTIC_SOLVERS and not self.early_stopping
        )
        X_given = X
        try:
            return self._fit_checked(X, y, sample_weight, incremental, hidden, first_pass,
                                     defer_check)
        except Exception:
            # scikit-learn would have raised for X's NaN/inf before anything else
            error = self._nonfinite_x_error(X_given) if defer_check else None
            if error is not None:
                raise error from None
            raise

    def _nonfinite_x_error(self, X):
        """scikit-learn's error (to raise) if X is a fast-path array holding
        NaN or inf, else None."""
        if self._fast_input(X, check_finite=False) and not np.isfinite(X).all():
            try:
                self._validate_predict_input(X)
            except ValueError as error:
                return error
        return None

    def _fit_checked(self, X, y, sample_weight, incremental, hidden, first_pass,
                     defer_check):
        X, Y = self._validate_input(X, y, incremental, reset=first_pass,
                                    check_x=not defer_check)
        if not sp.issparse(X):
            X = np.ascontiguousarray(X)
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, X)
        Y = Y.reshape(X.shape[0], -1)
        self.n_outputs_ = Y.shape[1]
        units = [X.shape[1]] + hidden + [self.n_outputs_]
        if max(units) > BLAS_MAX_DIM:
            raise ValueError(f"Layer widths {units} exceed BLAS's 32-bit sizes ({BLAS_MAX_DIM}).")
        rng = check_random_state(self.random_state)

        if first_pass:
            self._initialize(units, rng, X.dtype)
        else:
            check_layers(self.coefs_, self.intercepts_, units)
        spec = self._spec(units)
        stochastic = self.solver in STOCHASTIC_SOLVERS
        # (sgd/adam train in X's dtype; lbfgs in float64, from the weights as they are)
        flat = _network.pack(self.coefs_, self.intercepts_,
                             X.dtype if stochastic else np.float64)
        n_threads = resolve_n_threads(self.n_threads)
        with blas_single_threaded():
            if stochastic:
                scorer = (ValidationScorer(spec, n_threads, self._decoder(),
                                           self._score_function)
                          if self.early_stopping else None)
                # (NonFiniteInput, X's NaN/inf found on the way, becomes
                # scikit-learn's error in _fit)
                # (the attributes themselves: get_params costs a signature
                # inspection, a good part of a small partial_fit call)
                settings = StochasticSettings.from_params(
                    {k: getattr(self, k) for k in StochasticSettings.PARAMS})
                flat, state = fit_stochastic(
                    settings, spec, flat, X, Y,
                    sample_weight, rng, self._training_state(),
                    incremental=incremental, n_threads=n_threads, scorer=scorer,
                    stratify=self._is_classifier and self.n_outputs_ == 1,
                    listeners=[VerboseOutput] if self.verbose else [],
                    check_x=defer_check,
                )
                self._set_training_state(state)
            else:
                flat, self.n_iter_, self.loss_ = fit_lbfgs(
                    spec, flat, X, Y, sample_weight, alpha=self.alpha,
                    max_iter=self.max_iter, max_fun=self.max_fun, tol=self.tol,
                    n_threads=n_threads,
                )

        if not np.isfinite(flat).all():
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed."
            )
        self._link_flat(flat, units, spec)
        return self

    def _initialize(self, units, rng, dtype):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_layers_ = len(units)
        self.out_activation_ = self._output_activation()
        self.coefs_, self.intercepts_ = _network.init_params(units, self.activation, rng, dtype)
        best_params = _network.pack(self.coefs_, self.intercepts_, dtype)
        if self.solver in STOCHASTIC_SOLVERS:
            self._set_training_state(TrainingState.fresh(self.early_stopping, best_params),
                                     fresh=True)
        else:
            self._best_params = best_params

    def _training_state(self):
        """The training attributes, as fit_stochastic continues from them."""
        # (attributes that only early stopping or partial_fit need may be
        # missing from a model whose attributes were set by hand)
        get = self.__dict__.get
        return TrainingState(
            n_iter=self.n_iter_, t=self.t_, loss=get("loss_"), loss_curve=self.loss_curve_,
            best_loss=self.best_loss_, validation_scores=get("validation_scores_"),
            best_validation_score=get("best_validation_score_"),
            no_improvement_count=self._no_improvement_count,
            best_params=get("_best_params"), optimizer=get("_optimizer"),
        )

    def _set_training_state(self, state, fresh=False):
        """Write the training attributes (a fresh state: all of them)."""
        self.n_iter_, self.t_ = state.n_iter, state.t
        if state.loss is not None:
            self.loss_ = state.loss
        self.loss_curve_ = state.loss_curve
        self.best_loss_ = state.best_loss
        self._no_improvement_count = state.no_improvement_count
        for name, value in (("validation_scores_", state.validation_scores),
                            ("best_validation_score_", state.best_validation_score),
                            ("_best_params", state.best_params)):
            if fresh or value is not None or name in self.__dict__:
                setattr(self, name, value)
        if state.optimizer is not None:
            self._optimizer = state.optimizer

    def _output_activation(self):
        return LOSSES[self._loss_name()].out_activation

    def _spec(self, units):
        """The network: the fitted output activation (scikit-learn keeps
        out_activation_ from the first fit, whatever `loss` is later)."""
        kind = LOSSES[self._loss_name()]
        loss_param = getattr(self, kind.parameter) if kind.parameter else 0.0
        return _network.make_spec(units, self.activation, kind.name, loss_param,
                                  out_activation=self.out_activation_)

    # ---- prediction --------------------------------------------------------

    def _outputs(self, X):
        """Output-layer activations, shape (n_samples, n_outputs_)."""
        if "coefs_" not in self.__dict__:
            check_is_fitted(self)
        fast = self._fast_input(X, check_finite=False)
        if not fast:
            X = self._validate_predict_input(X)
        flat, spec = self._predict_network()
        if np.shape(self.coefs_[0])[0] != X.shape[1]:
            raise ValueError(
                f"X has {X.shape[1]} features, but coefs_[0] has "
                f"{np.shape(self.coefs_[0])[0]} rows."
            )
        n_threads = resolve_n_threads(self.n_threads)
        out = _network.predict_outputs(spec, flat, X, n_threads, check_finite=fast)
        if out is None:  # maybe NaN or infinity in X: scikit-learn's error if so
            self._validate_predict_input(X)
            # X is finite; only its product overflowed (see predict_outputs)
            out = _network.predict_outputs(spec, flat, X, n_threads)
        return out

    def _validate_predict_input(self, X):
        """The general path: scikit-learn's validation (and its errors)."""
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        return X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)

    def _fast_input(self, X, check_finite=True):
        """X needs none of validate_data's conversions (see is_fast_input)."""
        return is_fast_input(X, self.__dict__.get("n_features_in_"),
                             "feature_names_in_" in self.__dict__, check_finite)

    def _fast_fit_input(self, X, y, y_kinds, check_x=True):
        return is_fast_fit_input(X, y, y_kinds, self.__dict__.get("n_features_in_"),
                                 "feature_names_in_" in self.__dict__, check_x)

    def _predict_network(self):
        """(flat parameters, NetSpec) of the fitted model.

        The pair cached at fit time is used while coefs_/intercepts_ are the
        very arrays that view its flat buffer. After an assignment they are
        packed into a new buffer on every call (an assigned array may later
        change in place); predict never writes to the estimator.
        """
        coefs, intercepts = self.coefs_, self.intercepts_
        cached = self.__dict__.get("_predict_cache")
        if (
            cached is not None
            and len(cached[0]) == len(coefs) + len(intercepts)
            and all(a is b for a, b in zip(cached[0], (*coefs, *intercepts)))
            and cached[1] == (self.activation, self.out_activation_, self.loss)
        ):
            return cached[2], cached[3]
        units = [np.shape(c)[0] for c in coefs] + [np.shape(coefs[-1])[-1]]
        check_layers(coefs, intercepts, units)
        dtype = np.result_type(*coefs, *intercepts)
        return _network.pack(coefs, intercepts, dtype), self._spec(units)

    def _link_flat(self, flat, units, spec=None):
        """Make coefs_/intercepts_ the views of ``flat`` and cache the network."""
        self.coefs_, self.intercepts_ = _network.unpack(flat, units)
        self._predict_cache = (
            (*self.coefs_, *self.intercepts_),
            (self.activation, self.out_activation_, self.loss),
            flat, self._spec(units) if spec is None else spec,
        )

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_predict_cache", None)  # holds a Cython object; rebuilt on demand
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "coefs_" in state:
            self._relink()

    def _relink(self):
        """Re-link coefs_/intercepts_ to one flat buffer for fast predict
        (after unpickling or loading a saved model)."""
        units = [c.shape[0] for c in self.coefs_] + [self.coefs_[-1].shape[1]]
        dtype = np.result_type(*self.coefs_, *self.intercepts_)
        self._link_flat(_network.pack(self.coefs_, self.intercepts_, dtype), units)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


@contextmanager
def _restored_on_failure(est):
    """A call that raises leaves the estimator exactly as it was.

    Fitting never writes into arrays the estimator already holds (it trains a
    fresh flat buffer and copies the optimizer state), so restoring the
    attribute dict is enough.
    """
    saved = dict(est.__dict__)
    try:
        yield
    except BaseException:
        est.__dict__.clear()
        est.__dict__.update(saved)
        raise


def _looks_fitted(est):
    """scikit-learn's test for "fitted": any public attribute ending in '_'."""
    return any(k.endswith("_") and not k.startswith("__") for k in vars(est))
