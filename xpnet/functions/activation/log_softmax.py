"""Logarithm of the softmax along one axis, computed by log-sum-exp."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.functions.activation.softmax import check_axis


class LogSoftmax(Function):
    """y_i = x_i - m - log sum_j exp(x_j - m) along ``axis``, m = max_j x_j.

    dy_i/dx_k = delta_ik - softmax_k, hence dE/dx_k = dE/dy_k - exp(y_k) sum_i dE/dy_i.
    """

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        y = x - x.max(axis=self.axis, keepdims=True)  # fresh buffer, values <= 0
        lse = xp.log(xp.exp(y).sum(axis=self.axis, keepdims=True))  # in [0, log C]
        y -= lse
        self.y = y  # (same shape as x) log-probabilities; exp(y) is the softmax
        return y

    def backward(self, gy: Any) -> Any:
        xp = backend.get_array_module(gy)
        gx = xp.exp(self.y)
        gx *= gy.sum(axis=self.axis, keepdims=True)
        xp.subtract(gy, gx, out=gx)  # gy - softmax * sum(gy); gy is never written
        return gx


def log_softmax(x: Any, axis: int = 1) -> Any:
    """log p_i = a_i - log sum_j exp(a_j) along ``axis``, without overflow or log(0).

    Evaluated as (a_i - m) - log sum_j exp(a_j - m) with m = max_j a_j: the sum is
    at least 1, so its log is finite, and very unlikely classes get large negative
    values instead of log(0) = -inf. Backward: dE/da = dE/dy - softmax(a) sum(dE/dy).

    Args:
        x: Tensor or array of logits, floating, at least ``axis + 1`` axes.
        axis: the axis holding the classes (default 1).

    Returns:
        Tensor of x's shape and dtype.

    Shape:
        x: (N, C) or any shape; y: the same shape.

    Example:
        >>> log_softmax(Tensor([[0.0, 0.0]], dtype="float64")).data
        array([[-0.69314718, -0.69314718]])
    """
    return LogSoftmax(check_axis("log_softmax", x, axis))(x)
