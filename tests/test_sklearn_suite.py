"""scikit-learn's own MLP test module, run against fastmlp.

The installed scikit-learn's ``neural_network/tests/test_mlp.py`` is copied to
a temporary folder with only the import of the two estimators swapped, and run
by pytest in a subprocess against the fastmlp under test. Tests that reach into
scikit-learn's private internals are deselected (each with its reason below).
"""

import os
import subprocess
import sys
from pathlib import Path

import sklearn

import fastmlp

ORIGINAL_IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor\n"
SWAPPED_IMPORT = "from fastmlp import MLPClassifier, MLPRegressor\n"

PRIVATE = {
    # Calls scikit-learn's private _loss_grad_lbfgs(theta, X, Y, None,
    # activations, deltas, coef_grads, intercept_grads) with its per-layer
    # work lists; fastmlp's gradient lives in the Cython kernel and is checked
    # against finite differences in tests/test_gradients.py instead.
    "test_gradient": "uses scikit-learn's private _loss_grad_lbfgs",
}

# scikit-learn's conftest provides this fixture; its default seed is 42.
CONFTEST = '''
import os
import pytest


@pytest.fixture
def global_random_seed():
    return int(os.environ.get("SKLEARN_TESTS_GLOBAL_RANDOM_SEED", "42"))
'''


def test_sklearn_mlp_test_module_passes_on_fastmlp(tmp_path):
    source = Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
    text = source.read_text()
    assert text.count(ORIGINAL_IMPORT) == 1, "scikit-learn's test module changed its import"
    target = tmp_path / "test_mlp_on_fastmlp.py"
    target.write_text(text.replace(ORIGINAL_IMPORT, SWAPPED_IMPORT))
    (tmp_path / "conftest.py").write_text(CONFTEST)

    deselect = []
    for name in PRIVATE:
        deselect += ["--deselect", f"{target.name}::{name}"]
    env = dict(os.environ)
    package_root = str(Path(fastmlp.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([package_root, env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", target.name, "-q", "-p", "no:cacheprovider",
         "-rs", *deselect],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    # The run used fastmlp, and the whole module ran.
    assert "failed" not in summary and " passed" in summary, summary
    n_passed = int(summary.split(" passed")[0].split()[-1])
    assert n_passed >= 55, summary
