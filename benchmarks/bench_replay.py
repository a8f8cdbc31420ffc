"""How close BLAS alone comes to the limit on each workload's real epoch.

bench_suite.py's "limit" times each GEMM shape on its own, repeated on the
same operands, so they stay in cache. A training epoch cannot run its GEMMs
like that: every batch gathers fresh rows of X in a random order, and the
weights, activations and gradients of the big workloads are larger than the
2 MB L2 cache of a core here. This script runs, for each workload, three
things in turns, as bench_suite.py does (take_turns):

    fastmlp  one training epoch (partial_fit), as in bench_suite.py
    replay   only the epoch's GEMMs, in the training loop's order, on its
             real batches (the rows of X gathered in a shuffled order) and
             buffers of the real sizes: no bias, activation, loss or
             optimizer step (a Cython loop without the GIL, one BLAS call
             per GEMM, BLAS at T threads)
    limit    bench_suite.py's limit for the same workload and threads

and prints samples/s with the shares replay/limit (what BLAS itself keeps
of the limit on the real data flow) and fastmlp/replay (what the rest of
fastmlp's epoch costs on top of its GEMMs). For P, fastmlp is
``predict_proba`` of W2's model on W2's rows, and replay the forward GEMMs
alone over the same rows of X, read in place, 1024 rows at a time (as
fastmlp's predict reads them).

Usage: python benchmarks/bench_replay.py [--threads 1,2] [--workloads W2,W3,W4,P] [--quick]
"""

import argparse
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import fastmlp
from fastmlp._kernels._bench import _replay_epoch
from fastmlp._kernels._blas import _gemm

from bench_suite import (N_CLASSES, PREDICT_CHUNK, WORKLOADS, estimator_params,
                         limit_samples_per_s, make_data, predict_limit, run_settings,
                         take_turns)


class Replay:
    """The GEMMs of one epoch of a workload, on its data, with fresh buffers."""

    def __init__(self, name, X):
        _, _, hidden, _, batch, dtype, task = WORKLOADS[name]
        n_outputs = N_CLASSES if task == "clf" else 1
        self.X = X
        self.batch = batch
        self.units = np.array([X.shape[1], *hidden, n_outputs], dtype=np.intp)
        rng = np.random.RandomState(0)
        n_weights = int(np.sum(self.units[:-1] * self.units[1:]))
        self.weights = (0.01 * rng.standard_normal(n_weights)).astype(dtype)
        self.grads = np.zeros(n_weights, dtype)
        self.acts = rng.rand(batch * int(self.units.sum())).astype(dtype)
        self.deltas = rng.rand(batch * int(self.units.sum())).astype(dtype)
        self.rng = rng

    def epoch(self):
        order = self.rng.permutation(len(self.X)).astype(np.intp)
        _replay_epoch(self.X, order, self.batch, self.units, self.weights, self.grads,
                      self.acts, self.deltas)


class ReplayPredict:
    """The forward GEMMs of predicting every row of X with W2's shapes."""

    def __init__(self, X):
        units = [X.shape[1], *WORKLOADS["W2"][2], N_CLASSES]
        rng = np.random.RandomState(0)
        self.X = X
        self.weights = [(0.01 * rng.standard_normal((a, b))).astype(X.dtype)
                        for a, b in zip(units[:-1], units[1:])]
        self.acts = [np.empty((PREDICT_CHUNK, u), X.dtype) for u in units[1:]]

    def epoch(self):
        for c0 in range(0, len(self.X), PREDICT_CHUNK):
            A = self.X[c0:c0 + PREDICT_CHUNK]
            for W, out in zip(self.weights, self.acts):
                _gemm(False, False, 1.0, A, W, 0.0, out[:len(A)])
                A = out[:len(A)]


def run_predict(threads, scale, rounds, min_time):
    X, y = make_data("W2", scale)
    est = fastmlp.MLPClassifier(n_threads=threads, **estimator_params("W2"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.partial_fit(X, y, classes=np.arange(N_CLASSES))
    runners = {"fastmlp": lambda: est.predict_proba(X), "replay": ReplayPredict(X).epoch}
    with threadpool_limits(threads, user_api="blas"):
        times = take_turns(runners, rounds, min_time)
    rates = {lib: len(X) / float(np.median(t)) for lib, t in times.items()}
    rates["limit"] = predict_limit(X.shape[1], threads, min_time)
    return rates


def run(name, threads, scale, rounds, min_time):
    X, y = make_data(name, scale)
    task = WORKLOADS[name][6]
    Est = fastmlp.MLPClassifier if task == "clf" else fastmlp.MLPRegressor
    est = Est(n_threads=threads, **estimator_params(name))
    extra = dict(classes=np.arange(N_CLASSES)) if task == "clf" else {}
    replay = Replay(name, X)
    runners = {"fastmlp": lambda: est.partial_fit(X, y, **extra), "replay": replay.epoch}
    with threadpool_limits(threads, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        times = take_turns(runners, rounds, min_time)
    rates = {lib: len(X) / float(np.median(t)) for lib, t in times.items()}
    n_outputs = N_CLASSES if task == "clf" else 1
    rates["limit"] = limit_samples_per_s(name, X.shape[1], n_outputs, threads, min_time)
    return rates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--workloads", default="W1,W2,W3,W4,W5,P")
    parser.add_argument("--quick", action="store_true", help="smaller data (~1 minute)")
    parser.add_argument("--tiny", action="store_true", help="seconds-long smoke run (tests)")
    parser.add_argument("--rounds", type=int, help="rounds of turns")
    args = parser.parse_args(argv)
    scale, rounds, min_time = run_settings(args.quick, args.tiny, 3)
    rounds = args.rounds or rounds
    names = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for threads in [int(t) for t in args.threads.split(",")]:
        print(f"\nthreads = {threads}   (samples/s, median: training epochs; P: rows predicted)")
        print(f"{'workload':<10}{'fastmlp':>10}{'replay':>10}{'limit':>10}"
              f"{'replay/limit':>14}{'fastmlp/replay':>16}{'fastmlp/limit':>15}")
        for name in names:
            if name == "P":
                r = run_predict(threads, scale, rounds, min_time)
            else:
                r = run(name, threads, scale, rounds, min_time)
            print(f"{name:<10}{r['fastmlp'] / 1e3:>9.1f}k{r['replay'] / 1e3:>9.1f}k"
                  f"{r['limit'] / 1e3:>9.1f}k{r['replay'] / r['limit']:>14.0%}"
                  f"{r['fastmlp'] / r['replay']:>16.0%}{r['fastmlp'] / r['limit']:>15.0%}",
                  flush=True)


if __name__ == "__main__":
    main()
