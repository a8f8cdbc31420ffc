"""Thread policy: how many OpenMP threads, and BLAS held at one thread.

The kernels run single-threaded GEMMs inside OpenMP regions, so BLAS must not
start threads of its own while they run (two runtimes busy-waiting for the
same cores is many times slower). ``blas_single_threaded()`` holds BLAS at one
thread around fit/predict. threadpoolctl's limit is process-global and costs
milliseconds per use, so one cached ThreadpoolController sits behind a
process-wide, lock-protected, reference-counted limiter: the first caller in
lowers BLAS to one thread, the last one out restores it, and overlapping calls
from several Python threads cannot restore the wrong count.

Fork. GCC's OpenMP runtime (libgomp, which the Linux wheels carry) does not
survive fork(): a child forked after the parent ran a parallel region hangs in
its first parallel region. A child forked after fastmlp used OpenMP threads
therefore runs every kernel on one thread; results are the same bits (they
never depend on the thread count), only slower. Children forked before that,
and spawned or forkserver processes (joblib's default), keep all threads.
"""

import os
import threading
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

from fastmlp._kernels import _network  # noqa: F401  (loads SciPy's BLAS first)
from fastmlp._kernels._openmp_helpers import omp_max_threads, openmp_enabled

_lock = threading.Lock()
_users = 0
_controller = None
_limiter = None
_openmp_started = False  # this process has asked for more than one thread
MAX_THREADS_PER_CPU = 4
_forked_after_openmp = False


def _after_fork_in_child():
    global _lock, _forked_after_openmp
    _forked_after_openmp = _openmp_started
    # Another parent thread may have held the lock at the fork.
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def resolve_n_threads(n_threads):
    """The number of OpenMP threads for a call.

    None means all available: omp_get_max_threads(), which honours
    OMP_NUM_THREADS and threadpoolctl's OpenMP limits. Without OpenMP, or in
    a child forked after OpenMP started (see above): 1. At most
    MAX_THREADS_PER_CPU per CPU (more only costs thread start-up; a typo such
    as n_threads=10000 took 6 s to start its threads in a small fit).
    """
    global _openmp_started
    if not openmp_enabled() or _forked_after_openmp:
        return 1
    n = max(1, omp_max_threads()) if n_threads is None else int(n_threads)
    n = min(n, MAX_THREADS_PER_CPU * (os.cpu_count() or 1))
    if n > 1:
        _openmp_started = True
    return n


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
