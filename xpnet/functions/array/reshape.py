"""Reshape: the same elements in C order, another shape."""

from __future__ import annotations

import math
import numbers
from typing import Any

from xpnet.cpu.layout import is_channels_last, to_nhwc
from xpnet.function import Function


class Reshape(Function):
    """y = x viewed with another shape; dE/dx = dE/dy reshaped back to x's shape.

    When x is a channels-last map (an (N, C, H, W) view of NHWC memory, as convolutions
    return; the reshape then copied it), dE/dx is handed back in that same layout: one
    copy here, so that the backward passes before it (pooling, ReLU) see one layout
    instead of mixing NCHW with NHWC, and the CIFAR net's last ReLU takes its compiled
    pass instead of NumPy's strided one. On that net's training step the copy and the
    faster ReLU about cancel (80.50 against 80.37 ms a step in an alternating A/B).
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def forward(self, x: Any) -> Any:
        self.x_shape = x.shape  # to reshape the gradient back
        self.channels_last = is_channels_last(x)  # give dE/dx back as NHWC memory
        return x.reshape(self.shape)  # a view whenever the strides allow it

    def backward(self, gy: Any) -> Any:
        gx = gy.reshape(self.x_shape)
        if not self.channels_last:
            return gx
        return to_nhwc(gx).transpose(0, 3, 1, 2)  # (N, C, H, W) view of NHWC memory


def resolve_shape(op: str, x_shape: tuple[int, ...], shape: Any) -> tuple[int, ...]:
    """Check ``shape`` against ``x_shape``'s size and fill in its one -1.

    Raises:
        TypeError: ``shape`` is not an int or a sequence of ints.
        ValueError: more than one -1, a negative size, or a size that does not match.
    """
    items = (shape,) if isinstance(shape, numbers.Integral) else shape
    if not isinstance(items, (tuple, list)) or not all(
        isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in items
    ):
        raise TypeError(f"{op}: shape must be an int or a tuple of ints, got {shape!r}")
    items = tuple(int(n) for n in items)
    size = math.prod(x_shape)
    if items.count(-1) > 1 or any(n < -1 for n in items):
        raise ValueError(
            f"{op}: shape {items} may hold one -1 and otherwise sizes >= 0, got {items}"
        )
    known = math.prod(n for n in items if n != -1)
    if -1 in items:
        if known == 0 or size % known:
            raise ValueError(
                f"{op}: cannot reshape {tuple(x_shape)} ({size} elements) into {items}"
            )
        items = tuple(size // known if n == -1 else n for n in items)
    elif known != size:
        raise ValueError(
            f"{op}: cannot reshape {tuple(x_shape)} ({size} elements) into {items} "
            f"({known} elements)"
        )
    return items


def reshape(x: Any, shape: Any) -> Any:
    """The elements of ``x`` in C order, arranged in ``shape``.

    y = x with new shape (no copy when the strides allow a view); dE/dx = dE/dy reshaped
    to x's shape.

    Args:
        x: Tensor or array.
        shape: an int or a tuple of ints with the same product as ``x.shape``; one entry
            may be -1, inferred from the others.

    Returns:
        Tensor of shape ``shape`` (the -1 resolved).

    Shape:
        x: (*S), output: (*shape) with prod(shape) = prod(S).

    Raises:
        ValueError: the sizes differ, or more than one -1. TypeError: a bad ``shape``.

    Example:
        >>> reshape(Tensor([1.0, 2.0, 3.0, 4.0]), (2, -1)).shape
        (2, 2)
    """
    return Reshape(resolve_shape("reshape", tuple(x.shape), shape))(x)
