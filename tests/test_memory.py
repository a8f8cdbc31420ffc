"""Memory: no growth over many fit/predict cycles, and no copy of X in fit.

Measured in child processes (resident set size from /proc), so that this
test run's own allocations do not blur the figures. Linux only.
"""

import json
import os
import sys
import textwrap

import pytest

from _child import run_python

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status"),
    # AddressSanitizer (.ci/run's checked build) keeps freed memory quarantined.
    pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                       reason="memory figures are meaningless under AddressSanitizer"),
]

RSS = textwrap.dedent("""
    import resource

    def rss_mb():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
""")

CYCLES = RSS + textwrap.dedent("""
    import io, json, pickle, warnings
    import numpy as np
    import fastmlp

    warnings.simplefilter("ignore")
    rng = np.random.RandomState(0)
    X = rng.randn(300, 20)
    y = (X[:, 0] > 0).astype(int)
    Xs = X.astype(np.float32)

    def cycle(i):
        clf = fastmlp.MLPClassifier((32,), max_iter=2, random_state=i).fit(X, y)
        clf.predict_proba(X)
        clf.partial_fit(X, y)
        reg = fastmlp.MLPRegressor(hidden_layer_sizes=(16,), solver="sgd", max_iter=2, random_state=i)
        reg.fit(Xs, X[:, 0]).predict(Xs[:1])
        buf = io.BytesIO()
        fastmlp.save(reg, buf)
        fastmlp.load(io.BytesIO(buf.getvalue())).predict(Xs)
        pickle.loads(pickle.dumps(clf)).predict(X[:5])
        try:
            clf.predict(X[:, :3])
        except ValueError:
            pass

    for i in range(50):  # warm-up: caches, first-call allocations
        cycle(i)
    start = rss_mb()
    for i in range(500):
        cycle(i)
    print(json.dumps({"start_mb": start, "growth_mb": rss_mb() - start}))
""")


def test_500_fit_predict_cycles_do_not_grow_memory():
    proc = run_python(["-c", CYCLES], timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(result)
    # A leak of one small array per cycle (e.g. 300x32 float64) would be > 35 MB.
    assert result["growth_mb"] < 8, result


PEAK = RSS + textwrap.dedent("""
    import json, warnings
    import numpy as np
    import fastmlp

    warnings.simplefilter("ignore")
    n, f = 200_000, 100
    base = rss_mb()
    rng = np.random.RandomState(0)
    X = np.empty((n, f), dtype=np.float32)
    for i in range(0, n, 10_000):  # no float64 temporary of the whole X
        X[i:i + 10_000] = rng.rand(10_000, f)
    y = (X[:, 0] > 0.5).astype(np.int64) + (X[:, 1] > 0.5)
    data_mb = (X.nbytes + y.nbytes) / 2**20
    before = rss_mb()
    assert peak_mb() < before + 20, "a transient before fit would hide fit's peak"
    clf = fastmlp.MLPClassifier((64,), max_iter=2, random_state=0).fit(X, y)
    model_mb = sum(c.nbytes for c in clf.coefs_ + clf.intercepts_) / 2**20
    print(json.dumps({"baseline_mb": base, "data_mb": data_mb, "model_mb": model_mb,
                      "fit_extra_mb": peak_mb() - before,
                      "peak_over_baseline_mb": peak_mb() - base}))
""")


def test_fit_peak_memory_stays_under_twice_the_data():
    proc = run_python(["-c", PEAK], timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    print(r)
    # Whole process above its import baseline: data + fit's extra < 2x data + model.
    assert r["peak_over_baseline_mb"] < 2 * r["data_mb"] + r["model_mb"], r
