"""Run Python code in a child process that imports this fastmlp.

Used for whatever could crash or hang the interpreter (so it fails one test
instead of the run), and for measurements that need a fresh process.
"""

import os
import subprocess
import sys
from pathlib import Path

import fastmlp


def child_env():
    """os.environ with this fastmlp (installed or the source tree) importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(fastmlp.__file__).resolve().parent.parent), env.get("PYTHONPATH", "")])
    return env


def run_python(args, timeout, env_extra=None, **kw):
    """subprocess.run([python, *args]) with output captured as text (and the
    variables of env_extra added to the environment)."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, env={**child_env(), **(env_extra or {})}, **kw)
