"""Element-wise power with a constant exponent."""

from __future__ import annotations

import numbers
from typing import Any

from xpnet import backend
from xpnet.function import Function


class Pow(Function):
    """y = x^p for a constant p; dE/dx = dE/dy * p x^(p-1)."""

    def __init__(self, exponent: float) -> None:
        self.exponent = exponent

    def forward(self, x: Any) -> Any:
        self.x = x  # (*) base, for p x^(p-1)
        # 0-d inputs: NumPy gives a scalar, a Tensor wants an array
        return backend.get_array_module(x).asarray(x**self.exponent)

    def backward(self, gy: Any) -> Any:
        p = self.exponent
        if p == 0:
            return backend.get_array_module(gy).zeros_like(gy)  # x^0 = 1 is constant
        if p == 2:
            return gy * (2 * self.x)  # avoid a general power in the common square
        return gy * (p * self.x ** (p - 1))


def pow(x: Any, exponent: float) -> Any:  # noqa: A001  (the op's name, like torch.pow)
    """Element-wise ``x ** exponent`` for a constant Python number ``exponent``.

    y = x^p, d/dx x^p = p x^(p-1), so dE/dx = dE/dy * p x^(p-1). As in NumPy, a negative
    base with a non-integer exponent gives NaN, and x^(p-1) is inf at x = 0 for p < 1.

    Args:
        x: Tensor or array.
        exponent: a Python (or NumPy) real number; the result keeps ``x``'s float dtype.

    Returns:
        Tensor of ``x``'s shape.

    Shape:
        x: (*), output: (*).

    Example:
        >>> pow(Tensor([2.0, 3.0]), 2).data
        array([4., 9.], dtype=float32)
    """
    if isinstance(exponent, bool) or not isinstance(exponent, numbers.Real):
        raise TypeError(
            f"pow: exponent must be a Python number, got {type(exponent).__name__} "
            "(a Tensor exponent is not supported: write exp(b * log(x)))"
        )
    # a Python scalar is "weak" in NumPy's promotion: float32 ** 2.0 stays float32,
    # where a numpy.float64 exponent would promote the result to float64
    exponent = int(exponent) if isinstance(exponent, numbers.Integral) else float(exponent)
    return Pow(exponent)(x)
