"""Broadcast to a larger shape (NumPy's rules)."""

from __future__ import annotations

import numbers
from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.functions.utils import sum_to


class BroadcastTo(Function):
    """y = x repeated along new leading axes and along its axes of size 1.

    dE/dx = sum_to(dE/dy, x.shape): each x element gets the sum of the gradients of all
    its copies.
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def forward(self, x: Any) -> Any:
        self.x_shape = x.shape  # to sum the gradient back down
        return backend.get_array_module(x).broadcast_to(x, self.shape)  # a read-only view

    def backward(self, gy: Any) -> Any:
        return sum_to(gy, self.x_shape)


def broadcast_to(x: Any, shape: Any) -> Any:
    """``x`` broadcast to ``shape`` without copying (``numpy.broadcast_to``).

    y[..., i, ...] = x[..., i or 0, ...]; dE/dx = sum_to(dE/dy, x.shape).

    Args:
        x: Tensor or array.
        shape: an int or tuple of ints; x's shape, aligned on the right, must have each size
            equal to the target's or 1.

    Returns:
        Tensor of shape ``shape`` (a read-only view of x's data).

    Shape:
        x: (1, C), shape (N, C): output (N, C); x: (C,), shape (N, H, C): (N, H, C).

    Raises:
        ValueError: the shapes are not compatible. TypeError: ``shape`` is not ints.

    Example:
        >>> broadcast_to(Tensor([1.0, 2.0]), (3, 2)).shape
        (3, 2)
    """
    items = (shape,) if isinstance(shape, numbers.Integral) else shape
    if not isinstance(items, (tuple, list)) or not all(
        isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 0 for n in items
    ):
        raise TypeError(f"broadcast_to: shape must be a tuple of ints >= 0, got {shape!r}")
    target, source = tuple(int(n) for n in items), tuple(x.shape)
    lead = len(target) - len(source)
    if lead < 0 or any(s not in (t, 1) for s, t in zip(source, target[lead:], strict=True)):
        raise ValueError(f"broadcast_to: cannot broadcast shape {source} to {target}")
    return BroadcastTo(target)(x)
