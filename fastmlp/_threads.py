"""Thread policy: how many OpenMP threads, and BLAS held at one thread.

The kernels run single-threaded GEMMs inside OpenMP regions, so BLAS must not
start threads of its own while they run (two runtimes busy-waiting for the
same cores is many times slower). ``blas_single_threaded()`` holds BLAS at one
thread around fit/predict. threadpoolctl's limit is process-global and costs
milliseconds per use, so one cached ThreadpoolController sits behind a
process-wide, lock-protected, reference-counted limiter: the first caller in
lowers BLAS to one thread, the last one out restores it, and overlapping calls
from several Python threads cannot restore the wrong count.
"""

import threading
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

from fastmlp._kernels import _network  # noqa: F401  (loads SciPy's BLAS first)
from fastmlp._kernels._openmp_helpers import omp_max_threads, openmp_enabled

_lock = threading.Lock()
_users = 0
_controller = None
_limiter = None


def resolve_n_threads(n_threads):
    """The number of OpenMP threads for a call.

    None means all available: omp_get_max_threads(), which honours
    OMP_NUM_THREADS and threadpoolctl's OpenMP limits. Without OpenMP: 1.
    """
    if not openmp_enabled():
        return 1
    if n_threads is None:
        return max(1, omp_max_threads())
    return int(n_threads)


@contextmanager
def blas_single_threaded():
    """Hold every BLAS library at one thread while the block runs."""
    global _users, _controller, _limiter
    with _lock:
        if _users == 0:
            if _controller is None:
                _controller = ThreadpoolController()
            _limiter = _controller.limit(limits=1, user_api="blas")
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _limiter.restore_original_limits()
                _limiter = None
