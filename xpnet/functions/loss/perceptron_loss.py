"""The perceptron criterion on K classes: Rosenblatt's rule as a cost."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


class PerceptronLoss(Function):
    """l_n = s_n,k* - s_n,t_n with k* = argmax_k s_nk (the first one on ties).

    dl_n/ds_nk = [k = k*] - [k = t_n]: +1 for the winning class, -1 for the true one,
    and nothing at all when the true class wins. "mean" divides by N.
    """

    def __init__(self, reduction: str) -> None:
        self.reduction = reduction

    def forward(self, s: Any, t: Any) -> Any:
        xp = backend.get_array_module(s)
        rows = xp.arange(len(s))
        self.winner = s.argmax(axis=1)  # (N,) k*, for dE/ds
        self.t = t  # (N,) true classes, for dE/ds
        self.k = s.shape[1]  # K, the width of dE/ds
        loss = s[rows, self.winner] - s[rows, t]  # (N,) >= 0
        if self.reduction == "none":
            return loss
        total = loss.sum()
        return xp.asarray(total / len(s) if self.reduction == "mean" else total, dtype=s.dtype)

    def backward(self, gl: Any) -> tuple[Any, None]:
        xp = backend.get_array_module(gl)
        n = len(self.t)
        coef = gl if self.reduction != "mean" else gl / n
        coef = xp.broadcast_to(xp.asarray(coef, dtype=gl.dtype).reshape(-1), (n,))  # (N,)
        gs = xp.zeros((n, self.k), dtype=gl.dtype)  # (N, K)
        rows = xp.arange(n)
        gs[rows, self.winner] += coef
        gs[rows, self.t] -= coef  # cancels the +coef when the true class wins
        return gs, None


def _array(x: Any) -> Any:
    """The array of a Tensor, or ``x`` itself."""
    return x.data if isinstance(x, Tensor) else x


def perceptron_loss(scores: Any, targets: Any, reduction: str = "mean") -> Any:
    """The multi-class perceptron criterion: how far the winning score is above the truth.

    E_n = s_n,k* - s_n,t_n with k* = argmax_k s_nk; 0 when the true class wins. Its
    gradient is +1 for the winner and -1 for the true class, so for a linear layer
    s = W x + b one SGD step of rate eta on one example (batch size 1) is exactly
    Rosenblatt's rule in Kesler's construction (Rosenblatt 1958; Duda & Hart 1973):
    w_t += eta x, w_k* -= eta x when k* != t, nothing otherwise. With a batch of N and
    "sum" it is the batch perceptron; "mean" divides that update by N.

    Args:
        scores: (N, K) floating scores (a linear layer's output).
        targets: (N,) integer classes in [0, K).
        reduction: "mean" (over N), "sum" or "none" (one value per example).

    Returns:
        Tensor of shape () ("mean", "sum") or (N,) ("none").

    Raises:
        ValueError: wrong shapes, classes out of range, an unknown reduction.
        TypeError: non-floating scores or non-integer targets.

    Example:
        >>> perceptron_loss(Tensor([[2.0, 1.0], [0.0, 3.0]]), numpy.array([1, 1])).data
        array(0.5, dtype=float32)
    """
    op = "perceptron_loss"
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    s, t = _array(scores), _array(targets)
    if getattr(s, "dtype", None) is None or s.dtype.kind != "f" or s.ndim != 2:
        raise TypeError(f"{op}: scores must be a floating (N, K) Tensor or array, got "
                        f"{getattr(s, 'dtype', type(scores).__name__)} "
                        f"{tuple(getattr(s, 'shape', ()))}")
    if getattr(t, "dtype", None) is None or t.dtype.kind not in "iu":
        raise TypeError(f"{op}: targets must be integer classes, got "
                        f"{getattr(t, 'dtype', type(targets).__name__)}")
    n, k = s.shape
    if tuple(t.shape) != (n,):
        raise ValueError(f"{op}: targets must have shape ({n},), got {tuple(t.shape)}")
    if n and (int(t.min()) < 0 or int(t.max()) >= k):
        raise ValueError(f"{op}: targets must be classes in [0, {k - 1}], got values in "
                         f"[{int(t.min())}, {int(t.max())}]")
    return PerceptronLoss(reduction)(scores, targets)
