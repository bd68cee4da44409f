"""Permutation of axes."""

from __future__ import annotations

import numbers
from typing import Any

from xpnet.function import Function


class Transpose(Function):
    """y = x with axes permuted: y.shape[i] = x.shape[axes[i]].

    dE/dx = dE/dy transposed by the inverse permutation (argsort of ``axes``).
    """

    def __init__(self, axes: tuple[int, ...]) -> None:
        self.axes = axes

    def forward(self, x: Any) -> Any:
        return x.transpose(self.axes)  # a view

    def backward(self, gy: Any) -> Any:
        inverse = tuple(sorted(range(len(self.axes)), key=self.axes.__getitem__))
        return gy.transpose(inverse)  # a view


def transpose(x: Any, axes: Any = None) -> Any:
    """Permute the axes of ``x`` (reverse them when ``axes`` is None), as ``numpy.transpose``.

    y[i_axes[0], ..., i_axes[n-1]] = x[i_0, ..., i_{n-1}]; dE/dx = dE/dy permuted back.

    Args:
        x: Tensor or array with n axes.
        axes: None, or a permutation of 0..n-1 (negative entries count from the end).

    Returns:
        Tensor of shape ``tuple(x.shape[a] for a in axes)``, a view of ``x``'s data.

    Shape:
        x: (N, C, H, W), axes=(0, 2, 3, 1): output (N, H, W, C).

    Raises:
        ValueError: ``axes`` is not a permutation of x's axes. TypeError: not ints.

    Example:
        >>> transpose(Tensor([[1.0, 2.0, 3.0]])).shape
        (3, 1)
    """
    n = x.ndim
    if axes is None:
        return Transpose(tuple(range(n - 1, -1, -1)))(x)
    if not isinstance(axes, (tuple, list)) or not all(
        isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axes
    ):
        raise TypeError(f"transpose: axes must be None or a tuple of ints, got {axes!r}")
    if len(axes) != n or any(not -n <= a < n for a in axes):
        raise ValueError(
            f"transpose: axes {tuple(axes)} is not a permutation of the {n} axes of an "
            f"input of shape {tuple(x.shape)}"
        )
    perm = tuple(int(a) % n for a in axes)
    if sorted(perm) != list(range(n)):
        raise ValueError(f"transpose: axes {tuple(axes)} repeats an axis (shape {tuple(x.shape)})")
    return Transpose(perm)(x)
