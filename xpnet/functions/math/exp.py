"""Element-wise exponential."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function


class Exp(Function):
    """y = e^x; dE/dx = dE/dy * e^x = dE/dy * y."""

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        self.y = xp.asarray(xp.exp(x))  # (*) its own derivative; asarray: 0-d gives a scalar
        return self.y

    def backward(self, gy: Any) -> Any:
        return gy * self.y


def exp(x: Any) -> Any:
    """Element-wise ``e ** x``.

    y = e^x, dE/dx = dE/dy * y (the output is saved, not recomputed).

    Args:
        x: Tensor or array.

    Returns:
        Tensor of ``x``'s shape.

    Shape:
        x: (*), output: (*).

    Example:
        >>> exp(Tensor([0.0, 1.0])).data
        array([1.      , 2.718282], dtype=float32)
    """
    return Exp()(x)
