"""Sum over axes."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.functions.math._reduce import kept_shape, reduction_axes


class Sum(Function):
    """y = sum_{i in axes} x_i; dE/dx_i = dE/dy (broadcast back over the reduced axes)."""

    def __init__(self, axes: tuple[int, ...], keepdims: bool) -> None:
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x: Any) -> Any:
        self.x_shape = x.shape  # to broadcast the gradient back
        y = x.sum(axis=self.axes, keepdims=self.keepdims)
        return backend.get_array_module(x).asarray(y)  # a full sum is a NumPy scalar

    def backward(self, gy: Any) -> Any:
        xp = backend.get_array_module(gy)
        gy = gy.reshape(kept_shape(self.x_shape, self.axes))  # (x's shape, reduced axes = 1)
        # a read-only broadcast view, no copy: gradients are never modified in place
        return xp.broadcast_to(gy, self.x_shape)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001  (NumPy's name)
    """Sum of the elements of ``x`` over ``axis``.

    y = sum_{i in axis} x_i; every summed element gets the gradient of its sum:
    dE/dx_i = dE/dy.

    Args:
        x: Tensor or array.
        axis: None (all axes), an int or a tuple of ints; negative axes count from the end.
        keepdims: keep the reduced axes with size 1.

    Returns:
        Tensor of ``x``'s shape without the reduced axes (or with size 1 there).

    Shape:
        x: (N, C, H), axis=(0, 2): output (C,), or (1, C, 1) with keepdims.

    Example:
        >>> sum(Tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0).data
        array([4., 6.], dtype=float32)
    """
    axes = reduction_axes("sum", x, axis, keepdims)
    return Sum(axes, keepdims)(x)
