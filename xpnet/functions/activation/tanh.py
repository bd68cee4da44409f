"""Hyperbolic tangent."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function


class Tanh(Function):
    """y = tanh(x) = (e^x - e^-x) / (e^x + e^-x); dy/dx = 1 - y^2."""

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        self.y = xp.tanh(x)  # (same shape as x) backward needs only the output
        return self.y

    def backward(self, gy: Any) -> Any:
        y = self.y
        xp = backend.get_array_module(y)
        gx = y * y
        xp.subtract(1, gx, out=gx)
        gx *= gy  # dE/dx = dE/dy (1 - y^2); gy itself is never written
        return gx


def tanh(x: Any) -> Any:
    """Hyperbolic tangent, element-wise: a non-linearity f (LeCun et al. 1998 scale it).

    tanh(u) = 2 sigmoid(2u) - 1, with values in (-1, 1) and f'(u) = 1 - f(u)^2.

    Args:
        x: Tensor or array of any shape (floating).

    Returns:
        Tensor of x's shape and dtype.

    Shape:
        y has the shape of x.

    Example:
        >>> tanh(Tensor([0.0, 1000.0])).data
        array([0., 1.], dtype=float32)
    """
    dtype = getattr(x, "dtype", None)
    if dtype is not None and dtype.kind != "f":
        raise TypeError(f"tanh: expected a floating input, got dtype {dtype}")
    return Tanh()(x)
