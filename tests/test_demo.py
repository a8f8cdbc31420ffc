"""The README's first command, `python -m fastmlp`, runs and reports both libraries."""

import os
import subprocess
import sys
from pathlib import Path

import fastmlp


def test_demo_runs_and_prints_both_libraries():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(fastmlp.__file__).resolve().parent.parent), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-m", "fastmlp", "--max-iter", "3", "--repeats", "1"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("fastmlp ") for line in lines)
    assert any(line.startswith("scikit-learn ") for line in lines)
    # Same random_state, same model: the demo's own comparison line.
    diff = float(lines[-1].rsplit(" ", 1)[-1])
    assert diff < 1e-6
