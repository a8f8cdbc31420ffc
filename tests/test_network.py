"""Kernel level: the entry points of fastmlp/_kernels/_network.pyx.

- the loss-only entry gives the loss that loss_grad gives, bit for bit, and
  both the loss of a NumPy forward pass (fastmlp._kinds' references);
- one fused sgd/adam step is the closed-form step from loss_grad's gradient;
- the whole-gradient path (finish the batch's gradient, then step) and the
  kept pre-activations change no parameter bit;
for float32/float64, dense/sparse X, sample weights, n_threads 1 and 2.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from fastmlp._kernels._layout import KernelInput, NetSpec
from fastmlp._kernels._network import run_epoch
from fastmlp._kinds import ACTIVATIONS, LOSSES
from fastmlp._network import FullLoss, HeldOutLoss, init_params, make_spec, pack
from fastmlp._optimizers import StochasticOptimizer

DTYPES = [np.float32, np.float64]


def _problem(dtype, sparse=False, weighted=True, n=300, units=(40, 48, 24, 3), seed=0):
    """X, one-hot Y, weights and Glorot parameters of a softmax network."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, units[0])
    if sparse:
        X = sp.csr_matrix(np.where(np.abs(X) > 1.0, X, 0.0))
    Y = np.eye(units[-1])[rng.randint(units[-1], size=n)]
    sw = rng.uniform(0.5, 2.0, n) if weighted else None
    flat = pack(*init_params(list(units), "tanh", rng, dtype), dtype)
    X = X.astype(dtype)
    return X, Y.astype(dtype), None if sw is None else sw.astype(dtype), flat


def _spec(units, activation="tanh", loss="log_loss", keep=None):
    spec = make_spec(list(units), activation, loss)
    if keep is None:
        return spec
    kind = LOSSES[loss]
    return NetSpec(list(units), hidden_activation=ACTIVATIONS[activation].kernel,
                   out_activation=ACTIVATIONS[kind.out_activation].kernel,
                   loss=kind.kernel, loss_scale=kind.scale(units[-1]),
                   keep_preactivation=keep)


def _epochs(spec, X, Y, sw, flat, *, solver="adam", batch=64, epochs=2, n_threads=1,
            alpha=1e-3, whole_gradient=False, shuffle=True, lr=0.01, momentum=0.9):
    """Train a copy of flat for a few epochs; (params, optimizer, losses)."""
    flat = flat.copy()
    dtype = flat.dtype
    opt = StochasticOptimizer(solver, flat.size, dtype, learning_rate_init=lr,
                              momentum=momentum)
    opt.whole_gradient = whole_gradient
    inputs = KernelInput(X, dtype)
    n_work, n_partials = spec.workspace_sizes(batch)
    # exactly the sizes asked for, with a canary after each: nothing writes past them
    work_c, partials_c = np.full(n_work + 64, 7, dtype), np.full(n_partials + 64, 7.0)
    work, partials = work_c[:n_work], partials_c[:n_partials]
    grads = np.empty_like(flat)
    rng = np.random.RandomState(1)
    losses = []
    for _ in range(epochs):
        order = (rng.permutation(len(Y)).astype(np.intp) if shuffle or sp.issparse(X)
                 else None)
        spec_opt = opt.kernel_spec(alpha)
        loss_sum, _ = run_epoch(spec, spec_opt, inputs, Y, sw, order, batch, flat,
                                grads=grads, work=work, partials=partials,
                                n_threads=n_threads)
        opt.took_steps(spec_opt)
        losses.append(loss_sum / len(Y))
    assert (work_c[n_work:] == 7).all() and (partials_c[n_partials:] == 7).all()
    return flat, opt, losses


def _numpy_loss(units, activation, loss, flat, X, Y, sw, alpha):
    """The reported loss from the registry's references, in float64."""
    X = X.toarray() if sp.issparse(X) else X
    A, L = X.astype(np.float64), len(units) - 1
    flat = flat.astype(np.float64)
    Ws, start = [], 0
    for a, b in zip(units[:-1], units[1:]):
        Ws.append(flat[start:start + a * b].reshape(a, b))
        start += a * b
    kind = LOSSES[loss]
    for i, W in enumerate(Ws):
        b = flat[start:start + units[i + 1]]
        start += units[i + 1]
        act = activation if i < L - 1 else kind.out_activation
        A = ACTIVATIONS[act].forward(A @ W + b)
    w = np.ones(len(Y)) if sw is None else sw.astype(np.float64)
    eps = np.finfo(Y.dtype).eps
    P = np.clip(A, eps, 1 - eps) if loss.endswith("log_loss") else A
    rows = kind.term(Y.astype(np.float64), P).sum(axis=1)
    return (kind.scale(units[-1]) * (w * rows).sum() / w.sum()
            + 0.5 * alpha * sum((W ** 2).sum() for W in Ws) / w.sum())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_loss_only_entry_is_loss_grads_loss(dtype, sparse, n_threads):
    units = (40, 48, 24, 3)
    X, Y, sw, flat = _problem(dtype, sparse, n=1500)  # two chunks of rows
    spec = _spec(units)
    held_out = HeldOutLoss(spec, X, Y, sw, 0.3, n_threads, dtype)(flat)
    expected = _numpy_loss(units, "tanh", "log_loss", flat, X, Y, sw, 0.3)
    np.testing.assert_allclose(held_out, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)
    if dtype == np.float64:  # loss_grad (L-BFGS) is float64
        assert held_out == FullLoss(spec, X, Y, sw, 0.3, n_threads)(flat)[0]
    assert held_out == HeldOutLoss(spec, X, Y, sw, 0.3, 3 - n_threads, dtype)(flat)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("sparse", [False, True])
def test_one_fused_step_is_the_closed_form_step_from_the_gradient(solver, sparse):
    """One batch of all rows: sgd without momentum moves the parameters by
    -lr g, Adam's first step by -lr_t m / (sqrt(v) + eps), with g the
    gradient loss_grad computes (float64)."""
    units = (40, 48, 24, 3)
    X, Y, sw, flat = _problem(np.float64, sparse, n=120)
    spec = _spec(units)
    alpha, lr, b1, b2, eps = 0.05, 0.01, 0.9, 0.999, 1e-8
    loss, g = FullLoss(spec, X, Y, sw, alpha, 1)(flat)
    new, opt, losses = _epochs(spec, X, Y, sw, flat, solver=solver, batch=len(Y), epochs=1,
                               alpha=alpha, lr=lr, momentum=0.0, shuffle=False)
    if solver == "sgd":
        expected = flat - lr * g
    else:
        m, v = (1 - b1) * g, (1 - b2) * g * g
        expected = flat - (lr * np.sqrt(1 - b2) / (1 - b1)) * m / (np.sqrt(v) + eps)
        assert opt.t == 1
    np.testing.assert_allclose(new, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(losses[0], loss, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("sparse, n_threads", [(False, 1), (False, 2), (True, 2)])
def test_whole_gradient_path_steps_the_same_parameters(dtype, solver, sparse, n_threads):
    # Wide enough for weight gradients that the fused step clears (see backward).
    units = (300, 256, 24, 3)
    X, Y, sw, flat = _problem(dtype, sparse, n=400, units=units)
    spec = _spec(units)
    fused = _epochs(spec, X, Y, sw, flat, solver=solver, n_threads=n_threads)
    whole = _epochs(spec, X, Y, sw, flat, solver=solver, n_threads=n_threads,
                    whole_gradient=True)
    np.testing.assert_array_equal(whole[0], fused[0])
    for a, b in zip(whole[1].state, fused[1].state):
        np.testing.assert_array_equal(a, b)
    assert whole[1].t == fused[1].t
    # (only the L2 term's sum of squares is added in another order)
    np.testing.assert_allclose(whole[2], fused[2], rtol=1e-6 if dtype == np.float32 else 1e-13)


@pytest.mark.parametrize("activation", [n for n, a in ACTIVATIONS.items() if a.hidden])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sparse", [False, True])
def test_kept_preactivations_change_no_bit(activation, dtype, sparse):
    """The path for activations whose derivative needs Z (Z stored in
    training, passed to the derivative) gives the bits of the plain path and
    stays inside its workspace, on 1 thread and a team of 2. (No activation
    of the registry reads Z yet: the first that does is checked against
    PyTorch.)"""
    units = (300, 256, 128, 3)  # a team of 2 shares every pass
    X, Y, sw, flat = _problem(dtype, sparse, units=units)
    plain, kept = _spec(units, activation, keep=False), _spec(units, activation, keep=True)
    n_float = kept.workspace_sizes(64)[0]
    assert n_float == plain.workspace_sizes(64)[0] + 64 * (256 + 128)
    for n_threads in (1, 2):
        a = _epochs(plain, X, Y, sw, flat, n_threads=n_threads)
        b = _epochs(kept, X, Y, sw, flat, n_threads=n_threads)
        np.testing.assert_array_equal(a[0], b[0])
        assert a[2] == b[2]
    if dtype == np.float64:
        la, ga = FullLoss(plain, X, Y, sw, 0.1, 2)(flat)
        lb, gb = FullLoss(kept, X, Y, sw, 0.1, 2)(flat)
        assert la == lb
        np.testing.assert_array_equal(ga, gb)


def test_the_entry_points_refuse_what_does_not_fit_instead_of_crashing():
    """Every size a kernel relies on is checked once per call (a mismatch
    would read or write out of bounds): a ValueError, never a crash."""
    from fastmlp._kernels import _network as kernel
    from fastmlp._kernels._optim import OptimizerSpec

    units = (40, 48, 24, 3)
    X, Y, sw, flat = _problem(np.float64)
    spec = _spec(units)
    inputs = KernelInput(X, np.float64)
    n_work, n_partials = spec.workspace_sizes(len(Y))
    work, partials = np.empty(n_work), np.empty(n_partials)
    opt = StochasticOptimizer("sgd", flat.size, np.float64, learning_rate_init=0.1)
    good = dict(spec=spec, inputs=inputs, Y=Y, sw=sw, params=flat, work=work,
                partials=partials, order=None, batch=16, opt=opt.kernel_spec(0.0))

    def epoch(**bad):
        a = {**good, **bad}
        return kernel.run_epoch(a["spec"], a["opt"], a["inputs"], a["Y"], a["sw"],
                                a["order"], a["batch"], a["params"],
                                grads=np.empty_like(a["params"]), work=a["work"],
                                partials=a["partials"], n_threads=2)

    def loss(**bad):
        a = {**good, **bad}
        return kernel.loss(a["spec"], a["inputs"], a["Y"], a["sw"], a["params"], alpha=0.0,
                           work=a["work"], partials=a["partials"], n_threads=2)

    epoch()  # the good call works
    loss()
    for call, bad in [
        (epoch, dict(inputs=KernelInput(X[:, :10], np.float64))),   # other width
        (epoch, dict(inputs=KernelInput(X, np.float32))),           # other dtype
        (loss, dict(inputs=KernelInput(X[:50], np.float64))),       # other rows
        (epoch, dict(Y=Y[:, :2].copy())),
        (loss, dict(sw=sw[:10].copy())),
        (epoch, dict(params=flat[:-1].copy())),
        (epoch, dict(work=work[:100])),
        (loss, dict(work=np.empty(1))),
        (loss, dict(partials=np.empty(0))),
        (epoch, dict(batch=0)),
        (epoch, dict(order=np.arange(5, dtype=np.intp))),
        (epoch, dict(inputs=KernelInput(sp.csr_matrix(X), np.float64))),  # no order
        (epoch, dict(opt=StochasticOptimizer("sgd", 7, np.float64, learning_rate_init=0.1)
                      .kernel_spec(0.0))),
    ]:
        with pytest.raises(ValueError, match="does not match"):
            call(**bad)
    with pytest.raises(ValueError, match="workspace"):
        kernel.predict(spec, inputs, flat, np.empty((len(Y), 3)), work=np.empty(1))
    with pytest.raises(ValueError):
        NetSpec(list(units), hidden_activation=99, out_activation=0, loss=0)
    with pytest.raises(ValueError):  # softmax is no hidden activation
        NetSpec(list(units), hidden_activation=ACTIVATIONS["softmax"].kernel,
                out_activation=0, loss=0)
    with pytest.raises(ValueError):
        NetSpec([40, 0, 3], hidden_activation=0, out_activation=0, loss=0)
    with pytest.raises(ValueError):
        OptimizerSpec(7, (np.zeros(3),), learning_rate=0.1, alpha=0.0)
    with pytest.raises(ValueError):  # state is not an array (it would be copied)
        OptimizerSpec(0, ([0.0, 0.0],), learning_rate=0.1, alpha=0.0)
