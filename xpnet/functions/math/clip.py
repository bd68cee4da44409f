"""Element-wise clipping to [low, high]."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.tensor import Tensor


class Clip(Function):
    """y = min(max(x, low), high); dE/dx = dE/dy where low <= x <= high, else 0.

    The bounds are inclusive for the gradient, as in PyTorch's ``clamp``: a value that
    sits exactly on a bound passes its gradient on.
    """

    def __init__(self, low: Any, high: Any) -> None:
        self.low, self.high = low, high

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        inside = xp.ones(x.shape, dtype=bool)  # (*) where the gradient passes
        if self.low is not None:
            inside &= x >= self.low
        if self.high is not None:
            inside &= x <= self.high
        self.inside = inside
        return xp.asarray(xp.clip(x, self.low, self.high))

    def backward(self, gy: Any) -> Any:
        return gy * self.inside


def _array(x: Any) -> Any:
    """The array of a Tensor, or ``x`` itself."""
    return x.data if isinstance(x, Tensor) else x


def clip(x: Any, low: Any = None, high: Any = None) -> Any:
    """Clip every value of ``x`` to ``[low, high]`` (either bound may be None).

    y = min(max(x, low), high); dE/dx = dE/dy where low <= x <= high, 0 outside.

    Args:
        x: Tensor or array, floating.
        low: lower bound: a number or a 0-d array (None: no lower bound).
        high: upper bound: a number or a 0-d array (None: no upper bound).

    Returns:
        Tensor of ``x``'s shape and dtype.

    Shape:
        x: (*), output: (*).

    Raises:
        ValueError: both bounds None, or ``low > high``.

    Example:
        >>> clip(Tensor([-2.0, 0.5, 3.0]), 0.0, 1.0).data
        array([0. , 0.5, 1. ], dtype=float32)
    """
    if low is None and high is None:
        raise ValueError("clip: give low, high or both")
    if low is not None and high is not None and float(low) > float(high):
        raise ValueError(f"clip: low {float(low)} is greater than high {float(high)}")
    data = _array(x)
    if getattr(data, "dtype", None) is None or data.dtype.kind != "f":
        raise TypeError(f"clip: x must be a floating Tensor or array, got "
                        f"{getattr(data, 'dtype', type(x).__name__)}")
    return Clip(low, high)(x)
