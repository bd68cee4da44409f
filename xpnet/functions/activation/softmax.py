"""Softmax along one axis: the output layer of a classifier."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function


def check_axis(op: str, x: Any, axis: Any) -> int:
    """Return ``axis`` as a non-negative int, or raise naming ``op`` and x's shape."""
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    shape = tuple(x.shape)
    if not -len(shape) <= axis < len(shape):
        raise ValueError(
            f"{op}: axis {axis} is out of range for an input of shape {shape} "
            f"({len(shape)} axes)"
        )
    dtype = getattr(x, "dtype", None)
    if dtype is not None and dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating input, got dtype {dtype}")
    return axis % len(shape)


class Softmax(Function):
    """y_i = exp(x_i - m) / sum_j exp(x_j - m) along ``axis``, m = max_j x_j.

    Subtracting m changes nothing mathematically (it cancels) but keeps every exp in
    (0, 1], so no logit overflows. Jacobian dy_i/dx_k = y_i (delta_ik - y_k), hence
    dE/dx_k = y_k (dE/dy_k - sum_i dE/dy_i y_i).
    """

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        y = x - x.max(axis=self.axis, keepdims=True)  # fresh buffer, values <= 0
        xp.exp(y, out=y)
        y /= y.sum(axis=self.axis, keepdims=True)
        self.y = y  # (same shape as x) the probabilities; backward needs only them
        return y

    def backward(self, gy: Any) -> Any:
        y = self.y
        gx = y * gy
        gx -= y * gx.sum(axis=self.axis, keepdims=True)  # y * (gy - sum(gy * y))
        return gx


def softmax(x: Any, axis: int = 1) -> Any:
    """Softmax p_i = exp(a_i) / sum_j exp(a_j) along ``axis``: class probabilities.

    Computed as exp(a_i - max_j a_j) / sum_j exp(a_j - max_j a_j), which is equal and
    cannot overflow (logits of +-1000 are fine). Backward:
    dE/da = p * (dE/dp - sum(dE/dp * p, axis)). To train a classifier, prefer
    :func:`xpnet.functions.softmax_cross_entropy`, which fuses this with the loss.

    Args:
        x: Tensor or array of logits, floating, at least ``axis + 1`` axes.
        axis: the axis holding the classes (default 1: rows of an (N, C) batch).

    Returns:
        Tensor of x's shape and dtype; it sums to 1 along ``axis``.

    Shape:
        x: (N, C) or any shape; y: the same shape.

    Example:
        >>> softmax(Tensor([[0.0, 0.0], [1000.0, 0.0]])).data
        array([[0.5, 0.5],
               [1. , 0. ]], dtype=float32)
    """
    return Softmax(check_axis("softmax", x, axis))(x)
