"""Logistic sigmoid 1 / (1 + exp(-u)), computed without overflow."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x)); dy/dx = y (1 - y).

    Stable form: with z = exp(-|x|) in (0, 1], y = 1 / (1 + z) for x >= 0 and
    y = z / (1 + z) for x < 0. exp never sees a positive argument, so it never overflows,
    and small outputs (x << 0) keep their full relative precision.
    """

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        z = xp.abs(x)
        xp.negative(z, out=z)
        xp.exp(z, out=z)  # z = exp(-|x|), in place on one fresh buffer
        y = xp.where(x >= 0, xp.ones((), dtype=z.dtype), z)  # numerator: 1 or z
        z += 1
        y /= z
        self.y = y  # (same shape as x) sigmoid output; backward needs only y
        return y

    def backward(self, gy: Any) -> Any:
        y = self.y
        gx = 1 - y
        gx *= y
        gx *= gy  # dE/dx = dE/dy * y (1 - y); gy itself is never written
        return gx


def sigmoid(x: Any) -> Any:
    """Logistic sigmoid, the talk's f(u) = 1 / (1 + exp(-u)), element-wise.

    f'(u) = f(u) (1 - f(u)), so backward needs only the output y. The forward is
    evaluated through exp(-|u|) and does not overflow for any |u| (1000 gives 1, -1000
    gives 0, both with finite gradients).

    Args:
        x: Tensor or array of any shape (floating).

    Returns:
        Tensor of x's shape and dtype, values in [0, 1].

    Shape:
        y has the shape of x.

    Example:
        >>> sigmoid(Tensor([0.0, 1000.0, -1000.0])).data
        array([0.5, 1. , 0. ], dtype=float32)
    """
    dtype = getattr(x, "dtype", None)
    if dtype is not None and dtype.kind != "f":
        raise TypeError(f"sigmoid: expected a floating input, got dtype {dtype}")
    return Sigmoid()(x)
