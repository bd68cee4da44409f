"""Mean over axes."""

from __future__ import annotations

import math
from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.functions.math._reduce import kept_shape, reduction_axes


class Mean(Function):
    """y = (1/n) sum_{i in axes} x_i, n = number of elements reduced; dE/dx_i = dE/dy / n."""

    def __init__(self, axes: tuple[int, ...], keepdims: bool) -> None:
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x: Any) -> Any:
        self.x_shape = x.shape  # to broadcast the gradient back
        y = x.mean(axis=self.axes, keepdims=self.keepdims)
        return backend.get_array_module(x).asarray(y)  # a full mean is a NumPy scalar

    def backward(self, gy: Any) -> Any:
        xp = backend.get_array_module(gy)
        n = math.prod(self.x_shape[a] for a in self.axes)
        gy = gy.reshape(kept_shape(self.x_shape, self.axes)) / n  # (x's shape, reduced = 1)
        return xp.broadcast_to(gy, self.x_shape)  # a view, no copy


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Arithmetic mean of ``x`` over ``axis``.

    y = (1/n) sum_{i in axis} x_i with n the number of elements averaged;
    dE/dx_i = dE/dy / n.

    Args:
        x: Tensor or array.
        axis: None (all axes), an int or a tuple of ints; negative axes count from the end.
        keepdims: keep the reduced axes with size 1.

    Returns:
        Tensor of ``x``'s shape without the reduced axes (or with size 1 there).

    Shape:
        x: (N, C), axis=0: output (C,), or (1, C) with keepdims.

    Raises:
        ValueError: an axis is out of range or repeated, or an averaged axis is empty.

    Example:
        >>> mean(Tensor([[1.0, 2.0], [3.0, 4.0]]), axis=1).data
        array([1.5, 3.5], dtype=float32)
    """
    axes = reduction_axes("mean", x, axis, keepdims)
    if any(x.shape[a] == 0 for a in axes):
        raise ValueError(f"mean: cannot average over an empty axis (shape {tuple(x.shape)})")
    return Mean(axes, keepdims)(x)
