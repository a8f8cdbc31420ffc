"""The benchmark suite runs (tiny sizes) and prints its table: it cannot rot.

No timing is asserted: CI machines are noisy.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import fastmlp

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SUITE = BENCHMARKS / "bench_suite.py"


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(fastmlp.__file__).resolve().parent.parent), env.get("PYTHONPATH", "")])
    return env


def test_benchmark_suite_smoke(tmp_path):
    env = _env()
    out_json = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(SUITE), "--tiny", "--threads", "1", "--workloads", "W1,W5,P",
         "--no-torch", "--json", str(out_json)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "workload" in proc.stdout and "vs sklearn" in proc.stdout
    for name in ("W1", "W5", "P", "P 1-row"):
        assert any(line.startswith(name + " ") for line in proc.stdout.splitlines()), name
    results = json.loads(out_json.read_text())["results"]["1"]
    assert set(results) == {"W1", "W5", "P"}
    assert all(r["fastmlp"] > 0 and r["scikit-learn"] > 0 and r["limit"] > 0
               for r in results.values())


def test_thread_strategy_benchmark_smoke():
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_threads.py"), "--tiny", "--workloads", "W1,W5"],
        capture_output=True, text=True, timeout=300, env=_env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.split()[:1] == ["workload"] and "nested" in line for line in lines)
    assert sum(line.startswith(("W1 ", "W5 ")) for line in lines) == 4  # rates + GEMMs
