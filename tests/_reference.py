"""A NumPy reference trainer: scikit-learn's sgd/adam training, written out
from its formulas (tests/test_reference.py checks it against scikit-learn).

It is ours and it is slow, but every step is plain NumPy in float64: when
fastmlp and an oracle disagree, it says where (initialisation, batch order,
forward, loss, gradient, step, schedule), and it covers what PyTorch, the
oracle of fastmlp's extras, lacks. Activations and losses come from the
NumPy references of fastmlp._kinds; the hidden derivative is taken of the
pre-activations Z (scikit-learn and the kernels take it of the outputs A).

The semantics (scikit-learn 1.9, _multilayer_perceptron.py and
_stochastic_optimizers.py):
- one RandomState; weights then biases of each layer drawn from
  U(-b, b), b = sqrt(f / (fan_in + fan_out)) (f: the activation's init factor);
- each epoch: perm = arange(n); rng.shuffle(perm); order = order[perm]
  (composed with the previous order); contiguous batches, the last short;
- batch loss = scale * sum_i w_i r_i / sum(w) + 0.5 alpha sum ||W||^2 / sum(w);
- gradients gW = (A^T D + alpha W) / sum(w), gb = sum_rows D / sum(w),
  D_L = w (P - Y), D_l = (D_{l+1} W_l^T) * act'(Z_l);
- sgd: v = mu v - lr g; p += mu v - lr g (Nesterov) or p += v;
  adam: t += 1; m, v moments; p -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps);
- epoch loss = sum_b loss_b len_b / n; invscaling (sgd) lr = lr0 / (t_ + 1)^power_t
  after each epoch, t_ the samples seen; the tol / n_iter_no_change rule on
  the training loss.
"""

from dataclasses import dataclass, field

import numpy as np

from fastmlp._kinds import ACTIVATIONS, LOSSES


@dataclass
class Reference:
    """What the reference trainer fits: coefs, intercepts, and its history."""

    coefs: list
    intercepts: list
    loss_curve: list = field(default_factory=list)
    t: int = 0          # samples seen (scikit-learn's t_)
    n_iter: int = 0


def init(units, activation, rng):
    """scikit-learn's initial weights and biases (float64)."""
    factor = ACTIVATIONS[activation].init_factor
    coefs, intercepts = [], []
    for fan_in, fan_out in zip(units[:-1], units[1:]):
        bound = np.sqrt(factor / (fan_in + fan_out))
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
        intercepts.append(rng.uniform(-bound, bound, fan_out))
    return coefs, intercepts


def loss_and_gradients(coefs, intercepts, X, Y, sw, activation, loss, alpha):
    """The batch loss and its gradients (lists like coefs and intercepts)."""
    kind = LOSSES[loss]
    out_act = ACTIVATIONS[kind.out_activation]
    hidden = ACTIVATIONS[activation]
    A, Zs, As = X, [], [X]
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        Z = A @ W + b
        A = out_act.forward(Z) if i == len(coefs) - 1 else hidden.forward(Z)
        Zs.append(Z)
        As.append(A)
    w = np.ones(len(X)) if sw is None else sw
    w_sum = w.sum()
    P = As[-1]
    Pc = np.clip(P, np.finfo(P.dtype).eps, 1 - np.finfo(P.dtype).eps) \
        if loss.endswith("log_loss") else P
    rows = kind.term(Y, Pc).sum(axis=1)
    value = (kind.scale(Y.shape[1]) * (w * rows).sum() / w_sum
             + 0.5 * alpha * sum((W ** 2).sum() for W in coefs) / w_sum)
    D = w[:, None] * kind.delta(Y, P)
    gW, gb = [None] * len(coefs), [None] * len(coefs)
    for i in range(len(coefs) - 1, -1, -1):
        gW[i] = (As[i].T @ D + alpha * coefs[i]) / w_sum
        gb[i] = D.sum(axis=0) / w_sum
        if i > 0:
            D = (D @ coefs[i].T) * hidden.derivative(Zs[i - 1])
    return value, gW, gb


def fit(X, Y, *, hidden_layer_sizes, activation="relu", loss="log_loss", solver="adam",
        alpha=1e-4, batch_size=200, learning_rate="constant", learning_rate_init=1e-3,
        power_t=0.5, max_iter=5, shuffle=True, random_state=0, tol=1e-4, momentum=0.9,
        nesterovs_momentum=True, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
        n_iter_no_change=10, sample_weight=None):
    """Train as scikit-learn's MLP trains (Y: the encoded targets, float64).
    No early stopping and no 'adaptive' schedule."""
    if learning_rate not in ("constant", "invscaling"):
        raise ValueError("The reference trainer has no 'adaptive' schedule.")
    rng = np.random.RandomState(random_state)
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    n = len(X)
    units = [X.shape[1], *hidden_layer_sizes, Y.shape[1]]
    model = Reference(*init(units, activation, rng))
    params = model.coefs + model.intercepts
    state = [np.zeros_like(p) for p in params]       # sgd velocity / adam m
    state2 = [np.zeros_like(p) for p in params]      # adam v
    steps, lr = 0, learning_rate_init
    batch = min(200, n) if batch_size == "auto" else min(batch_size, n)
    order = np.arange(n)
    best_loss, no_improvement = np.inf, 0
    for _ in range(max_iter):
        if shuffle:
            perm = np.arange(n)
            rng.shuffle(perm)
            order = order[perm]
        total = 0.0
        for start in range(0, n, batch):
            rows = order[start:start + batch]
            value, gW, gb = loss_and_gradients(
                model.coefs, model.intercepts, X[rows], Y[rows],
                None if sw is None else sw[rows], activation, loss, alpha)
            total += value * len(rows)
            grads = gW + gb
            if solver == "sgd":
                for p, v, g in zip(params, state, grads):
                    v[...] = momentum * v - lr * g
                    p += (momentum * v - lr * g) if nesterovs_momentum else v
            else:
                steps += 1
                lr_t = (learning_rate_init * np.sqrt(1 - beta_2 ** steps)
                        / (1 - beta_1 ** steps))
                for p, m, v, g in zip(params, state, state2, grads):
                    m[...] = beta_1 * m + (1 - beta_1) * g
                    v[...] = beta_2 * v + (1 - beta_2) * g * g
                    p += -lr_t * m / (np.sqrt(v) + epsilon)
        epoch_loss = total / n
        model.loss_curve.append(epoch_loss)
        model.t += n
        model.n_iter += 1
        no_improvement = no_improvement + 1 if epoch_loss > best_loss - tol else 0
        best_loss = min(best_loss, epoch_loss)
        if solver == "sgd" and learning_rate == "invscaling":
            lr = learning_rate_init / (model.t + 1) ** power_t
        if no_improvement > n_iter_no_change:
            break
    return model
