"""The BLAS shim against NumPy: both dtypes, every transpose case, alpha/beta."""

import numpy as np
import pytest

from fastmlp._kernels._blas import _gemm


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (0.5, 2.0)])
def test_gemm_matches_numpy(dtype, rtol, trans_a, trans_b, alpha, beta):
    rng = np.random.RandomState(0)
    m, n, k = 7, 5, 11  # all different, so a swapped dimension cannot pass
    A = rng.randn(*((k, m) if trans_a else (m, k))).astype(dtype)
    B = rng.randn(*((n, k) if trans_b else (k, n))).astype(dtype)
    C = rng.randn(m, n).astype(dtype)
    opA = A.T if trans_a else A
    opB = B.T if trans_b else B
    expected = alpha * (opA.astype(np.float64) @ opB.astype(np.float64)) + beta * C
    A.setflags(write=False)  # inputs may be read-only
    B.setflags(write=False)
    _gemm(trans_a, trans_b, alpha, A, B, beta, C)
    assert C.dtype == dtype
    np.testing.assert_allclose(C, expected, rtol=rtol, atol=rtol)


def test_replay_epoch_runs_the_training_gemms():
    """The benchmark shim computes what bench_replay.py says it times: every
    forward, delta and weight-gradient product of the last batch, on the
    rows its order gathers (float64 recomputation)."""
    from fastmlp._kernels._bench import _replay_epoch
    rng = np.random.RandomState(0)
    units = np.array([6, 5, 4, 3], dtype=np.intp)
    X = rng.randn(11, 6)
    order = rng.permutation(11).astype(np.intp)
    batch = 4  # batches of 4, 4 and 3 rows
    sizes = units[:-1] * units[1:]
    weights = rng.randn(int(sizes.sum()))
    grads = np.zeros_like(weights)
    acts = rng.randn(batch * int(units.sum()))
    deltas = rng.randn(batch * int(units.sum()))
    _replay_epoch(X, order, batch, units, weights, grads, acts, deltas)
    nb, offs = 3, np.concatenate([[0], np.cumsum(units)])
    W = np.split(weights, np.cumsum(sizes)[:-1])
    W = [w.reshape(a, b) for w, a, b in zip(W, units[:-1], units[1:])]
    A = [acts[nb * o:nb * (o + u)].reshape(nb, u) for o, u in zip(offs, units)]
    D = [deltas[nb * o:nb * (o + u)].reshape(nb, u) for o, u in zip(offs, units)]
    np.testing.assert_allclose(A[0], X[order[8:]], rtol=0, atol=0)
    for i in range(3):
        np.testing.assert_allclose(A[i + 1], A[i] @ W[i], rtol=1e-12)
        gW = grads[int(sizes[:i].sum()):int(sizes[:i + 1].sum())].reshape(W[i].shape)
        np.testing.assert_allclose(gW, A[i].T @ D[i + 1], rtol=1e-12)
        if i > 0:
            np.testing.assert_allclose(D[i], D[i + 1] @ W[i].T, rtol=1e-12)
