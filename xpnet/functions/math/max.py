"""Maximum over axes, with the gradient routed to the first maximal element."""

from __future__ import annotations

import math
from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.functions.math._reduce import kept_shape, reduction_axes


def _moved(x: Any, axes: tuple[int, ...]) -> tuple[Any, tuple[int, ...]]:
    """``x`` as (*kept, R): the reduced axes moved last and merged into one axis of size R.

    A view when the reduced axes are already the trailing ones, a copy otherwise. Returns
    the array and the axis permutation applied.
    """
    kept = tuple(i for i in range(x.ndim) if i not in axes)
    perm = kept + axes
    moved = x if perm == tuple(range(x.ndim)) else x.transpose(perm)  # (*kept, *reduced)
    r = math.prod(x.shape[a] for a in axes)
    return moved.reshape(tuple(x.shape[i] for i in kept) + (r,)), perm  # (*kept, R)


class Max(Function):
    """y = max_{i in axes} x_i.

    dE/dx_i = dE/dy if i is the first position (in C order over the reduced axes) holding
    the maximum of its slice, else 0: exactly one element per slice gets the gradient, as
    with ``argmax``, so ties do not double it.
    """

    def __init__(self, axes: tuple[int, ...], keepdims: bool) -> None:
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        flat, perm = _moved(x, self.axes)  # (*kept, R)
        index = xp.expand_dims(flat.argmax(axis=-1), -1)  # (*kept, 1) winner in each slice
        y = xp.take_along_axis(flat, index, axis=-1)  # (*kept, 1)
        self.index = index  # (*kept, 1) where dE/dy goes back to
        self.perm, self.x_shape = perm, x.shape
        if self.keepdims:
            return y.reshape(kept_shape(x.shape, self.axes))
        return y.reshape(y.shape[:-1])  # (*kept)

    def backward(self, gy: Any) -> Any:
        xp = backend.get_array_module(gy)
        kept = self.index.shape[:-1]
        n, r = math.prod(kept), math.prod(self.x_shape[a] for a in self.axes)
        g = xp.zeros(n * r, dtype=gy.dtype)  # (prod(kept) * R) flat, one row per slice
        rows = xp.arange(n) * r  # start of each slice's row
        g[rows + self.index.reshape(-1)] = gy.reshape(-1)  # one winner per row: no repeats
        g = g.reshape(kept + tuple(self.x_shape[a] for a in self.axes))  # (*kept, *reduced)
        inverse = tuple(sorted(range(len(self.perm)), key=self.perm.__getitem__))
        return g.transpose(inverse)  # back to x's axis order (a view)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001  (NumPy's name)
    """Maximum of ``x`` over ``axis``.

    y = max_{i in axis} x_i. The gradient goes to the first maximal element of each reduced
    slice (the one ``argmax`` picks, in C order over the reduced axes) and is 0 elsewhere:
    dE/dx_i = dE/dy if i = argmax, else 0. Ties therefore pass the gradient to one element
    only (PyTorch's full reduction would split it evenly among tied elements).

    Args:
        x: Tensor or array with no empty reduced axis.
        axis: None (all axes), an int or a tuple of ints; negative axes count from the end.
        keepdims: keep the reduced axes with size 1.

    Returns:
        Tensor of ``x``'s shape without the reduced axes (or with size 1 there).

    Shape:
        x: (N, C, H, W), axis=(2, 3): output (N, C), or (N, C, 1, 1) with keepdims.

    Raises:
        ValueError: an axis is out of range or repeated, or a reduced axis is empty.

    Example:
        >>> max(Tensor([[1.0, 5.0], [7.0, 2.0]]), axis=1).data
        array([5., 7.], dtype=float32)
    """
    axes = reduction_axes("max", x, axis, keepdims)
    if any(x.shape[a] == 0 for a in axes):
        raise ValueError(
            f"max: cannot take the maximum over an empty axis (shape {tuple(x.shape)})"
        )
    return Max(axes, keepdims)(x)
