"""The benchmark suite runs (tiny sizes) and prints its table: it cannot rot.

No timing is asserted: CI machines are noisy.
"""

import json
from pathlib import Path

from _child import run_python

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SUITE = BENCHMARKS / "bench_suite.py"


def test_benchmark_suite_smoke(tmp_path):
    out_json = tmp_path / "bench.json"
    proc = run_python([str(SUITE), "--tiny", "--threads", "1", "--workloads", "W1,W5,P",
                       "--no-torch", "--json", str(out_json)], timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "workload" in proc.stdout and "vs sklearn" in proc.stdout
    for name in ("W1", "W5", "P", "P 1-row"):
        assert any(line.startswith(name + " ") for line in proc.stdout.splitlines()), name
    results = json.loads(out_json.read_text())["results"]["1"]
    assert set(results) == {"W1", "W5", "P"}
    assert all(r["fastmlp"] > 0 and r["scikit-learn"] > 0 and r["limit"] > 0
               for r in results.values())


def test_thread_strategy_benchmark_smoke():
    proc = run_python([str(BENCHMARKS / "bench_threads.py"), "--tiny", "--workloads", "W1,W5"],
                      timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.split()[:1] == ["workload"] and "nested" in line for line in lines)
    assert sum(line.startswith(("W1 ", "W5 ")) for line in lines) == 4  # rates + GEMMs


def test_concurrency_benchmark_smoke():
    proc = run_python([str(BENCHMARKS / "bench_concurrency.py"), "--tiny"], timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()
            if line.startswith(("fastmlp ", "scikit-learn "))]
    assert [(r[0], r[1]) for r in rows] == [(lib, n) for lib in ("fastmlp", "scikit-learn")
                                            for n in ("1", "64", "2048")]


def test_replay_benchmark_smoke():
    proc = run_python([str(BENCHMARKS / "bench_replay.py"), "--tiny", "--threads", "1",
                       "--workloads", "W1,W5,P"], timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.split()[:1] == ["workload"] and "replay/limit" in line for line in lines)
    assert [line.split()[0] for line in lines
            if line.startswith(("W1 ", "W5 ", "P "))] == ["W1", "W5", "P"]
