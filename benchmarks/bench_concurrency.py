"""Concurrent predict: does it release the GIL and run in parallel?

One fitted model (W2's shape: 784 -> 256 -> 128 -> 10, float32) serves
predict_proba calls from T Python threads at once, each on its own batch, with
n_threads=1 per call, so any speed-up comes from the threads themselves.
Prints total rows/s for T = 1, 2, 4, 8 and the speed-up over T = 1, for
batches of 1, 64 and 2048 rows, next to scikit-learn doing the same.
On a machine with C cores, a kernel that releases the GIL scales up to ~C x
on large batches; 1-row calls are mostly Python (validation) and cannot.

Usage: python benchmarks/bench_concurrency.py [--quick] [--tiny]
"""

import argparse
import os
import threading
import time
import warnings

import numpy as np
from sklearn.neural_network import MLPClassifier as SkMLP

import fastmlp


def rows_per_second(predict, batch, n_threads, seconds):
    """Total rows/s of n_threads Python threads calling predict(batch)."""
    counts = [0] * n_threads
    stop = threading.Event()
    barrier = threading.Barrier(n_threads + 1)

    def worker(k):
        barrier.wait()
        while not stop.is_set():
            predict(batch)
            counts[k] += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(counts) * len(batch) / (time.perf_counter() - t0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter measurements")
    parser.add_argument("--tiny", action="store_true", help="seconds-long smoke run (tests)")
    args = parser.parse_args(argv)
    seconds, repeats = (0.05, 1) if args.tiny else (0.5, 3) if args.quick else (1.0, 5)
    rng = np.random.RandomState(0)
    X = rng.rand(4096, 784).astype(np.float32)
    y = rng.randint(0, 10, len(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = fastmlp.MLPClassifier((256, 128), max_iter=2, random_state=0,
                                     n_threads=1).fit(X, y)
        theirs = SkMLP((256, 128), max_iter=2, random_state=0).fit(X, y)
    print(f"{os.cpu_count()} cores | fastmlp {fastmlp.__version__} | n_threads=1 per call |"
          f" median of {repeats}")
    print(f"{'library':<14}{'rows':>6}" + "".join(f"{f'T={t}':>12}" for t in (1, 2, 4, 8))
          + f"{'8 vs 1':>9}")
    for name, model in (("fastmlp", ours), ("scikit-learn", theirs)):
        for rows in (1, 64, 2048):
            batch = X[:rows].copy()
            rates = [float(np.median([rows_per_second(model.predict_proba, batch, t, seconds)
                                      for _ in range(repeats)])) for t in (1, 2, 4, 8)]
            print(f"{name:<14}{rows:>6}" + "".join(f"{r / 1e3:>11.1f}k" for r in rates)
                  + f"{rates[-1] / rates[0]:>8.2f}x")


if __name__ == "__main__":
    main()
