"""Flatten: merge the trailing axes from ``start_axis`` on (PyTorch's ``nn.Flatten``)."""

from __future__ import annotations

import math
import numbers
from typing import Any

from xpnet.functions.array.reshape import Reshape


def flatten(x: Any, start_axis: int = 1) -> Any:
    """Merge the axes of ``x`` from ``start_axis`` to the last into one.

    A reshape, so y is a view whenever the strides allow and dE/dx = dE/dy reshaped back
    (the graph node is a ``Reshape``). With the default ``start_axis=1`` a batch of images
    (N, C, H, W) becomes (N, C*H*W), ready for a fully connected layer.

    Args:
        x: Tensor or array with at least ``start_axis + 1`` axes.
        start_axis: first axis merged; negative values count from the end.

    Returns:
        Tensor of shape ``x.shape[:start_axis] + (prod(x.shape[start_axis:]),)``.

    Shape:
        x: (N, C, H, W), output: (N, C*H*W); start_axis=0: (N*C*H*W,).

    Raises:
        ValueError: ``start_axis`` is out of range. TypeError: it is not an int.

    Example:
        >>> flatten(Tensor(numpy.zeros((2, 3, 4, 5)))).shape
        (2, 60)
    """
    if isinstance(start_axis, bool) or not isinstance(start_axis, numbers.Integral):
        raise TypeError(f"flatten: start_axis must be an int, got {start_axis!r}")
    shape = tuple(x.shape)
    n = max(len(shape), 1)  # a 0-d input flattens (start_axis 0) to (1,)
    if not -n <= start_axis < n:
        raise ValueError(
            f"flatten: start_axis {start_axis} is out of range for an input of shape {shape}"
        )
    start = int(start_axis) % n
    out = shape[:start] + (math.prod(shape[start:]),)  # explicit size: -1 fails on size 0
    return Reshape(out)(x)
