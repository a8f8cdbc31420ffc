"""Threading strategies for fastmlp's training loop, compared on this machine.

    openmp  fastmlp's design: OpenMP threads take fixed GEMM parts and the
            element-wise work, BLAS held at one thread (n_threads=T)
    blas    kernels on one thread, BLAS free to use T threads inside each GEMM
    serial  everything on one thread (the baseline)
    nested  OpenMP threads *and* multi-threaded BLAS at once (never do this:
            both runtimes busy-wait for the cores the other holds)

Prints training samples/s per workload and strategy (median epoch), and the
raw GEMM time of each workload's largest layer with BLAS at 1 and T threads.
Re-run this on a machine with more cores before changing the design
(README, "Threads and processes"; the design notes in
fastmlp/_kernels/_parts.pxd and _passes.pyx).

Usage: python benchmarks/bench_threads.py [--threads 2] [--workloads W1,W2,W4,W5] [--quick]
"""

import argparse
import contextlib
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import fastmlp
from fastmlp._threads import blas_left_alone

from bench_suite import WORKLOADS, estimator_params, gemm_seconds, make_data


STRATEGIES = {
    # name: (n_threads for the kernels, BLAS threads, BLAS limited by fastmlp)
    "openmp": ("T", 1, True),
    "blas": (1, "T", False),
    "serial": (1, 1, True),
    "nested": ("T", "T", False),
}


def epoch_rate(name, strategy, threads, scale, epochs):
    X, y = make_data(name, scale)
    task = WORKLOADS[name][6]
    kernel_threads, blas_threads, limited = STRATEGIES[strategy]
    kernel_threads = threads if kernel_threads == "T" else kernel_threads
    blas_threads = threads if blas_threads == "T" else blas_threads
    Est = fastmlp.MLPClassifier if task == "clf" else fastmlp.MLPRegressor
    est = Est(n_threads=kernel_threads, **estimator_params(name))
    extra = dict(classes=np.unique(y)) if task == "clf" else {}
    times = []
    # 'blas'/'nested': fastmlp leaves BLAS alone, threadpool_limits decides
    guard = contextlib.nullcontext() if limited else blas_left_alone()
    with guard, threadpool_limits(blas_threads, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(epochs + 1):
            t0 = time.perf_counter()
            est.partial_fit(X, y, **extra)
            if i:  # the first epoch warms up
                times.append(time.perf_counter() - t0)
    return len(X) / float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workloads", default="W1,W2,W4,W5")
    parser.add_argument("--quick", action="store_true", help="smaller data (~1 minute)")
    parser.add_argument("--tiny", action="store_true", help="seconds-long smoke run (tests)")
    args = parser.parse_args(argv)
    scale, epochs = (0.1, 2) if args.quick else (0.5, 3)
    if args.tiny:
        scale, epochs = 0.01, 1
    names = [w.strip() for w in args.workloads.split(",") if w.strip()]
    T = args.threads
    print(f"training samples/s, median epoch, T = {T} threads")
    print(f"{'workload':<10}" + "".join(f"{s:>12}" for s in STRATEGIES))
    for name in names:
        rates = {s: epoch_rate(name, s, T, scale, epochs) for s in STRATEGIES}
        print(f"{name:<10}" + "".join(f"{rates[s] / 1e3:>11.1f}k" for s in STRATEGIES))
    print("\nlargest GEMM of each workload (forward of layer 0), microseconds")
    print(f"{'workload':<10}{'shape':>18}{'BLAS 1 thr':>12}{f'BLAS {T} thr':>12}")
    for name in names:
        rows, features, hidden, _, batch, dtype, _ = WORKLOADS[name]
        shape = (batch, hidden[0], features)
        min_time = 0.002 if args.tiny else 0.1
        with threadpool_limits(1, user_api="blas"):
            one = gemm_seconds(*shape, False, False, dtype, min_time)
        with threadpool_limits(T, user_api="blas"):
            many = gemm_seconds(*shape, False, False, dtype, min_time)
        print(f"{name:<10}{'x'.join(map(str, shape)):>18}{one * 1e6:>12.1f}{many * 1e6:>12.1f}")


if __name__ == "__main__":
    main()
