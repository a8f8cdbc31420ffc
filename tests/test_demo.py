"""The README's first command, `python -m fastmlp`, runs and reports both libraries."""

from _child import run_python


def test_demo_runs_and_prints_both_libraries():
    proc = run_python(["-m", "fastmlp", "--max-iter", "3", "--repeats", "1"], timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("fastmlp ") for line in lines)
    assert any(line.startswith("scikit-learn ") for line in lines)
    # Same random_state, same model: the demo's own comparison line.
    diff = float(lines[-1].rsplit(" ", 1)[-1])
    assert diff < 1e-6
