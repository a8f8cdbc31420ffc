"""The training driver's extension points: epoch-end listeners and the
improvement monitor (scikit-learn's rules; the oracle tests check them
end to end)."""

import numpy as np
import pytest
from sklearn.metrics import r2_score

import fastmlp
from fastmlp._network import init_params, make_spec, pack
from fastmlp._targets import IdentityDecoder
from fastmlp._training import (
    ImprovementMonitor, StochasticSettings, TrainingState, ValidationScorer, fit_stochastic,
)

from _oracle import regression

pytestmark = pytest.mark.usefixtures("quiet")


class Recorder:
    def __init__(self, stop_at=None):
        self.events, self.stop_at = [], stop_at

    def on_epoch_end(self, event):
        self.events.append(event)
        return event.n_iter == self.stop_at


def _train(listeners, max_iter=6):
    X, y = regression("single")
    Y = y.reshape(-1, 1)
    est = fastmlp.MLPRegressor(hidden_layer_sizes=(6,), max_iter=max_iter, random_state=0,
                               n_iter_no_change=100)
    rng = np.random.RandomState(0)
    units = [X.shape[1], 6, 1]
    flat = pack(*init_params(units, "relu", rng, X.dtype), X.dtype)
    spec = make_spec(units, "relu", "squared_error")
    scorer = ValidationScorer(spec, 1, IdentityDecoder(), r2_score)
    return fit_stochastic(
        StochasticSettings.from_params(est.get_params()), spec, flat, X, Y, None, rng,
        TrainingState.fresh(False, flat.copy()), incremental=False, n_threads=1,
        scorer=scorer, stratify=False, listeners=listeners), est.fit(X, y)


def test_listeners_hear_every_epoch_and_the_driver_matches_the_estimator():
    recorder = Recorder()
    (flat, state), est = _train([recorder])
    assert [e.n_iter for e in recorder.events] == [1, 2, 3, 4, 5, 6]
    assert [e.loss for e in recorder.events] == state.loss_curve == est.loss_curve_
    assert all(e.validation_score is None and e.message is None for e in recorder.events)
    np.testing.assert_array_equal(flat, pack(est.coefs_, est.intercepts_, flat.dtype))


def test_a_listener_that_returns_true_stops_training_after_that_epoch():
    recorder, other = Recorder(stop_at=3), Recorder()
    (flat, state), _ = _train([recorder, other])
    assert state.n_iter == 3 and len(state.loss_curve) == 3
    assert len(other.events) == 3  # every listener heard the last epoch


def test_with_early_stopping_listeners_hear_the_scores_and_the_stopping_rule():
    recorder = Recorder()
    X, y = regression("single")
    est = fastmlp.MLPRegressor(hidden_layer_sizes=(6,), max_iter=50, random_state=0,
                               early_stopping=True, n_iter_no_change=2, tol=0.5)
    rng = np.random.RandomState(0)
    units = [X.shape[1], 6, 1]
    flat = pack(*init_params(units, "relu", rng, X.dtype), X.dtype)
    spec = make_spec(units, "relu", "squared_error")
    flat, state = fit_stochastic(
        StochasticSettings.from_params(est.get_params()), spec, flat, X, y.reshape(-1, 1),
        None, rng, TrainingState.fresh(True, flat.copy()), incremental=False, n_threads=1,
        scorer=ValidationScorer(spec, 1, IdentityDecoder(), r2_score), stratify=False,
        listeners=[recorder])
    assert [e.validation_score for e in recorder.events] == state.validation_scores
    # the first epoch beats -inf, then n_iter_no_change + 1 epochs without gain
    assert len(recorder.events) == state.n_iter == 4
    assert [e.message is None for e in recorder.events] == [True, True, True, False]
    assert recorder.events[-1].message.startswith("Validation score did not improve")
    assert recorder.events[-1].message.endswith(" Stopping.")


def test_monitor_counts_like_scikit_learns_two_rules():
    # A loss (lower is better): no improvement unless below best - tol.
    loss = ImprovementMonitor(higher_is_better=False, tol=0.1, best=np.inf, count=0)
    seen = [(loss.update(v), loss.count, loss.best) for v in (1.0, 0.95, 0.8, 0.85, 0.7)]
    assert seen == [(True, 0, 1.0), (True, 1, 0.95), (True, 0, 0.8), (False, 1, 0.8),
                    (True, 0, 0.7)]
    # A score (higher is better): no improvement unless above best + tol.
    score = ImprovementMonitor(higher_is_better=True, tol=0.1, best=-np.inf, count=0)
    seen = [(score.update(v), score.count) for v in (0.5, 0.55, 0.7, np.nan, 0.6)]
    assert seen == [(True, 0), (True, 1), (True, 0), (False, 0), (False, 1)]
