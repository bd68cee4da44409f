"""Element-wise natural logarithm."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function


class Log(Function):
    """y = ln x; dE/dx = dE/dy / x."""

    def forward(self, x: Any) -> Any:
        self.x = x  # (*) for 1 / x
        xp = backend.get_array_module(x)
        return xp.asarray(xp.log(x))  # 0-d inputs: NumPy gives a scalar; keep an array

    def backward(self, gy: Any) -> Any:
        return gy / self.x


def log(x: Any) -> Any:
    """Element-wise natural logarithm ``ln x``.

    y = ln x, dE/dx = dE/dy / x. As in NumPy, ln 0 = -inf and ln of a negative is NaN.

    Args:
        x: Tensor or array.

    Returns:
        Tensor of ``x``'s shape.

    Shape:
        x: (*), output: (*).

    Example:
        >>> log(Tensor([1.0, 4.0])).data
        array([0.       , 1.3862944], dtype=float32)
    """
    return Log()(x)
