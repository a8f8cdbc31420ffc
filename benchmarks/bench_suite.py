"""fastmlp against scikit-learn and PyTorch (CPU), side by side in one run.

Workloads (the README's "Performance" section):

    W1 digits          load_digits 1797x64, 10 classes, (100,) relu, adam, batch 200, float64
    W2 mnist-shaped    60000x784 synthetic, 10 classes, (256,128) relu, adam, batch 128, float32
    W3 wide            60000x784 synthetic, 10 classes, (1024,1024) relu, adam, batch 512, float32
    W4 tiny-batch      60000x784 synthetic, 10 classes, (64,) relu, sgd+nesterov 0.9, batch 16, float32
    W5 regression      100000x20 synthetic, (64,64) relu, adam, batch 64, squared error, float64
    P  predict         W2's model on 60000 rows, float32 (throughput and 1-row latency)

The libraries take turns, round after round (so a busy machine slows all of
them alike). A turn starts with one untimed epoch (unless epochs take over
2 s), then runs consecutive timed epochs for at least 0.2 s (0.05 s with
--quick; at least one); the median epoch is reported as training samples/s.
Turns of consecutive epochs, each started untimed, measure every library in
its steady state: OpenMP and OpenBLAS threads keep spinning for a while after
their work, and this VM is slow to resume a core left idle, so a 2-ms W1
epoch timed right after another library's ran 2-20x slower, for every
library, at 2 threads (measured here). scikit-learn is driven one epoch per
``partial_fit`` call, and so is fastmlp; PyTorch runs a tight manual loop
over pre-made tensors with the same architecture, batch size, optimizer and
thread count.

"limit" is the speed the machine's BLAS allows: the GEMM FLOPs one epoch
really needs (forward, weight gradients, and deltas for every layer but the
input one) divided by the GEMM throughput measured for exactly those shapes,
in this run, with the same number of threads (each shape's fastest of 5
samples). "share" = samples/s / limit.

scikit-learn slows down as W2 trains: subnormal numbers build up in its Adam
state (1.2% of it after 4 epochs here), and NumPy's element-wise operations
on them take microcode assists, so its W2 epochs went from ~40k samples/s in
its first three epochs to ~12k by the fifth (measured here). Its figure
depends on how many epochs it has run; fastmlp flushes subnormals in its
optimizer step (src/fastmlp_step.h).

Usage:
    python benchmarks/bench_suite.py              # full, 1 and 2 threads (~15 min)
    python benchmarks/bench_suite.py --quick      # smaller data, fewer epochs (~2 min)
    python benchmarks/bench_suite.py --threads 2 --workloads W2,P --json out.json
"""

import argparse
import json
import os
import platform
import sys
import time
import warnings
from datetime import date

import numpy as np
from threadpoolctl import threadpool_limits

import fastmlp
from fastmlp._kernels._bench import _gemm_repeat
from fastmlp._kernels._network import row_chunk
from sklearn import neural_network as sk
from sklearn.datasets import load_digits

try:
    import torch
except ImportError:  # PyTorch is an optional benchmark dependency
    torch = None

WORKLOADS = {
    #      rows     features hidden        solver  batch dtype        task
    "W1": (1797,    64,      (100,),       "adam", 200,  np.float64, "clf"),
    "W2": (60000,   784,     (256, 128),   "adam", 128,  np.float32, "clf"),
    "W3": (60000,   784,     (1024, 1024), "adam", 512,  np.float32, "clf"),
    "W4": (60000,   784,     (64,),        "sgd",  16,   np.float32, "clf"),
    "W5": (100000,  20,      (64, 64),     "adam", 64,   np.float64, "reg"),
}
N_CLASSES = 10
PREDICT_CHUNK = row_chunk()  # rows per forward pass in fastmlp's predict
WARM_TURN_UNDER = 2.0  # seconds: shorter epochs get an untimed one per turn


def make_data(name, scale):
    """X, y for a workload; ``scale`` shrinks the synthetic row counts."""
    rows, features, _, _, _, dtype, task = WORKLOADS[name]
    if name == "W1":
        X, y = load_digits(return_X_y=True)
        return (X / 16.0).astype(dtype), y
    rng = np.random.RandomState(0)
    n = max(int(rows * scale), 512)
    X = rng.rand(n, features).astype(dtype)
    if task == "clf":
        w = rng.randn(features, N_CLASSES)
        return X, np.argmax(X @ w + 0.5 * rng.randn(n, N_CLASSES), axis=1)
    return X, X @ rng.randn(features) + 0.1 * rng.randn(n)


def estimator_params(name):
    _, _, hidden, solver, batch, _, _ = WORKLOADS[name]
    params = dict(hidden_layer_sizes=hidden, solver=solver, batch_size=batch,
                  random_state=0, learning_rate_init=0.001)
    if solver == "sgd":
        params.update(momentum=0.9, nesterovs_momentum=True, learning_rate_init=0.01)
    return params


def gemm_shapes(name, n_features, n_outputs):
    """(m, n, k, trans_a, trans_b) of every GEMM of one full mini-batch."""
    _, _, hidden, _, batch, _, _ = WORKLOADS[name]
    units = [n_features, *hidden, n_outputs]
    shapes = []
    for i, (fan_in, fan_out) in enumerate(zip(units[:-1], units[1:])):
        shapes.append((batch, fan_out, fan_in, False, False))       # forward
        shapes.append((fan_in, fan_out, batch, True, False))        # weight gradient
        if i > 0:
            shapes.append((batch, fan_in, fan_out, False, True))    # delta
    return shapes


def gemm_seconds(m, n, k, trans_a, trans_b, dtype, min_time):
    """Seconds of one m x n x k GEMM, BLAS at its current thread count: the
    fastest of 5 samples (on a shared machine noise only slows a GEMM down,
    and a limit should not be lowered by it)."""
    rng = np.random.RandomState(0)
    A = rng.rand(*((k, m) if trans_a else (m, k))).astype(dtype)
    B = rng.rand(*((n, k) if trans_b else (k, n))).astype(dtype)
    C = np.empty((m, n), dtype=dtype)
    repeats = 1
    while True:  # calibrate to ~min_time / 5 per sample
        t0 = time.perf_counter()
        _gemm_repeat(trans_a, trans_b, A, B, C, repeats)
        if time.perf_counter() - t0 > min_time / 5:
            break
        repeats *= 2
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        _gemm_repeat(trans_a, trans_b, A, B, C, repeats)
        samples.append((time.perf_counter() - t0) / repeats)
    return float(min(samples))


def limit_samples_per_s(name, n_features, n_outputs, threads, min_time):
    """The BLAS limit: batch rows / (sum over GEMMs of their measured time)."""
    dtype, batch = WORKLOADS[name][5], WORKLOADS[name][4]
    with threadpool_limits(threads, user_api="blas"):
        seconds = sum(gemm_seconds(*shape, dtype, min_time)
                      for shape in gemm_shapes(name, n_features, n_outputs))
    return batch / seconds


class TorchMLP:
    """The same network trained by PyTorch: tight loop over pre-made tensors."""

    def __init__(self, name, X, y, threads):
        _, _, hidden, solver, batch, dtype, task = WORKLOADS[name]
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        tdtype = torch.float32 if dtype == np.float32 else torch.float64
        units = [X.shape[1], *hidden, N_CLASSES if task == "clf" else 1]
        layers = []
        for i, (a, b) in enumerate(zip(units[:-1], units[1:])):
            layers.append(torch.nn.Linear(a, b, dtype=tdtype))
            if i < len(units) - 2:
                layers.append(torch.nn.ReLU())
        self.model = torch.nn.Sequential(*layers)
        params = estimator_params(name)
        if solver == "adam":
            self.opt = torch.optim.Adam(self.model.parameters(), lr=params["learning_rate_init"])
        else:
            self.opt = torch.optim.SGD(self.model.parameters(), lr=params["learning_rate_init"],
                                       momentum=0.9, nesterov=True)
        self.X = torch.from_numpy(np.ascontiguousarray(X))
        if task == "clf":
            self.y = torch.from_numpy(y.astype(np.int64))
            self.loss = torch.nn.CrossEntropyLoss()
        else:
            self.y = torch.from_numpy(y.astype(dtype).reshape(-1, 1))
            self.loss = torch.nn.MSELoss()
        self.batch = batch

    def epoch(self):
        n = self.X.shape[0]
        perm = torch.randperm(n)
        for start in range(0, n, self.batch):
            idx = perm[start:start + self.batch]
            out = self.model(self.X[idx])
            loss = self.loss(out, self.y[idx])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()

    def predict(self, X):
        with torch.no_grad():
            return self.model(X)


def run_settings(quick, tiny, rounds):
    """(data scale, rounds of turns, seconds per turn) of a full run with
    ``rounds`` rounds, a --quick run or a --tiny smoke run."""
    if tiny:
        return 0.01, 1, 0.002
    if quick:
        return 0.25, 3, 0.05
    return 1.0, rounds, 0.2


def take_turns(runners, rounds, min_time):
    """Seconds of each timed epoch, per library: {name: [s, ...]}.

    The libraries take turns, ``rounds`` times. A turn is one untimed epoch
    (unless an epoch takes longer than WARM_TURN_UNDER seconds), then timed
    epochs for at least min_time (at least one). The untimed epoch absorbs
    what the previous turn left behind: another library's BLAS or OpenMP
    threads still spinning on the other core, and cores this VM parked
    while idle (measured here: a 2.5-ms W1 epoch took 10-50 ms right after
    a scikit-learn epoch or a 50-ms pause, 2 threads).
    """
    times = {lib: [] for lib in runners}
    timed, warm = {}, {}
    for lib, run in runners.items():  # first epoch: allocation, first touch
        t0 = time.perf_counter()
        run()
        seconds = time.perf_counter() - t0
        timed[lib] = max(1, int(min_time / max(seconds, 1e-9)))
        warm[lib] = seconds < WARM_TURN_UNDER
    for _ in range(rounds):
        for lib, run in runners.items():
            if warm[lib]:
                run()
            for _ in range(timed[lib]):
                t0 = time.perf_counter()
                run()
                times[lib].append(time.perf_counter() - t0)
    return times


def run_training(name, threads, scale, epochs, min_time, use_torch):
    X, y = make_data(name, scale)
    task = WORKLOADS[name][6]
    n_outputs = N_CLASSES if task == "clf" else 1
    Est = "MLPClassifier" if task == "clf" else "MLPRegressor"
    ours = getattr(fastmlp, Est)(n_threads=threads, **estimator_params(name))
    theirs = getattr(sk, Est)(**estimator_params(name))
    extra = dict(classes=np.arange(N_CLASSES)) if task == "clf" else {}
    runners = {
        "fastmlp": lambda: ours.partial_fit(X, y, **extra),
        "scikit-learn": lambda: theirs.partial_fit(X, y, **extra),
    }
    if use_torch:
        net = TorchMLP(name, X, y, threads)
        runners["pytorch"] = net.epoch
    with threadpool_limits(threads, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        times = take_turns(runners, epochs, min_time)
    result = {lib: len(X) / float(np.median(t)) for lib, t in times.items()}
    result["limit"] = limit_samples_per_s(name, X.shape[1], n_outputs, threads, min_time)
    result["rows"] = len(X)
    return result, (ours, theirs, net if use_torch else None, X)


def run_predict(models, threads, repeats, min_time):
    """P: W2's model predicting its 60000 rows, and single-row latency."""
    ours, theirs, net, X = models
    out = {}
    with threadpool_limits(threads, user_api="blas"):
        fns = {"fastmlp": lambda A: ours.predict_proba(A),
               "scikit-learn": lambda A: theirs.predict_proba(A)}
        if net is not None:
            Xt = torch.from_numpy(X)
            fns["pytorch"] = lambda A: net.predict(Xt if A is X else torch.from_numpy(A))
        for lib, fn in fns.items():
            fn(X)
            ts = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn(X)
                ts.append(time.perf_counter() - t0)
            out[lib] = len(X) / float(np.median(ts))
            row = X[:1].copy()
            fn(row)
            lat = []
            for _ in range(200):
                t0 = time.perf_counter()
                fn(row)
                lat.append(time.perf_counter() - t0)
            out[lib + "_latency_us"] = 1e6 * float(np.median(lat))
    out["limit"] = predict_limit(X.shape[1], threads, min_time)
    out["rows"] = len(X)
    return out


def predict_limit(n_features, threads, min_time):
    """P's limit: rows / s of W2's forward GEMMs alone, for 1024-row chunks
    (the chunks fastmlp's predict runs)."""
    units = [n_features, *WORKLOADS["W2"][2], N_CLASSES]
    chunk = PREDICT_CHUNK
    with threadpool_limits(threads, user_api="blas"):
        seconds = sum(gemm_seconds(chunk, b, a, False, False, np.float32, min_time)
                      for a, b in zip(units[:-1], units[1:]))
    return chunk / seconds


def cpu_pressure():
    try:
        with open("/proc/pressure/cpu") as f:
            return f.readline().strip()
    except OSError:
        return "unavailable"


def format_table(results, threads):
    libs = ["fastmlp", "scikit-learn", "pytorch"]
    head = (f"{'workload':<9}{'fastmlp':>11}{'sklearn':>11}{'pytorch':>11}"
            f"{'vs sklearn':>12}{'vs torch':>10}{'limit':>11}{'share':>8}")
    lines = [f"threads = {threads}   (training and predict: samples/s; latency: us per 1-row call)",
             head, "-" * len(head)]
    for name, r in results.items():
        cells = [f"{r[lib] / 1e3:>10.1f}k" if lib in r else f"{'-':>11}" for lib in libs]
        vs_sk = f"{r['fastmlp'] / r['scikit-learn']:>11.2f}x"
        vs_torch = f"{r['fastmlp'] / r['pytorch']:>9.2f}x" if "pytorch" in r else f"{'-':>10}"
        lines.append(f"{name:<9}{''.join(cells)}{vs_sk}{vs_torch}"
                     f"{r['limit'] / 1e3:>10.1f}k{100 * r['fastmlp'] / r['limit']:>7.0f}%")
        if name == "P":
            lat = [f"{r[lib + '_latency_us']:>10.0f}u" if lib + "_latency_us" in r
                   else f"{'-':>11}" for lib in libs]
            ratio = r["scikit-learn_latency_us"] / r["fastmlp_latency_us"]
            lines.append(f"{'P 1-row':<9}{''.join(lat)}{ratio:>11.2f}x")
    return "\n".join(lines)


def plot(all_results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted(all_results, key=int)
    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4), squeeze=False)
    for ax, threads in zip(axes[0], runs):
        results = all_results[threads]
        names = list(results)
        x = np.arange(len(names))
        for i, lib in enumerate(["fastmlp", "scikit-learn", "pytorch", "limit"]):
            vals = [results[n].get(lib, np.nan) / results[n]["limit"] for n in names]
            ax.bar(x + (i - 1.5) * 0.2, vals, 0.2, label=lib)
        ax.set_xticks(x, names)
        ax.set_ylabel("samples/s as a share of the BLAS limit")
        ax.set_title(f"{threads} thread(s)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller data, fewer epochs")
    parser.add_argument("--tiny", action="store_true", help="seconds-long smoke run (tests)")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--workloads", default="W1,W2,W3,W4,W5,P")
    parser.add_argument("--epochs", type=int,
                        help="rounds of turns (each turn: one or more timed epochs)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--png", help="write the plot here (needs matplotlib)")
    args = parser.parse_args(argv)

    scale, epochs, min_time = run_settings(args.quick, args.tiny, 5)
    epochs = args.epochs or epochs
    use_torch = torch is not None and not args.no_torch
    if not use_torch:
        print("note: PyTorch not installed (or --no-torch): its columns are empty."
              " `pip install torch==2.13.0` installs a CPU build.")
    names = [w.strip() for w in args.workloads.split(",") if w.strip()]
    print(f"fastmlp {fastmlp.__version__} | {platform.processor() or platform.machine()} | "
          f"{os.cpu_count()} cores | python {platform.python_version()} | {date.today()}")
    print(f"cpu pressure before: {cpu_pressure()}")
    all_results = {}
    for threads in [int(t) for t in args.threads.split(",")]:
        results, w2_models = {}, None
        for name in names:
            if name == "P":
                if w2_models is None:
                    _, w2_models = run_training("W2", threads, scale, 1, min_time, use_torch)
                results["P"] = run_predict(w2_models, threads, max(epochs, 3), min_time)
            else:
                results[name], models = run_training(name, threads, scale, epochs,
                                                     min_time, use_torch)
                if name == "W2":
                    w2_models = models
            print(f"  done {name} ({threads} thread(s))", file=sys.stderr)
        all_results[str(threads)] = results
        print()
        print(format_table(results, threads))
    print(f"\ncpu pressure after: {cpu_pressure()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"date": str(date.today()), "machine": platform.machine(),
                       "cores": os.cpu_count(), "results": all_results}, f, indent=1)
    if args.png:
        try:
            plot(all_results, args.png)
        except ImportError:
            print("note: matplotlib not installed, no plot written")


if __name__ == "__main__":
    main()
