"""DropConnect (Wan, Zeiler, Zhang, LeCun, Fergus 2013): drop connections, not units.

Training: y = (W * M) x + b with M a 0/1 matrix of W's shape, M_ij = 1 with probability
1 - p, drawn anew for each mini-batch (or for each example). Inference, two ways: the
weight-scaling mean y = (1 - p) W x + b, or the paper's Gaussian moment matching
(section 3.1, Algorithm 2), :func:`dropconnect_gaussian`.
"""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.functions.noise.dropout import check_floating
from xpnet.functions.noise.masks import check_p, check_rng, generator_on, keep_mask
from xpnet.tensor import Tensor

_ACTIVATIONS = (None, "relu", "sigmoid", "tanh")
_CHUNK = 1 << 22  # Gaussian draws held at once by dropconnect_gaussian (32 MiB in float64)


class DropConnect(Function):
    """y = x (s W * M)^T + b for a given keep mask M (or none) and scale s.

    Shared mask M (out, in), x (N, in):
        y = x Wm^T + b with Wm = s W * M;
        dE/dx = gy Wm, dE/dW = s (gy^T x) * M, dE/db = sum_n gy.
    Per-example mask M (N, out, in):
        y_n = Wm_n x_n + b with Wm_n = s W * M_n (one batched mat-vec);
        dE/dx_n = Wm_n^T gy_n, dE/dW = s sum_n M_n * (gy_n x_n^T), dE/db = sum_n gy_n.
    The op is deterministic given the mask; drawing it is the caller's job.
    """

    def __init__(self, mask: Any, scale: float) -> None:
        self.mask = mask  # None, (out, in) or (N, out, in) bool: True where W_ij is kept
        self.scale = scale  # s: 1 in training, (1 - p) for the weight-scaling inference

    def forward(self, x: Any, w: Any, b: Any = None) -> Any:
        xp = backend.get_array_module(x, w)
        if self.mask is None:
            wm = w * self.scale if self.scale != 1.0 else w
        else:
            wm = w * self.mask  # (out, in) or (N, out, in) the thinned weights
            if self.scale != 1.0:
                wm *= self.scale
        if wm.ndim == 3:
            y = xp.matmul(wm, x[:, :, None])[:, :, 0]  # (N, out, in) @ (N, in, 1) -> (N, out)
        else:
            y = x @ wm.T  # (N, in) @ (in, out) -> (N, out)
        if b is not None:
            y += b
        if self.needs_input_grad[0]:
            self.wm = wm  # thinned, scaled weights, for dE/dx
        if self.needs_input_grad[1]:
            self.x = x  # (N, in) input, for dE/dW
        return y

    def backward(self, gy: Any) -> tuple[Any, ...]:
        xp = backend.get_array_module(gy)
        needs = self.needs_input_grad
        gx = gw = None
        if needs[0]:
            if self.wm.ndim == 3:
                gx = xp.matmul(gy[:, None, :], self.wm)[:, 0, :]  # (N, 1, out) @ (N, out, in)
            else:
                gx = gy @ self.wm  # (N, out) @ (out, in) -> (N, in)
        if needs[1]:
            if self.mask is not None and self.mask.ndim == 3:
                g = gy[:, :, None] * self.x[:, None, :]  # (N, out, in) per-example outer products
                g *= self.mask
                gw = g.sum(axis=0)  # (out, in)
            else:
                gw = gy.T @ self.x  # (out, N) @ (N, in) -> (out, in)
                if self.mask is not None:
                    gw *= self.mask
            if self.scale != 1.0:
                gw *= self.scale
        if len(needs) == 2:
            return gx, gw
        gb = gy.sum(axis=0) if needs[2] else None  # (out,)
        return gx, gw, gb


def _check_shapes(x: Any, weight: Any, bias: Any, op: str) -> None:
    """x (N, in), weight (out, in), bias (out,) or None; all floating."""
    xs, ws = check_floating(x, op), check_floating(weight, op)
    if len(xs) != 2:
        raise ValueError(f"{op}: expected x of shape (N, in_features), got {xs}")
    if len(ws) != 2 or ws[1] != xs[1]:
        raise ValueError(f"{op}: expected weight of shape (out_features, {xs[1]}) for x of "
                         f"shape {xs}, got {ws}")
    if bias is not None and tuple(check_floating(bias, op)) != (ws[0],):
        raise ValueError(f"{op}: expected bias of shape ({ws[0]},), got {tuple(bias.shape)}")


def _given_mask(mask: Any, shape: tuple[int, ...], xp: Any, op: str) -> Any:
    """Check a caller's mask (exact shape, on the weight's device) and make it bool."""
    if not isinstance(mask, xp.ndarray):
        raise TypeError(f"{op}: mask must be an array on the weight's device, got "
                        f"{type(mask).__name__}")
    if tuple(mask.shape) != shape:
        raise ValueError(f"{op}: expected a mask of shape {shape}, got {tuple(mask.shape)}")
    return mask if mask.dtype == bool else mask != 0


def dropconnect(
    x: Any,
    weight: Any,
    bias: Any = None,
    p: float = 0.5,
    training: bool = True,
    rng: Any = None,
    per_example: bool = False,
    *,
    mask: Any = None,
) -> Tensor:
    """DropConnect linear map: each connection W_ij is dropped with probability p.

    Training (Wan et al. 2013, eq. 1, no rescaling: r = a((M * W) v)):

        y = x (W * M)^T + b,     M_ij ~ Bernoulli(1 - p), a new M on every call.

    With ``per_example`` every example n gets its own M_n (the paper's formulation),
    computed as one batched mat-vec; it stores the (N, out, in) thinned weights and, in
    backward, an (N, out, in) array of outer products: N * out * in floats each.

    Inference (``training=False``): the weight-scaling mean y = (1 - p) x W^T + b, the
    expectation of the training output over M. For the paper's sampling inference, which
    averages the activation of Gaussian samples instead, see :func:`dropconnect_gaussian`.

    Gradients (shared mask): dE/dx = gy (W * M), dE/dW = (gy^T x) * M, dE/db = sum_n gy_n.

    Args:
        x: floating Tensor or array (N, in_features).
        weight: W (out_features, in_features).
        bias: b (out_features,) or None; never dropped.
        p: probability of dropping a connection, in [0, 1).
        training: draw a mask (True) or use the weight-scaling mean (False).
        rng: ``numpy.random.Generator`` the mask is drawn from; required when training
            with p > 0 and no ``mask`` (on the GPU it seeds a CuPy generator).
        per_example: one mask per example instead of one per call.
        mask: optional keep mask (bool or 0/1) of shape (out, in), or (N, out, in) with
            ``per_example``, used instead of a random one; the op is then deterministic,
            as gradient checks need.

    Returns:
        Tensor (N, out_features).

    Shape:
        x: (N, in), weight: (out, in), bias: (out,), mask: (out, in) or (N, out, in),
        output: (N, out).

    Example:
        >>> x, w = Tensor(numpy.ones((1, 4))), Tensor(numpy.ones((2, 4)))
        >>> dropconnect(x, w, p=0.5, training=False).data     # (1 - p) * W x
        array([[2., 2.]])
    """
    op = "dropconnect"
    p = check_p(p, op)
    _check_shapes(x, weight, bias, op)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    xp = backend.get_array_module(x, weight)
    shape = (x.shape[0],) * bool(per_example) + tuple(weight.shape)
    if mask is not None:
        if not training:
            raise ValueError(f"{op}: a mask was given with training=False (inference uses "
                             "the weight-scaling mean)")
        return DropConnect(_given_mask(mask, shape, xp, op), 1.0)(*inputs)
    if not training:
        return DropConnect(None, 1.0 - p)(*inputs)
    if p == 0.0:
        return DropConnect(None, 1.0)(*inputs)
    rng = check_rng(rng, op)
    return DropConnect(keep_mask(xp, rng, shape, p), 1.0)(*inputs)


def _activate(xp: Any, u: Any, activation: str | None) -> Any:
    """a(u) in place on the scratch array ``u``."""
    if activation == "relu":
        return xp.maximum(u, 0, out=u)
    if activation == "tanh":
        return xp.tanh(u, out=u)
    if activation == "sigmoid":  # 1 / (1 + e^-u) = (1 + tanh(u / 2)) / 2, no overflow
        u *= 0.5
        xp.tanh(u, out=u)
        u += 1
        u *= 0.5
    return u


def dropconnect_gaussian(
    x: Any,
    weight: Any,
    bias: Any = None,
    p: float = 0.5,
    activation: str | None = None,
    samples: int = 1000,
    rng: Any = None,
) -> Tensor:
    """The paper's DropConnect inference: average the activation over Gaussian samples.

    Wan et al. 2013, section 3.1 and Algorithm 2. For a fixed input v, each pre-activation
    u = ((W * M) v)_i + b_i is a sum of many independent Bernoulli-weighted terms, so it
    is close to a Gaussian with the same first two moments (moment matching):

        mu      = E_M[u]   = (1 - p) W v + b,
        sigma^2 = Var_M[u] = p (1 - p) (W * W)(v * v).

    The output is the Monte-Carlo average of a(u) over ``samples`` draws
    u ~ N(mu, sigma^2) per unit, a better estimate of E_M[a(u)] than a(mu) (the
    weight-scaling mean) for a nonlinear a. Without an activation, E[u] = mu exactly, so
    mu is returned and nothing is drawn. Samples are drawn in chunks of about 4M values,
    so memory stays bounded for any ``samples``. Inference only: no graph is recorded.

    Args:
        x: v, floating Tensor or array (N, in_features).
        weight: W (out_features, in_features).
        bias: b (out_features,) or None.
        p: probability of dropping a connection in training, in [0, 1).
        activation: None, ``"relu"``, ``"sigmoid"`` or ``"tanh"``: a, applied to each
            sample before averaging.
        samples: Z, the number of Gaussian draws per unit (the paper's Algorithm 2).
        rng: ``numpy.random.Generator`` for the draws; required with an activation.

    Returns:
        Tensor (N, out_features) holding the average of a(u), with no creator.

    Shape:
        x: (N, in), weight: (out, in), bias: (out,), output: (N, out).

    Example:
        >>> x, w = Tensor(numpy.ones((1, 4))), Tensor(numpy.ones((2, 4)))
        >>> y = dropconnect_gaussian(x, w, p=0.5, activation="relu", samples=10000,
        ...                          rng=numpy.random.default_rng(0))
        >>> y.shape                    # each entry near E[relu(N(2, 1))] = 2.008
        (1, 2)
    """
    op = "dropconnect_gaussian"
    p = check_p(p, op)
    _check_shapes(x, weight, bias, op)
    if activation not in _ACTIVATIONS:
        raise ValueError(f"{op}: activation must be one of {_ACTIVATIONS}, got {activation!r}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"{op}: samples must be an int >= 1, got {samples!r}")
    v, w = getattr(x, "data", x), getattr(weight, "data", weight)
    b = getattr(bias, "data", bias)
    xp = backend.get_array_module(v, w)
    mu = v @ w.T  # (N, in) @ (in, out) -> (N, out)
    mu *= 1.0 - p
    if b is not None:
        mu += b
    if activation is None:
        return Tensor(mu)
    gen = generator_on(xp, check_rng(rng, op))
    sigma = (v * v) @ (w * w).T  # (N, out) Var = p (1 - p) (W * W)(v * v)
    sigma *= p * (1.0 - p)
    xp.sqrt(sigma, out=sigma)
    total = xp.zeros_like(mu)
    chunk = max(1, _CHUNK // max(mu.size, 1))
    for start in range(0, samples, chunk):
        k = min(chunk, samples - start)
        u = gen.standard_normal((k,) + mu.shape, dtype=mu.dtype)  # (k, N, out) z ~ N(0, 1)
        u *= sigma
        u += mu  # u = mu + sigma z ~ N(mu, sigma^2)
        total += _activate(xp, u, activation).sum(axis=0)
    total /= samples
    return Tensor(total)
