"""Differentiable dtype cast."""

from __future__ import annotations

from typing import Any

import numpy

from xpnet.function import Function


class AsType(Function):
    """y = x converted to ``dtype``; dE/dx = dE/dy converted back to x's dtype."""

    def __init__(self, dtype: numpy.dtype) -> None:
        self.dtype = dtype

    def forward(self, x: Any) -> Any:
        self.x_dtype = x.dtype  # to cast the gradient back
        return x.astype(self.dtype, copy=False)  # no copy when the dtype already matches

    def backward(self, gy: Any) -> Any:
        return gy.astype(self.x_dtype, copy=False)


def astype(x: Any, dtype: Any) -> Any:
    """``x`` converted to ``dtype``.

    y = x in the new dtype (rounded); dE/dx = dE/dy cast back to x's dtype. A cast to a
    non-floating dtype (int, bool) cannot carry a gradient: the result is a new leaf,
    cut from the graph, as PyTorch's ``.long()`` is.

    Args:
        x: Tensor or array.
        dtype: anything ``numpy.dtype`` accepts (``numpy.float32``, ``"float64"``, ...).

    Returns:
        Tensor of ``x``'s shape and dtype ``dtype`` (sharing ``x``'s data when the dtype
        is already ``dtype``).

    Shape:
        x: (*), output: (*).

    Raises:
        TypeError: ``dtype`` is not a dtype.

    Example:
        >>> astype(Tensor([1.5, 2.0]), numpy.float64).dtype
        dtype('float64')
    """
    from xpnet.tensor import Tensor  # noqa: PLC0415  (tensor imports functions lazily)

    if dtype is None:  # numpy.dtype(None) would silently mean float64
        raise TypeError("astype: expected a dtype, got None")
    try:
        dt = numpy.dtype(dtype)
    except TypeError:
        raise TypeError(f"astype: expected a dtype, got {dtype!r}") from None
    if dt.kind != "f":
        data = x.data if isinstance(x, Tensor) else x
        return Tensor(data.astype(dt))
    return AsType(dt)(x)
