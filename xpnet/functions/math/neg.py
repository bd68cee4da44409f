"""Element-wise negation."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function


class Neg(Function):
    """y = -x; dE/dx = -dE/dy."""

    def forward(self, x: Any) -> Any:
        # 0-d inputs: NumPy gives a scalar, a Tensor wants an array
        return backend.get_array_module(x).asarray(-x)

    def backward(self, gy: Any) -> Any:
        return -gy


def neg(x: Any) -> Any:
    """Element-wise ``-x``.

    dE/dx = -dE/dy.

    Args:
        x: Tensor or array.

    Returns:
        Tensor of ``x``'s shape and dtype.

    Shape:
        x: (*), output: (*).

    Example:
        >>> neg(Tensor([1.0, -2.0])).data
        array([-1.,  2.], dtype=float32)
    """
    return Neg()(x)
