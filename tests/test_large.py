"""An X with more than 2**31 elements: 64-bit index arithmetic end to end.

Slow (tens of seconds, an 8.6 GB sparse file read through the page cache):
deselected by default, run by `.ci/run` with `pytest -m slow`.
"""

import json
import sys
import textwrap

import pytest

from _child import run_python

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform != "linux" or sys.maxsize < 2**32,
                                 reason="needs a 64-bit Linux (sparse files, /proc)")]

CHILD = textwrap.dedent("""
    import json, sys, threading, time, warnings
    import numpy as np
    import fastmlp

    path = sys.argv[1]
    F = 4096
    n = 2**31 // F + 3 * 64            # n * F > 2**31, so row offsets need 64 bits
    X = np.memmap(path, dtype=np.float32, mode="w+", shape=(n, F))  # a sparse file
    rng = np.random.RandomState(0)
    tail = rng.rand(64, F).astype(np.float32)
    X[-64:] = tail                      # the only nonzero rows, past element 2**31
    X.flush()
    del X
    X = np.memmap(path, dtype=np.float32, mode="r", shape=(n, F))
    assert X.size > 2**31
    y = np.zeros(n, dtype=np.int8)
    y[-64:] = 1 + (tail[:, 0] > 0.5)

    peak = {"anon_mb": 0.0}
    done = threading.Event()

    def watch():  # private (anonymous) memory: a copy of X would show here
        while not done.is_set():
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        peak["anon_mb"] = max(peak["anon_mb"], int(line.split()[1]) / 1024)
            time.sleep(0.02)

    threading.Thread(target=watch, daemon=True).start()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = fastmlp.MLPClassifier((4,), batch_size=8192, max_iter=1, shuffle=False,
                                    random_state=0).fit(X, y)
    fit_s = time.perf_counter() - t0
    proba = clf.predict_proba(X)
    done.set()
    finite = all(bool(np.isfinite(a).all()) for a in clf.coefs_ + clf.intercepts_)
    # Rows past 2**31 elements predicted in the big call and on their own agree,
    # as do the all-zero rows with a zero row.
    tail_ok = bool(np.array_equal(proba[-64:], clf.predict_proba(tail)))
    zero_ok = bool(np.array_equal(proba[:5], clf.predict_proba(np.zeros((5, F), np.float32))))
    print(json.dumps({"elements": int(X.size), "finite": finite, "tail_ok": tail_ok,
                      "zero_ok": zero_ok, "fit_s": fit_s, "peak_anon_mb": peak["anon_mb"],
                      "X_mb": X.nbytes / 2**20}))
""")


def test_fit_and_predict_on_more_than_2_31_elements(tmp_path):
    proc = run_python(["-c", CHILD, str(tmp_path / "X.f32")], timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    print(r)
    assert r["elements"] > 2**31
    assert r["finite"] and r["tail_ok"] and r["zero_ok"], r
    # X (8.6 GB) is read through the page cache, never copied into private memory.
    assert r["peak_anon_mb"] < 0.25 * r["X_mb"], r
