"""MLPClassifier and MLPRegressor: scikit-learn's public surface on fastmlp's kernels.

This module owns the parameters, their validation, the fitted attributes and
prediction. Training between epochs is ``_training``; the numbers are computed
by the Cython kernels behind ``_network``.
"""

from contextlib import contextmanager
from functools import partial
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from fastmlp import _network
from fastmlp._threads import blas_single_threaded, resolve_n_threads
from fastmlp._training import BLAS_MAX_DIM, fit_lbfgs, fit_stochastic
from fastmlp._validation import (
    ARRAY_LIKE, BOOLEAN, NONE, RANDOM_STATE, VERBOSE, Among, Interval,
    check_sample_weight, validate_params,
)

_STOCHASTIC_SOLVERS = ("sgd", "adam")


class _BaseMLP(BaseEstimator):
    """Shared machinery of MLPClassifier and MLPRegressor (not public)."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [ARRAY_LIKE, Interval(Integral, 1, None, "left")],
        "activation": [Among(str, ("identity", "logistic", "tanh", "relu"))],
        "solver": [Among(str, ("lbfgs", "sgd", "adam"))],
        "alpha": [Interval(Real, 0, None, "left")],
        "batch_size": [Among(str, ("auto",)), Interval(Integral, 1, None, "left")],
        "learning_rate": [Among(str, ("constant", "invscaling", "adaptive"))],
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
            not first_pass and self.solver in _STOCHASTIC_SOLVERS and not self.early_stopping
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
            self._initialize(Y, units, rng, X.dtype)
        else:
            _check_layers(self.coefs_, self.intercepts_, units)
        spec = self._spec(units)
        n_threads = resolve_n_threads(self.n_threads)
        with blas_single_threaded():
            if self.solver in _STOCHASTIC_SOLVERS:
                score = partial(self._validation_score, spec, n_threads)
                flat = fit_stochastic(
                    self, spec, X, Y, sample_weight, rng, incremental, n_threads, score,
                    check_x=defer_check,
                )
            else:
                flat = fit_lbfgs(self, spec, X, Y, sample_weight, n_threads)

        if not np.isfinite(flat).all():
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed."
            )
        self._link_flat(flat, units, spec)
        return self

    def _initialize(self, Y, units, rng, dtype):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(units)
        self.out_activation_ = self._output_activation()
        self.coefs_, self.intercepts_ = _network.init_params(units, self.activation, rng, dtype)
        self._best_params = _network.pack(self.coefs_, self.intercepts_, dtype)
        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _spec(self, units):
        loss = _network.output_loss_name(self.loss, self.out_activation_)
        return _network.make_spec(units, self.activation, self.out_activation_, loss)

    def _validation_score(self, spec, n_threads, flat, X, y, sample_weight):
        """Early stopping's score (accuracy or R^2) of the parameters ``flat``."""
        y_pred = self._decode_output(_network.forward(spec, flat, X, n_threads))
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return self._score_function(y, y_pred, sample_weight=sample_weight)

    # ---- prediction --------------------------------------------------------

    def _forward(self, X):
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
        out = _network.forward(spec, flat, X, n_threads, check_finite=fast)
        if out is None:  # maybe NaN or infinity in X: scikit-learn's error if so
            self._validate_predict_input(X)
            # X is finite; only its product overflowed (see _network.forward)
            out = _network.forward(spec, flat, X, n_threads)
        return out

    def _validate_predict_input(self, X):
        """The general path: scikit-learn's validation (and its errors)."""
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        return X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)

    def _fast_input(self, X, check_finite=True):
        """True for input that needs none of validate_data's conversions.

        A float ndarray of the right width with finite values, on a model
        fitted without feature names: validate_data would pass it unchanged,
        so predict skips its fixed cost (most of a 1-row call). Anything else
        takes the general path, which raises scikit-learn's errors. Without
        check_finite the caller checks the values (predict's kernel does).
        """
        return (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.shape[0] > 0
            and X.shape[1] == self.n_features_in_
            and X.dtype in (np.float32, np.float64)
            and "feature_names_in_" not in self.__dict__
            and (not check_finite or bool(np.isfinite(X.sum() if X.size > 64 else X).all()))
        )

    def _fast_fit_input(self, X, y, y_kinds, check_x=True):
        """True for a later fit/partial_fit call whose X passes _fast_input and
        whose y is a plain 1-D array of a kind in ``y_kinds`` (finite, of X's
        length): validate_data(reset=False) would return both unchanged.
        Without check_x, X's values are left for the caller to check."""
        return (
            type(y) is np.ndarray
            and y.ndim == 1
            and y.dtype.kind in y_kinds
            and (y.dtype.kind != "f" or bool(np.isfinite(y).all()))
            and "n_features_in_" in self.__dict__
            and self._fast_input(X, check_finite=check_x)
            and y.shape[0] == X.shape[0]
        )

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
        _check_layers(coefs, intercepts, units)
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


def _check_layers(coefs, intercepts, units):
    """coefs_/intercepts_ (maybe assigned by the user) fit layer widths units.

    The kernels trust the shapes, so a mismatch is a ValueError here.
    """
    expected = [((a, b), (b,)) for a, b in zip(units[:-1], units[1:])]
    got = [(np.shape(c), np.shape(b)) for c, b in zip(coefs, intercepts)]
    if len(coefs) != len(intercepts) or got != expected:
        raise ValueError(
            f"The shapes of coefs_ and intercepts_ {got} do not match the "
            f"network of layer widths {units}."
        )


def _plain_labels(y):
    """1-D integer, bool or string labels: types that cannot be continuous or
    mixed, for which NumPy alone gives scikit-learn's label handling."""
    return isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "iubU"


def _unique_labels(y):
    """sklearn.utils.multiclass.unique_labels(y), without its fixed cost for
    plain labels (where it is np.unique)."""
    return np.unique(y) if _plain_labels(y) else unique_labels(y)


def _binarize(binarizer, y):
    """``binarizer.transform(y).astype(bool)``, computed directly for plain
    binary/multiclass labels that are all among the fitted classes."""
    classes = binarizer.classes_
    if (
        _plain_labels(y)
        and binarizer.y_type_ in ("binary", "multiclass")
        and not binarizer.sparse_output
        and len(classes) >= 2
        and classes.dtype.kind in "iubU"
    ):
        idx = np.searchsorted(classes, y).clip(0, len(classes) - 1)
        if np.array_equal(classes[idx], y):
            if len(classes) == 2:
                return (idx == 1).reshape(-1, 1)
            encoded = np.zeros((len(y), len(classes)), dtype=bool)
            encoded[np.arange(len(y)), idx] = True
            return encoded
    return binarizer.transform(y).astype(bool)


def _looks_fitted(est):
    """scikit-learn's test for "fitted": any public attribute ending in '_'."""
    return any(k.endswith("_") and not k.startswith("__") for k in vars(est))


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier, a drop-in for scikit-learn's.

    Trains on the log-loss with 'adam' or 'sgd' and reproduces scikit-learn
    1.9's model for the same ``random_state`` (same initial weights, batch
    order, formulas and stopping rule), computed by Cython kernels.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        Width of each hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
        Activation of the hidden layers.
    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        Weight optimiser.
    alpha : float, default=0.0001
        Strength of the L2 penalty.
    batch_size : int or 'auto', default='auto'
        Rows per mini-batch; 'auto' is min(200, n_samples).
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning-rate schedule for 'sgd'.
    learning_rate_init : float, default=0.001
        Initial learning rate.
    power_t : float, default=0.5
        Exponent of 'invscaling'.
    max_iter : int, default=200
        Maximum number of epochs.
    shuffle : bool, default=True
        Whether to shuffle the rows every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation and the row order.
    tol : float, default=1e-4
        Minimum loss improvement that counts as progress.
    verbose : bool, default=False
        Print the loss of every epoch.
    warm_start : bool, default=False
        Start from the previous fit's weights.
    momentum : float, default=0.9
        Momentum for 'sgd', in [0, 1].
    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum with 'sgd'.
    early_stopping : bool, default=False
        Stop on a held-out validation score.
    validation_fraction : float, default=0.1
        Share of the data held out for early stopping.
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's moment decay rates, in [0, 1).
    epsilon : float, default=1e-8
        Adam's numerical-stability term.
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping.
    max_fun : int, default=15000
        Maximum loss evaluations for 'lbfgs'.
    n_threads : int or None, default=None
        OpenMP threads for fit and predict; None uses all available
        (honouring OMP_NUM_THREADS). Values above 4x the CPU count are
        capped there. Results do not depend on it.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    loss_ : float
    best_loss_ : float
    loss_curve_ : list of float
    validation_scores_, best_validation_score_ : None (no early stopping)
    t_ : int
        Training samples seen.
    coefs_ : list of ndarray, the i-th of shape (units[i], units[i+1])
    intercepts_ : list of ndarray, the i-th of shape (units[i+1],)
    n_features_in_ : int
    feature_names_in_ : ndarray of str, when X has string column names
    n_iter_ : int
    n_layers_ : int
    n_outputs_ : int
    out_activation_ : str
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        n_threads=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            n_threads=n_threads,
        )

    # The classifier's loss is fixed (scikit-learn keeps it as an attribute).
    loss = "log_loss"
    _is_classifier = True
    _score_function = staticmethod(accuracy_score)

    def _output_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _decode_output(self, y_pred):
        # LabelBinarizer.inverse_transform's rules, without its checks:
        # argmax for multiclass, threshold 0.5 for binary.
        y_type = self._label_binarizer.y_type_
        if y_type == "multiclass":
            return self.classes_.take(y_pred.argmax(axis=1), mode="clip")
        if y_type == "binary" and len(self.classes_) == 2:
            return self.classes_[(y_pred.ravel() > 0.5).astype(int)]
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def _decode_targets(self, Y):
        return self._label_binarizer.inverse_transform(Y)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic"
                " optimizers. %s is not stochastic." % self.solver
            )
        return True

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with one epoch over the given data.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            The target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.
        classes : array of shape (n_classes,), default=None
            All classes across calls; required on the first call.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._partial_fit(X, y, sample_weight, classes)

    def _first_partial_fit(self, y, classes):
        if getattr(self, "classes_", None) is None and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is None:
            return
        if getattr(self, "classes_", None) is not None:
            if not np.array_equal(self.classes_, _unique_labels(classes)):
                raise ValueError(
                    "`classes=%r` is not the same as on last call "
                    "to partial_fit, was: %r" % (classes, self.classes_)
                )
            return
        self.classes_ = unique_labels(classes)
        self._label_binarizer = LabelBinarizer()
        if type_of_target(y).startswith("multilabel"):
            self._label_binarizer.fit(y)
        else:
            self._label_binarizer.fit(classes)

    def _validate_input(self, X, y, incremental, reset, check_x=True):
        if reset or not self._fast_fit_input(X, y, "iubU", check_x):
            X, y = validate_data(
                self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                dtype=(np.float64, np.float32), reset=reset,
            )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = _unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously "
                        f"got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        # bool, as scikit-learn keeps it (the stratified split sees this).
        return X, _binarize(self._label_binarizer, y)

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Predicted classes (an indicator matrix for multilabel targets).
        """
        return self._decode_output(self._forward(X))

    def predict_proba(self, X):
        """Probability of each class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        y_pred = self._forward(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def predict_log_proba(self, X):
        """Natural log of ``predict_proba(X)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor, a drop-in for scikit-learn's.

    Trains on half the squared error (or half the Poisson deviance, with an
    exponential output) with 'adam' or 'sgd' and reproduces scikit-learn 1.9's
    model for the same ``random_state``.

    Parameters
    ----------
    loss : {'squared_error', 'poisson'}, default='squared_error'
        The loss; note it is the first positional parameter, as in scikit-learn.
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate, \
learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, \
warm_start, momentum, nesterovs_momentum, early_stopping, validation_fraction, \
beta_1, beta_2, epsilon, n_iter_no_change, max_fun, n_threads
        As in :class:`MLPClassifier`.

    Attributes
    ----------
    loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_, \
t_, coefs_, intercepts_, n_features_in_, feature_names_in_, n_iter_, \
n_layers_, n_outputs_, out_activation_
        As in :class:`MLPClassifier`; ``out_activation_`` is 'identity' or 'exp'.
    """

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "loss": [Among(str, ("squared_error", "poisson"))],
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        n_threads=None,
    ):
        self.loss = loss
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            n_threads=n_threads,
        )

    _is_classifier = False
    _score_function = staticmethod(r2_score)

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _decode_output(self, y_pred):
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred

    def _decode_targets(self, Y):
        return Y

    # scikit-learn 1.9 guards this with ``available_if(lambda est:
    # est._check_solver)`` (no call), so it is always available and with
    # solver='lbfgs' runs a full L-BFGS fit; fastmlp copies that.
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with one epoch over the given data.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._partial_fit(X, y, sample_weight)

    def _validate_input(self, X, y, incremental, reset, check_x=True):
        if reset or not self._fast_fit_input(X, y, "iuf", check_x):
            X, y = validate_data(
                self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                y_numeric=True, dtype=(np.float64, np.float32), reset=reset,
            )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def predict(self, X):
        """Predict the target(s).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        return self._decode_output(self._forward(X))
