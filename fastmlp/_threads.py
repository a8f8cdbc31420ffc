"""Thread policy: how many OpenMP threads, and BLAS held at one thread.

The kernels run single-threaded GEMMs inside OpenMP regions, so BLAS must not
start threads of its own while they run (two runtimes busy-waiting for the
same cores is many times slower). ``blas_single_threaded()`` holds BLAS at one
thread around fit/predict. A BLAS thread count is process-global, so a
process-wide, lock-protected, reference-counted limiter sets it: the first
caller in lowers BLAS to one thread, the last one out restores it, and
overlapping calls from several Python threads cannot restore the wrong count.

threadpoolctl finds the loaded BLAS libraries (once), but the counts are set
here directly. Since threadpoolctl 3.8 its OpenBLAS limit only acts in the
"controlling" Python thread (the first one that set a limit and is still
alive) and silently does nothing in any other: measured here, fit/predict
from a worker thread then ran OpenBLAS with 2 threads under fastmlp's own
OpenMP threads. For OpenBLAS with its own (pthreads) threads we call
openblas_get/set_num_threads, which are process-wide; other libraries keep
threadpoolctl's per-library get/set (OpenMP builds of OpenBLAS run one thread
inside our parallel regions anyway).

Fork. GCC's OpenMP runtime (libgomp, which the Linux wheels carry) does not
survive fork(): a child forked after the parent ran a parallel region hangs in
its first parallel region. A child forked after fastmlp used OpenMP threads
therefore runs every kernel on one thread; results are the same bits (they
never depend on the thread count), only slower. Children forked before that,
and spawned or forkserver processes (joblib's default), keep all threads.
"""

import ctypes
import os
import threading
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

from fastmlp._kernels import _network  # noqa: F401  (loads SciPy's BLAS first)
from fastmlp._kernels._openmp_helpers import omp_max_threads, openmp_enabled

_lock = threading.Lock()
_users = 0
_blas = None    # [(get_num_threads, set_num_threads)] of the loaded BLAS libraries
_saved = None   # their counts before the first user lowered them
_openmp_started = False  # this process has asked for more than one thread
MAX_THREADS_PER_CPU = 4
_MAX_THREADS = MAX_THREADS_PER_CPU * (os.cpu_count() or 1)  # os.cpu_count() costs ~20 us
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
    n = min(n, _MAX_THREADS)
    if n > 1:
        _openmp_started = True
    return n


def _openblas_functions(lib):
    """OpenBLAS's own (get, set) thread-count functions in lib, or None.

    Builds rename them (scipy's wheels: scipy_openblas_set_num_threads, and a
    64_ suffix for the ILP64 build NumPy carries).
    """
    dll = getattr(lib, "dynlib", None) or ctypes.CDLL(lib.filepath)
    for prefix in ("", "scipy_"):
        for suffix in ("", "64_", "_64"):
            get = getattr(dll, f"{prefix}openblas_get_num_threads{suffix}", None)
            set_ = getattr(dll, f"{prefix}openblas_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                set_.restype, set_.argtypes = None, [ctypes.c_int]
                return get, set_
    return None


def _blas_controls():
    """(get, set) thread-count functions of every loaded BLAS library."""
    controls = []
    for lib in ThreadpoolController().lib_controllers:
        if lib.user_api != "blas":
            continue
        direct = None
        if lib.internal_api == "openblas" and getattr(lib, "threading_layer", "") != "openmp":
            direct = _openblas_functions(lib)
        controls.append(direct or (lib.get_num_threads, lib.set_num_threads))
    return controls


_limiting = True  # False only inside blas_left_alone() (a benchmark's switch)


@contextmanager
def blas_left_alone():
    """Benchmarks only: blas_single_threaded() leaves BLAS's thread count as
    it finds it while this block runs (process-wide; not thread-safe), so a
    benchmark can run the kernels beside a multi-threaded BLAS on purpose."""
    global _limiting
    _limiting = False
    try:
        yield
    finally:
        _limiting = True


@contextmanager
def blas_single_threaded():
    """Hold every BLAS library at one thread while the block runs."""
    global _users, _blas, _saved
    if not _limiting:
        yield
        return
    with _lock:
        if _users == 0:
            if _blas is None:
                _blas = _blas_controls()
            _saved = [get() for get, _ in _blas]
            for (_, set_), n in zip(_blas, _saved):
                if n != 1:
                    set_(1)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                for (_, set_), n in zip(_blas, _saved):
                    if n is not None and n != 1:
                        set_(n)
