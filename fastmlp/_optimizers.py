"""The sgd and adam optimizers: hyper-parameters, schedule, step count and state.

Owns ``fastmlp._kernels._optim``: an optimizer hands the epoch kernel an
``OptimizerSpec`` (its rule, rates and state arrays, which the kernel updates
in place) and takes the step count back. It follows scikit-learn 1.9's
``SGDOptimizer`` / ``AdamOptimizer``: the learning-rate schedules apply to
sgd only, once per epoch, and 'adaptive' divides the rate by 5 when the
stopping rule fires. Saving and loading its fields is its own business too
(``to_fields`` / ``from_fields``), so the model file need not know them.
"""

import numpy as np

from fastmlp._kernels._optim import OptimizerSpec
from fastmlp._network import aligned_copy, aligned_empty
from fastmlp._kinds import SCHEDULES, SOLVERS


def aligned_zeros(n, dtype):
    out = aligned_empty(n, dtype)
    out[...] = 0
    return out


class StochasticOptimizer:
    """sgd or adam state over the flat parameter buffer.

    Parameters
    ----------
    solver : {'sgd', 'adam'}
    n_params : int
        Size of the flat parameter buffer.
    dtype : numpy dtype
        dtype of the parameters (and so of the state).
    learning_rate_init, learning_rate, power_t, momentum, nesterovs_momentum, \
beta_1, beta_2, epsilon
        The estimator's parameters of these names.

    Attributes
    ----------
    learning_rate : float
        The current rate (sgd); Adam scales ``learning_rate_init`` per step.
    lr_schedule : str
        The schedule (always 'constant' for adam, as in scikit-learn).
    t : int
        Adam's step count (batches seen); 0 for sgd.
    state : tuple of ndarray of shape (n_params,)
        The arrays named by the solver's row in fastmlp._kinds.SOLVERS:
        (velocity,) for sgd, (first moment, second moment) for adam.
    whole_gradient : bool
        The kernel finishes each batch's whole gradient before stepping (an
        option that reads all of it sets this; none does yet). The same
        parameters; the reported loss adds its L2 term in another order.
    """

    whole_gradient = False

    def __init__(self, solver, n_params, dtype, *, learning_rate_init,
                 learning_rate="constant", power_t=0.5, momentum=0.9,
                 nesterovs_momentum=True, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.solver = solver
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = self.learning_rate_init
        self.lr_schedule = learning_rate if solver == "sgd" else "constant"
        self.momentum = float(momentum)
        self.nesterov = bool(nesterovs_momentum)
        self.power_t = float(power_t)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0
        self.state = tuple(aligned_zeros(n_params, dtype) for _ in SOLVERS[solver].state)

    # The estimator parameters an optimizer is made from.
    PARAMS = ("solver", "learning_rate_init", "learning_rate", "power_t", "momentum",
              "nesterovs_momentum", "beta_1", "beta_2", "epsilon")

    @classmethod
    def from_params(cls, n_params, dtype, params):
        """The optimizer an estimator with parameters ``params`` (a mapping
        holding at least PARAMS) starts with."""
        return cls(params["solver"], n_params, dtype,
                   **{k: params[k] for k in cls.PARAMS if k != "solver"})

    @property
    def n_params(self):
        return self.state[0].shape[0]

    def copy(self, dtype):
        """An independent copy in ``dtype`` (a failed call cannot change the original)."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.state = tuple(aligned_copy(a, dtype) for a in self.state)
        return new

    def kernel_spec(self, alpha):
        """The OptimizerSpec of the coming epoch (its state: this optimizer's arrays)."""
        return OptimizerSpec(
            SOLVERS[self.solver].rule, self.state, learning_rate=self.learning_rate,
            alpha=float(alpha), t=self.t, momentum=self.momentum, nesterov=self.nesterov,
            beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
            whole_gradient=self.whole_gradient,
        )

    def took_steps(self, spec):
        """Take the step count back from a spec the kernel ran (done or interrupted)."""
        if SOLVERS[self.solver].counts_steps:
            self.t = int(spec.t)

    def iteration_ends(self, samples_seen):
        """The schedule's rate for the next epoch (invscaling:
        lr0 / (samples seen + 1) ** power_t)."""
        self.learning_rate = SCHEDULES[self.lr_schedule].epoch_rate(
            self.learning_rate, self.learning_rate_init, samples_seen, self.power_t)

    def trigger_stopping(self, msg):
        """The stopping rule fired: (stop, what verbose output says).

        'adaptive' divides the rate by 5 instead, until it is 1e-6 or less.
        """
        schedule = SCHEDULES[self.lr_schedule]
        rate = schedule.on_stall(self.learning_rate)
        if rate is None:
            return True, msg + schedule.stop_note
        self.learning_rate = rate
        return False, msg + " Setting learning rate to %f" % self.learning_rate

    def __setstate__(self, state):
        # Pickles of fastmlp before 0.1.0's refactor held state_a/state_b.
        if "state_a" in state:
            state = dict(state)
            a, b = state.pop("state_a"), state.pop("state_b")
            state["state"] = (a, b) if len(SOLVERS[state["solver"]].state) == 2 else (a,)
        self.__dict__.update(state)

    # ---- the model file (format version 1 names these fields) ---------------

    FILE_FIELDS = ("solver", "learning_rate_init", "learning_rate", "lr_schedule",
                   "momentum", "nesterov", "power_t", "beta_1", "beta_2", "epsilon", "t",
                   "state_a", "state_b")
    _FLOAT_FIELDS = ("learning_rate_init", "learning_rate", "momentum", "power_t",
                     "beta_1", "beta_2", "epsilon")

    def to_fields(self):
        """The fields a model file stores (plain values and arrays). The state
        is state_a, state_b: sgd's velocity and a 1-element placeholder, or
        adam's two moments."""
        fields = {k: getattr(self, k) for k in self.FILE_FIELDS[:11]}
        fields["state_a"] = self.state[0]
        fields["state_b"] = (self.state[1] if len(self.state) > 1
                             else np.zeros(1, dtype=self.state[0].dtype))
        return fields

    @classmethod
    def from_fields(cls, fields, n_params):
        """The optimizer that ``to_fields`` wrote, checked against a network of
        n_params parameters; ValueError if the fields cannot be its."""
        if not isinstance(fields, dict) or set(fields) != set(cls.FILE_FIELDS):
            raise ValueError("The optimizer's fields are not the expected ones.")
        solver = fields["solver"]
        if solver not in SOLVERS or not SOLVERS[solver].stochastic:
            raise ValueError(f"Unknown optimizer {solver!r}.")
        a, b = fields["state_a"], fields["state_b"]
        two = len(SOLVERS[solver].state) == 2
        if (type(fields["t"]) is not int or fields["t"] < 0
                or not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray)
                or a.dtype not in (np.float32, np.float64) or b.dtype != a.dtype
                or a.shape != (n_params,) or b.shape != ((n_params,) if two else (1,))
                or not (np.isfinite(a).all() and np.isfinite(b).all())):
            raise ValueError("The optimizer state does not match the network.")
        for k in cls._FLOAT_FIELDS:
            if type(fields[k]) is not float or not np.isfinite(fields[k]):
                raise ValueError(f"Invalid optimizer setting {k}.")
        if fields["lr_schedule"] not in SCHEDULES or type(fields["nesterov"]) is not bool:
            raise ValueError("Invalid optimizer schedule.")
        opt = object.__new__(cls)
        for k in cls.FILE_FIELDS[:11]:
            setattr(opt, k, fields[k])
        opt.state = (a, b) if two else (a,)
        return opt
