"""One optimizer step of each rule against its closed form."""

import numpy as np
import pytest

from fastmlp._kernels._optim import _adam_step, _sgd_step

N = 1000


def _state(dtype):
    rng = np.random.RandomState(0)
    return [rng.randn(N).astype(dtype) for _ in range(4)]


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-6), (np.float64, 1e-14)])
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_step(dtype, rtol, momentum, nesterov):
    params, grads, velocity, _ = _state(dtype)
    lr = 0.05
    v_new = momentum * velocity.astype(np.float64) - lr * grads
    step = momentum * v_new - lr * grads if nesterov else v_new
    expected = params + step
    _sgd_step(params, grads, velocity, lr, momentum, nesterov)
    np.testing.assert_allclose(velocity, v_new, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(params, expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-13)])
@pytest.mark.parametrize("t", [1, 7])
def test_adam_step(dtype, rtol, t):
    params, grads, m, v = _state(dtype)
    v = np.abs(v)
    lr, b1, b2, eps = 0.01, 0.8, 0.99, 1e-8
    m_new = b1 * m.astype(np.float64) + (1 - b1) * grads
    v_new = b2 * v.astype(np.float64) + (1 - b2) * grads.astype(np.float64) ** 2
    lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    expected = params - lr_t * m_new / (np.sqrt(v_new) + eps)
    _adam_step(params, grads, m, v, lr, b1, b2, eps, t)
    np.testing.assert_allclose(m, m_new, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(v, v_new, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(params, expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-13)])
@pytest.mark.parametrize("solver", ["none", "sgd-nesterov", "sgd-classical", "adam"])
def test_fused_finish_and_step_from_raw_gradients(dtype, rtol, solver):
    # The training loop's step: raw gradient sums are finished,
    # g = (g_raw + alpha W) / sum(w), and stepped in one pass.
    from fastmlp._kernels._optim import _finish_and_step

    params, raw, state_a, state_b = _state(dtype)
    state_b = np.abs(state_b)
    alpha, sw_sum, lr, mu, b1, b2, eps = 0.3, 57.0, 0.01, 0.9, 0.8, 0.99, 1e-8
    P, A, B = (x.astype(np.float64) for x in (params, state_a, state_b))
    g = (raw.astype(np.float64) + alpha * P) / sw_sum
    if solver == "none":
        expected = {"grads": g, "params": P}
    elif solver.startswith("sgd"):
        v = mu * A - lr * g
        step = mu * v - lr * g if solver == "sgd-nesterov" else v
        expected = {"params": P + step, "state_a": v}
    else:
        m = b1 * A + (1 - b1) * g
        v = b2 * B + (1 - b2) * g * g
        expected = {"params": P - lr * m / (np.sqrt(v) + eps), "state_a": m, "state_b": v}
    arrays = {"params": params, "grads": raw, "state_a": state_a, "state_b": state_b}
    _finish_and_step(params, raw, state_a, state_b, solver.split("-")[0], lr, mu,
                     solver == "sgd-nesterov", b1, b2, eps, alpha, sw_sum)
    for name, value in expected.items():
        np.testing.assert_allclose(arrays[name], value, rtol=rtol, atol=rtol, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["sgd-nesterov", "sgd-classical", "adam"])
@pytest.mark.parametrize("want_sumsq", [False, True])
def test_step_that_clears_its_gradient_steps_the_same(dtype, solver, want_sumsq):
    # Large weight gradients are added into a buffer the previous step
    # cleared: the clearing step must leave params, state and the L2 sum
    # exactly as the plain step does, and every raw gradient at 0.
    from fastmlp._kernels._optim import _finish_and_step

    rng = np.random.RandomState(7)
    p, raw, a, b = (rng.randn(1003).astype(dtype) for _ in range(4))
    b = np.abs(b)
    args = (solver.split("-")[0], 0.01, 0.9, solver == "sgd-nesterov", 0.8, 0.99, 1e-8,
            0.3, 57.0, want_sumsq)
    plain = [x.copy() for x in (p, raw, a, b)]
    expected = _finish_and_step(*plain, *args)
    got = _finish_and_step(p, raw, a, b, *args, clear=True)
    assert got == expected
    for x, y in zip((p, a, b), (plain[0], plain[2], plain[3])):
        np.testing.assert_array_equal(x, y)
    assert not raw.any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["sgd-nesterov", "sgd-classical", "adam"])
@pytest.mark.parametrize("n", [1, 15, 16, 1003, 4096])
def test_step_sums_the_squares_of_the_new_params_in_the_documented_order(dtype, solver, n):
    # The training loop's L2 term comes from the step itself: element i into
    # lane i % LANES (16 float32 or 8 float64 lanes; the n % LANES last ones
    # into lanes 0, 1, ...), lanes added in order in float64. Recomputed here
    # from the stepped params, with the same step done without the sum.
    from fastmlp._kernels._optim import _finish_and_step

    rng = np.random.RandomState(n)
    p, raw, a, b = (rng.randn(n).astype(dtype) for _ in range(4))
    b = np.abs(b)
    args = (solver.split("-")[0], 0.01, 0.9, solver == "sgd-nesterov", 0.8, 0.99, 1e-8,
            0.3, 57.0)
    arrays = [x.copy() for x in (p, raw, a, b)]
    assert _finish_and_step(*arrays, *args) is None
    got = _finish_and_step(p, raw, a, b, *args, want_sumsq=True)
    for x, y in zip((p, raw, a, b), arrays):
        np.testing.assert_array_equal(x, y)  # the sum changes nothing else
    lanes = 16 if dtype == np.float32 else 8
    acc = np.zeros(lanes, dtype=dtype)
    full = n - n % lanes
    squares = p * p
    for i in range(0, full, lanes):
        acc = acc + squares[i:i + lanes]
    acc[: n - full] += squares[full:]
    expected = 0.0
    for value in acc:
        expected += float(value)
    assert got == expected
    assert got == pytest.approx(float(np.sum(p.astype(np.float64) ** 2)), rel=1e-5)

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_subnormal_state_is_flushed_and_the_callers_mode_restored(dtype):
    tiny = np.finfo(dtype).smallest_subnormal * 4
    p = np.array([0.5, 0.25], dtype=dtype)
    g = np.zeros(2, dtype=dtype)
    m = np.array([tiny, 1e-3], dtype=dtype)
    v = np.array([1e-3, 1e-3], dtype=dtype)
    _adam_step(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 1)
    assert m[0] == 0  # 0.9 * tiny is subnormal: flushed (scikit-learn keeps it)
    assert m[1] == dtype(0.9) * dtype(1e-3)
    velocity = np.array([tiny, 0.0], dtype=dtype)
    _sgd_step(p, g, velocity, 0.1, 0.9, True)
    assert velocity[0] == 0
    # The caller's floating-point mode is back: subnormals still compute.
    x = np.array([tiny], dtype=dtype)
    assert (x * dtype(0.5))[0] != 0 and x[0] / dtype(2) != 0
