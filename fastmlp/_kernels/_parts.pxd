# How work is cut into parts and shared by a team of threads (inline only).
#
# Rules that keep results bit-identical for any n_threads:
# - every cut (GEMM parts, row blocks, sum blocks, predict chunks) is a
#   function of the shapes only, never of the thread count;
# - partial sums are combined in block order, by every thread alike;
# - every thread of a team reaches every _sync the same number of times
#   (an orphaned barrier: a thread that skips one deadlocks the others).
# The constants were tuned on the 2-core benchmark machine (see _gemm_parts
# and README "Performance"); retuning for more cores is a change here.

from fastmlp._kernels._layout cimport Layout
from fastmlp._kernels._openmp cimport (
    fastmlp_omp_barrier, fastmlp_omp_num_threads, fastmlp_omp_thread_num,
)

cdef enum:
    MAX_PARTS = 2            # GEMM parts (tuned on 2 cores; see _gemm_parts)
    MIN_PART_MACS = 524288   # multiply-adds each weight-gradient GEMM part must have
    SMALL_PART_MACS = 65536  # ... each forward and delta GEMM part
    MIN_PART_EXTENT = 64     # rows or columns each GEMM part must have
    PART_ALIGN = 16          # part boundaries fall on multiples of this
    ROW_BLOCK = 64           # rows per task of the loss and the sparse layer
    SUM_BLOCK = 4096         # elements per partial sum (and per step run)
    ROW_CHUNK = 1024         # rows per forward pass in predict, loss and L-BFGS
    COL_BLOCK = 64           # columns of W_0 per task in the sparse gradient


cdef struct Team:
    # The threads that run one kernel together inside a parallel region.
    int tid     # this thread, 0 .. nth - 1
    int nth     # threads in the team; 1: this thread alone (no barriers)


cdef inline Py_ssize_t _n_blocks(Py_ssize_t n, Py_ssize_t block) noexcept nogil:
    return (n + block - 1) // block


cdef inline Team _team_of_one() noexcept nogil:
    cdef Team team
    team.tid = 0
    team.nth = 1
    return team


cdef inline Team _this_team() noexcept nogil:
    """The calling thread's place in the parallel region it runs in."""
    cdef Team team
    team.tid = fastmlp_omp_thread_num()
    team.nth = fastmlp_omp_num_threads()
    return team


cdef inline bint _mine(const Team* team, Py_ssize_t task) noexcept nogil:
    """Task number ``task`` of a phase is run by thread task % nth."""
    return task % team.nth == team.tid


cdef inline void _sync(const Team* team) noexcept nogil:
    """Wait until every thread of the team has finished the phase."""
    if team.nth > 1:
        fastmlp_omp_barrier()


cdef inline int _team_size(const Layout* lay, Py_ssize_t nb, int n_threads) noexcept nogil:
    """Threads worth a parallel region for passes over nb rows: n_threads if
    the network's GEMMs have MAX_PARTS * MIN_PART_MACS multiply-adds in all
    (enough for parts to pay), else 1 (the calling thread alone, no region)."""
    cdef double macs = 0.0
    cdef Py_ssize_t l
    if n_threads <= 1:
        return 1
    for l in range(lay.n_layers):
        macs += <double>nb * lay.units[l] * lay.units[l + 1]
    return n_threads if macs >= MAX_PARTS * MIN_PART_MACS else 1


cdef inline Py_ssize_t _gemm_parts(double macs, Py_ssize_t extent,
                                   double min_part_macs=MIN_PART_MACS) noexcept nogil:
    """How many parts a GEMM is cut into along a dimension of size extent.

    A function of the shape only (never of n_threads), so the bits do not
    depend on the thread count. Each part repacks the other operand, so few,
    large parts are cheapest: MAX_PARTS, if every part gets min_part_macs
    of work and MIN_PART_EXTENT of width. Measured on 2 cores: the 1.3M-MAC
    forward GEMM of a 64-100-10 network on 200-row batches gains from two
    parts (+15% at 2 threads), while halving a 64-unit layer or weight-gradient
    parts of less than 512K MACs cost more than the second thread gave
    (-25% on 16-row batches of a 784-64-10 network). Forward and delta GEMMs
    take SMALL_PART_MACS: the 64-100-10 network's 200K-MAC output layer and
    delta in two parts made it 9% faster at 2 threads (the other thread would
    only wait), and no slower at 1 thread or on larger networks.
    """
    if macs >= MAX_PARTS * min_part_macs and extent >= MAX_PARTS * MIN_PART_EXTENT:
        return MAX_PARTS
    return 1


cdef inline Py_ssize_t _part_start(Py_ssize_t extent, Py_ssize_t parts,
                                   Py_ssize_t p) noexcept nogil:
    """Start of part p of ``parts`` over extent; parts are aligned to PART_ALIGN.

    (Values, not out-pointers: prange only privatises assigned variables.)
    """
    cdef Py_ssize_t step = _n_blocks(_n_blocks(extent, parts), PART_ALIGN) * PART_ALIGN
    return min(p * step, extent)


cdef inline Py_ssize_t _part_size(Py_ssize_t extent, Py_ssize_t parts,
                                  Py_ssize_t p) noexcept nogil:
    return _part_start(extent, parts, p + 1) - _part_start(extent, parts, p)
