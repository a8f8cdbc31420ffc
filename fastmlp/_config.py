"""fastmlp.show_config: what this installation was built with and runs on."""

import sys

from threadpoolctl import threadpool_info

from fastmlp._kernels._openmp_helpers import build_flags, omp_max_threads, openmp_enabled
from fastmlp._version import __version__


def show_config(file=None):
    """Print fastmlp's version, OpenMP and BLAS set-up and build flags.

    Parameters
    ----------
    file : file-like, default=None
        Where to print (``sys.stdout`` if None).

    Returns
    -------
    None
    """
    file = sys.stdout if file is None else file
    from fastmlp import _threads  # noqa: F401  (loads SciPy's BLAS first)

    lines = [
        f"fastmlp {__version__}",
        f"  python: {sys.version.split()[0]}",
        f"  OpenMP: {'enabled' if openmp_enabled() else 'disabled (kernels run serially)'}",
        f"  max threads: {omp_max_threads()} (n_threads=None uses this)",
        f"  compiler flags: {build_flags()}",
        "  BLAS and OpenMP libraries (threadpoolctl):",
    ]
    for lib in threadpool_info():
        lines.append(
            f"    {lib['internal_api']} {lib.get('version') or ''} "
            f"({lib.get('architecture') or lib['user_api']}), "
            f"{lib['num_threads']} threads: {lib['filepath']}"
        )
    print("\n".join(lines), file=file)
