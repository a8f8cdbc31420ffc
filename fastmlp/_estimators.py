"""MLPClassifier and MLPRegressor: scikit-learn's public surface on fastmlp's kernels.

This module owns the two public classes: their signatures (scikit-learn's,
exactly, plus keyword-only extras), their targets and their predictions.
What they share (fitting, the fitted state, the predict path) is
``_base._BaseMLP``; training between epochs is ``_training``; the numbers are
computed by the Cython kernels behind ``_network``.
"""

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import validate_data

from fastmlp._base import _BaseMLP
from fastmlp._kinds import REGRESSION_LOSSES, STOCHASTIC_SOLVERS, classification_loss
from fastmlp._targets import IdentityDecoder, LabelDecoder, binarize, binarize_known, unique
from fastmlp._validation import Among


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier, a drop-in for scikit-learn's.

    Trains on the log-loss with 'adam', 'sgd' or 'lbfgs' and reproduces
    scikit-learn 1.9's model for the same ``random_state`` (same initial
    weights, batch order, formulas and stopping rule), computed by Cython
    kernels.

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
        The last epoch's training loss (lbfgs: the loss at the solution).
    best_loss_ : float or None
        The lowest training loss so far; None with early stopping
        (sgd/adam only, as the three below).
    loss_curve_ : list of float
        The training loss of every epoch.
    validation_scores_ : list of float or None
        With early stopping, the validation score (accuracy or R^2) of every
        epoch; None without.
    best_validation_score_ : float or None
        With early stopping, the best validation score; None without.
    t_ : int
        Training samples seen (0 with lbfgs).
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

    def _loss_name(self):
        return classification_loss(self._label_binarizer.y_type_ == "multiclass")

    def _decoder(self):
        return LabelDecoder(self._label_binarizer, self.classes_, self.n_outputs_)

    def _check_solver(self):
        if self.solver not in STOCHASTIC_SOLVERS:
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
            if not np.array_equal(self.classes_, unique(classes)):
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
            if not self.warm_start:
                # Labels all among the known classes pass the check below:
                # the encoding finds that out on the way, for less.
                encoded = binarize_known(self._label_binarizer, y)
                if encoded is not None and np.array_equal(
                        self._label_binarizer.classes_, self.classes_):
                    return X, encoded
            classes = unique(y)
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
        return X, binarize(self._label_binarizer, y)

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
        outputs = self._outputs(X)  # (checks that the model is fitted first)
        return self._decoder().decode_output(outputs)

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
        y_pred = self._outputs(X)
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
    exponential output) with 'adam', 'sgd' or 'lbfgs' and reproduces
    scikit-learn 1.9's model for the same ``random_state``.

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
        "loss": [Among(str, REGRESSION_LOSSES)],
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

    def _loss_name(self):
        return self.loss

    @staticmethod
    def _decoder():
        return IdentityDecoder()

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
        outputs = self._outputs(X)  # (checks that the model is fitted first)
        return self._decoder().decode_output(outputs)
