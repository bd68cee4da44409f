"""Softmax followed by cross-entropy, fused: the classifier's loss."""

from __future__ import annotations

from typing import Any

import numpy

from xpnet import backend
from xpnet.cpu.kernels import load
from xpnet.function import Function
from xpnet.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")

#: Class-index targets with a "mean" or "sum" loss go through one compiled pass per row
#: (:mod:`xpnet.cpu.loss_kernels`) for logits of at most this many values: its exp is
#: the scalar one, NumPy's is vectorised, so past a few thousand values NumPy's dozen
#: calls win. Forward and backward, float32, us, compiled / NumPy (`python
#: bench/bench_loss.py --max-values 1000000`, docs/benchmarks.md, seventh session):
#: 128 x 10 32.4 / 67.2, 128 x 32 32.2 / 44.3, 64 x 100 43.9 / 43.2, 8 x 1000 50.4 / 40.2,
#: 128 x 1000 631 / 240.
COMPILED_MAX_VALUES = 4096


class SoftmaxCrossEntropy(Function):
    """l_n = -sum_c t_nc log p_nc with p_n = softmax(x_n); reduced over n.

    With z = x - max_c x (row-wise) and lse = log sum_c exp(z_c):
    log p_c = z_c - lse, so l_n = lse_n sum_c t_nc - sum_c t_nc z_nc (for a class index
    t_n: l_n = lse_n - z_n,t_n). dl_n/dx_nc = p_nc sum_k t_nk - t_nc (p - onehot for
    indices); dl_n/dt_nc = -log p_nc. "mean" divides by N, "none" keeps l (N,).
    """

    def __init__(self, reduction: str) -> None:
        self.reduction = reduction

    def forward(self, x: Any, t: Any) -> Any:
        xp = backend.get_array_module(x)
        n = x.shape[0]
        if (self.reduction != "none" and t.dtype.kind in "iu" and n
                and x.size <= COMPILED_MAX_VALUES):
            kernels = load("loss_kernels", x)  # one compiled pass per row, where it runs
            if kernels is not None and isinstance(t, numpy.ndarray):
                self.t = t  # (N,) class indices, for dE/dx
                self.p = numpy.empty(x.shape, dtype=x.dtype)  # (N, C) softmax, for dE/dx
                bad, total = kernels.forward(x, t, self.p)
                if bad >= 0:
                    _check_range("softmax_cross_entropy", t, x.shape[1])  # raises
                return numpy.asarray(total / n if self.reduction == "mean" else total,
                                     dtype=x.dtype)
        if t.dtype.kind in "iu":
            _check_range("softmax_cross_entropy", t, x.shape[1])
        z = x - x.max(axis=1, keepdims=True)  # (N, C) shifted logits, fresh, all <= 0
        soft = t.dtype.kind == "f"
        if soft:
            picked = xp.einsum("nc,nc->n", t, z)  # (N,) sum_c t_nc z_nc
            self.t = t  # (N, C) target distribution, for dE/dx
            self.tsum = t.sum(axis=1, keepdims=True)  # (N, 1) 1 for proper distributions
        else:
            self.t = t  # (N,) class indices, for dE/dx
            picked = z[xp.arange(n), t]  # (N,) shifted logit of each target class
        keep_z = soft and self.needs_input_grad[1]
        p = xp.exp(z) if keep_z else xp.exp(z, out=z)  # z is no longer needed: reuse it
        s = p.sum(axis=1, keepdims=True)  # (N, 1) in [1, C]
        p /= s
        self.p = p  # (N, C) softmax, computed once, for dE/dx
        lse = xp.log(s)  # (N, 1)
        if keep_z:
            z -= lse
            self.logp = z  # (N, C) log softmax, for dE/dt
        lse = lse.reshape(n)  # (N,)
        loss = lse * self.tsum.reshape(n) - picked if soft else lse - picked  # (N,)
        if self.reduction == "none":
            return loss
        total = loss.sum()
        return xp.asarray(total / n if self.reduction == "mean" else total, dtype=x.dtype)

    def backward(self, gl: Any) -> tuple[Any, Any]:
        n = self.p.shape[0]
        if self.reduction == "none":
            coef = gl.reshape(n, 1)  # (N, 1) one upstream gradient per example
        else:
            coef = gl / n if self.reduction == "mean" else gl  # () the same for every row
        soft = self.t.dtype.kind == "f"
        gx = gt = None
        if self.needs_input_grad[0]:
            if soft:
                gx = self.p * self.tsum  # p sum_k t_k - t
                gx -= self.t
                gx *= coef
            elif (self.reduction != "none" and self.p.size <= COMPILED_MAX_VALUES
                  and (kernels := load("loss_kernels", self.p))):
                gx = numpy.empty_like(self.p)  # (N, C) coef (p - onehot(t)), compiled
                kernels.backward(self.p, self.t, self.p.dtype.type(coef), gx)
            else:
                xp = backend.get_array_module(self.p)
                gx = self.p * coef  # p - onehot(t), scaled, without building the one-hot
                gx[xp.arange(n), self.t] -= coef.reshape(-1)
        if soft and self.needs_input_grad[1]:
            gt = self.logp * -coef  # dl/dt = -log p
        return gx, gt


def _as_input(value: Any) -> tuple[Any, Any]:
    """(the value to pass on, its array): lists and scalars become Tensors once, here."""
    if not isinstance(value, Tensor) and not backend.is_array(value):
        value = Tensor(value)
    return value, value.data if isinstance(value, Tensor) else value


def _check_range(op: str, t: Any, c: int) -> None:
    """A ValueError naming the range when class indices ``t`` (N,) leave [0, c)."""
    if t.size and (int(t.min()) < 0 or int(t.max()) >= c):
        raise ValueError(
            f"{op}: targets must be class indices in [0, {c - 1}] for {c} classes, "
            f"got values in [{int(t.min())}, {int(t.max())}]"
        )


def _check_targets(op: str, x: Any, t: Any) -> None:
    """Targets' shape and dtype against logits x (N, C); the range of class indices is
    checked in the op's forward (the compiled pass checks it on the way)."""
    n, c = x.shape
    if t.dtype.kind in "iu":
        if t.shape != (n,):
            raise ValueError(
                f"{op}: class-index targets must have shape ({n},) for logits of shape "
                f"{tuple(x.shape)}, got {tuple(t.shape)}"
            )
    elif t.dtype.kind == "f":
        if t.shape != (n, c):
            raise ValueError(
                f"{op}: probability targets must have the logits' shape {tuple(x.shape)}, "
                f"got {tuple(t.shape)}"
            )
        if t.dtype != x.dtype:
            raise TypeError(
                f"{op}: probability targets must have the logits' dtype {x.dtype}, got {t.dtype}"
            )
    else:
        raise TypeError(
            f"{op}: targets must be integer class indices (N,) or floating probabilities "
            f"(N, C), got dtype {t.dtype}"
        )


def softmax_cross_entropy(logits: Any, targets: Any, reduction: str = "mean") -> Any:
    """Cross-entropy of softmax(logits) against targets, fused and numerically stable.

    The classifier's output layer p = softmax(a) followed by its loss
    E_n = -sum_c t_nc log p_nc, computed by log-sum-exp: log p_c = (a_c - m) -
    log sum_j exp(a_j - m) with m = max_j a_j, so logits of +-1000 give finite values.
    The softmax is computed once in forward and saved, so backward is one pass:
    dE/da_n = (p_n - t_n) / N for "mean" (p_n - onehot(t_n) for class indices), the
    output-layer error (y - d) of back-propagation (Rumelhart et al. 1986) for this cost.
    Equal to PyTorch's ``F.cross_entropy`` with index or probability targets.

    Args:
        logits: unnormalised scores a, floating, shape (N, C).
        targets: integer class indices in [0, C), shape (N,), or floating rows of
            one-hot vectors or probabilities, shape (N, C), in the logits' dtype.
        reduction: "mean" (over N), "sum", or "none" (one loss per example).

    Returns:
        Tensor of shape () ("mean", "sum") or (N,) ("none"), in the logits' dtype.

    Shape:
        logits (N, C), targets (N,) or (N, C) -> () or (N,).

    Raises:
        ValueError: non-2-d logits, targets of the wrong shape or out of range.
        TypeError: non-floating logits, targets neither integer nor floating.

    Example:
        >>> logits = Tensor([[2.0, 0.0], [0.0, 2.0]])
        >>> round(softmax_cross_entropy(logits, [0, 1]).item(), 4)
        0.1269
    """
    op = "softmax_cross_entropy"
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    logits, x = _as_input(logits)
    targets, t = _as_input(targets)
    if x.ndim != 2:
        raise ValueError(f"{op}: logits must be 2-d (N, C), got shape {tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: logits must be floating, got dtype {x.dtype}")
    _check_targets(op, x, t)
    return SoftmaxCrossEntropy(reduction)(logits, targets)
