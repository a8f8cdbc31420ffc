"""Instructions per training epoch, counted by valgrind's callgrind.

Counts are deterministic for the same binary, data and environment (whatever
else the machine is doing), so two builds can be compared to a fraction of a
percent where timings on this shared machine vary by several percent. Each
workload runs one untimed ``partial_fit`` epoch (initialisation, first
touch), then ``--epochs`` more on one thread; only the instructions inside
the epoch kernel's Python entry point (``run_epoch``, and everything it
calls: the OpenMP region, BLAS, the optimizer loops) are counted. (The
Ctrl-C check every 5 ms of wall time makes a run differ from the next by a
few hundred instructions in tens of millions.)

Usage:
    python benchmarks/bench_instructions.py                  # W1, W4 on --tiny data
    python benchmarks/bench_instructions.py --workloads W1,W2,W4,W5 --epochs 3
    PYTHONPATH=/other/checkout python benchmarks/bench_instructions.py  # another build

Needs valgrind on the PATH.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_workload(name, epochs):
    """The measured part: runs under valgrind (collection toggled by function)."""
    import numpy as np

    import fastmlp

    # The workloads of the measured checkout's own bench_suite (it imports
    # that checkout's benchmark shims), else of this one.
    theirs = Path(fastmlp.__file__).resolve().parent.parent / "benchmarks"
    sys.path.insert(0, str(theirs if (theirs / "bench_suite.py").exists() else HERE))
    sys.modules["torch"] = None  # bench_suite's optional import: not needed here
    from bench_suite import N_CLASSES, WORKLOADS, estimator_params, make_data, run_settings

    scale = run_settings(quick=False, tiny=True, rounds=1)[0]
    X, y = make_data(name, scale)
    Est = fastmlp.MLPClassifier if WORKLOADS[name][6] == "clf" else fastmlp.MLPRegressor
    est = Est(n_threads=1, **estimator_params(name))
    extra = dict(classes=np.arange(N_CLASSES)) if WORKLOADS[name][6] == "clf" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(epochs + 1):
            est.partial_fit(X, y, **extra)


def count(name, epochs):
    """Instructions inside run_epoch over the ``epochs`` counted epochs."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        base = [sys.executable, __file__, "--child", name, "--epochs"]
        totals = []
        for n in (0, epochs):  # the untimed epoch alone, then with the counted ones
            subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                 "--toggle-collect=*_pw_*run_epoch", *base, str(n)],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
            text = Path(out).read_text()
            totals.append(int(re.search(r"^(?:summary|totals): (\d+)", text, re.M).group(1)))
        return totals[1] - totals[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default="W1,W4")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_workload(args.child, args.epochs)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not on the PATH")
    import fastmlp

    print(f"fastmlp from {Path(fastmlp.__file__).parent}")
    print(f"{'workload':<10}{'instructions/epoch':>20}")
    for name in args.workloads.split(","):
        per_epoch = count(name, args.epochs) / args.epochs
        print(f"{name:<10}{per_epoch:>20,.0f}")


if __name__ == "__main__":
    main()
