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
