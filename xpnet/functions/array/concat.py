"""Concatenation of Tensors along an existing axis."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from xpnet import backend
from xpnet.function import Function


class Concat(Function):
    """y = [x_0, x_1, ...] joined along ``axis``.

    dE/dx_i = the slice of dE/dy that x_i occupies: dE/dy[..., o_i : o_i + n_i, ...] with
    o_i = n_0 + ... + n_{i-1} along ``axis`` (views, no copy).
    """

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, *xs: Any) -> Any:
        self.metas = [(x.shape[self.axis], x.dtype) for x in xs]  # size and dtype of each part
        return backend.get_array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        grads, start = [], 0
        lead = (slice(None),) * self.axis
        for need, (n, dtype) in zip(self.needs_input_grad, self.metas, strict=True):
            part = gy[lead + (slice(start, start + n),)] if need else None  # a view
            grads.append(None if part is None else part.astype(dtype, copy=False))
            start += n
        return tuple(grads)


def concat(xs: Sequence[Any], axis: int = 0) -> Any:
    """Join a sequence of Tensors along an existing axis (``numpy.concatenate``).

    y = [x_0, x_1, ...] along ``axis``; each dE/dx_i is its own slice of dE/dy.

    Args:
        xs: a non-empty list or tuple of Tensors or arrays with the same number of axes and
            the same sizes on every axis except ``axis``.
        axis: the axis to join along; negative values count from the end.

    Returns:
        Tensor whose size on ``axis`` is the sum of the inputs' sizes there.

    Shape:
        (N1, C) and (N2, C), axis=0: output (N1 + N2, C).

    Raises:
        TypeError: ``xs`` is not a sequence of Tensors or arrays, or ``axis`` not an int.
        ValueError: ``xs`` is empty, an axis is out of range, or the shapes disagree.

    Example:
        >>> concat([Tensor([[1.0]]), Tensor([[2.0], [3.0]])], axis=0).shape
        (3, 1)
    """
    from xpnet.tensor import Tensor  # noqa: PLC0415  (tensor imports functions lazily)

    if isinstance(xs, (Tensor, str)) or not isinstance(xs, Sequence) or backend.is_array(xs):
        raise TypeError(f"concat: xs must be a list or tuple of Tensors, got {type(xs).__name__}")
    if not xs:
        raise ValueError("concat: xs is empty: nothing to concatenate")
    for i, x in enumerate(xs):
        if not (isinstance(x, Tensor) or backend.is_array(x)):
            raise TypeError(f"concat: xs[{i}] must be a Tensor or an array, got {type(x).__name__}")
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"concat: axis must be an int, got {axis!r}")
    first = tuple(xs[0].shape)
    n = len(first)
    if not -n <= axis < n:
        raise ValueError(f"concat: axis {axis} is out of range for inputs of shape {first}")
    axis = int(axis) % n
    for i, x in enumerate(xs):
        shape = tuple(x.shape)
        if len(shape) != n or shape[:axis] + shape[axis + 1 :] != first[:axis] + first[axis + 1 :]:
            raise ValueError(
                f"concat: xs[{i}] has shape {shape}, expected {first} except on axis {axis}"
            )
    return Concat(axis)(*xs)
