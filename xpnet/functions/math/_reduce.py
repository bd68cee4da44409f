"""Axis handling shared by the reductions ``sum``, ``mean`` and ``max``."""

from __future__ import annotations

import numbers
from typing import Any

from xpnet.functions.utils import normalize_axes


def reduction_axes(op: str, x: Any, axis: Any, keepdims: Any) -> tuple[int, ...]:
    """Validate ``axis`` (None, int or sequence of ints) and ``keepdims`` for ``x``.

    Returns:
        The reduced axes, positive and sorted.

    Raises:
        TypeError: ``axis`` is not None, an int or a sequence of ints; ``keepdims`` not a bool.
        ValueError: an axis is out of range or repeated.
    """
    if not isinstance(keepdims, bool):
        raise TypeError(f"{op}: keepdims must be a bool, got {type(keepdims).__name__}")
    if axis is not None:
        items = (axis,) if not isinstance(axis, (tuple, list)) else tuple(axis)
        for a in items:
            if isinstance(a, bool) or not isinstance(a, numbers.Integral):
                raise TypeError(f"{op}: axis must be None, an int or a tuple of ints, got {axis!r}")
        axis = tuple(int(a) for a in items)  # NumPy integers become ints
    axes = normalize_axes(axis, x.ndim, op)
    return axes if x.ndim else ()  # a 0-d input has nothing to reduce (axis 0 or -1 allowed)


def kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of a keepdims reduction: reduced axes become 1."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))
