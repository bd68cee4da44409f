"""Constant padding, with PyTorch's ``F.pad`` convention (last axis first)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from xpnet import backend
from xpnet.function import Function


def _widths(pad: tuple[int, ...], ndim: int) -> list[tuple[int, int]]:
    """(before, after) for every axis of x, from F.pad's flat tuple that starts at the last."""
    widths = [(0, 0)] * ndim
    for k in range(len(pad) // 2):
        widths[ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    return widths


class Pad(Function):
    """y = x surrounded by ``value``: y[..., b + i, ...] = x[..., i, ...].

    Output size per axis: n + before + after. dE/dx = dE/dy[..., b : b + n, ...] (a view).
    """

    def __init__(self, widths: list[tuple[int, int]], value: float) -> None:
        self.widths, self.value = widths, value

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        shape = tuple(n + b + a for n, (b, a) in zip(x.shape, self.widths, strict=True))
        y = xp.full(shape, self.value, dtype=x.dtype)  # one write of the border ...
        # ... then x copied into the interior (faster than numpy.pad's generic path)
        self.inner = tuple(slice(b, b + n) for n, (b, _) in zip(x.shape, self.widths, strict=True))
        y[self.inner] = x
        return y

    def backward(self, gy: Any) -> Any:
        return gy[self.inner]  # the border was a constant: no gradient flows there


def pad(x: Any, pad: Sequence[int], value: float = 0.0) -> Any:
    """Pad ``x`` with the constant ``value``, as PyTorch's ``F.pad(x, pad, "constant")``.

    ``pad`` lists (before, after) pairs starting from the LAST axis:
    (left, right) pads the last axis, (left, right, top, bottom) the last two, and so on.
    y has size n + before + after on each padded axis; dE/dx = dE/dy with the border cut
    off.

    Args:
        x: Tensor or array.
        pad: flat tuple of 2k ints >= 0, k <= x.ndim.
        value: the constant written in the border.

    Returns:
        Tensor of x's dtype, larger by before + after on each padded axis.

    Shape:
        x: (N, C, H, W), pad (1, 1, 2, 2): output (N, C, H + 4, W + 2).

    Raises:
        ValueError: odd length, too many pairs, or a negative width.
        TypeError: non-int widths or a non-number value.

    Example:
        >>> pad(Tensor([[1.0, 2.0]]), (1, 0)).data
        array([[0., 1., 2.]], dtype=float32)
    """
    if not isinstance(pad, (tuple, list)) or not all(
        isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in pad
    ):
        raise TypeError(f"pad: pad must be a tuple of ints, got {pad!r}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"pad: value must be a real number, got {value!r}")
    ndim = len(x.shape)
    if len(pad) % 2 or len(pad) // 2 > ndim:
        raise ValueError(
            f"pad: pad must hold (before, after) pairs for at most {ndim} axes "
            f"(input shape {tuple(x.shape)}), got {tuple(pad)}"
        )
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: widths must be >= 0 (constant mode), got {tuple(pad)}")
    return Pad(_widths(tuple(int(p) for p in pad), ndim), float(value))(x)
