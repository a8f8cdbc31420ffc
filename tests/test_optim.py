"""One optimizer step of each rule against its closed form."""

import numpy as np
import pytest

from fastmlp._kernels._optim import _adam_step, _sgd_step

# Large enough that n_threads > 1 really splits the loop.
N = 40_000


def _state(dtype):
    rng = np.random.RandomState(0)
    return [rng.randn(N).astype(dtype) for _ in range(4)]


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-6), (np.float64, 1e-14)])
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_sgd_step(dtype, rtol, momentum, nesterov, n_threads):
    params, grads, velocity, _ = _state(dtype)
    lr = 0.05
    v_new = momentum * velocity.astype(np.float64) - lr * grads
    step = momentum * v_new - lr * grads if nesterov else v_new
    expected = params + step
    _sgd_step(params, grads, velocity, lr, momentum, nesterov, n_threads)
    np.testing.assert_allclose(velocity, v_new, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(params, expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-13)])
@pytest.mark.parametrize("t", [1, 7])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_adam_step(dtype, rtol, t, n_threads):
    params, grads, m, v = _state(dtype)
    v = np.abs(v)
    lr, b1, b2, eps = 0.01, 0.8, 0.99, 1e-8
    m_new = b1 * m.astype(np.float64) + (1 - b1) * grads
    v_new = b2 * v.astype(np.float64) + (1 - b2) * grads.astype(np.float64) ** 2
    lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    expected = params - lr_t * m_new / (np.sqrt(v_new) + eps)
    _adam_step(params, grads, m, v, lr, b1, b2, eps, t, n_threads)
    np.testing.assert_allclose(m, m_new, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(v, v_new, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(params, expected, rtol=rtol, atol=rtol)
