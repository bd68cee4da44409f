"""Helpers shared by the ops, and public for the layers and tools built on them.

Broadcasting gradients back (:func:`sum_to`), argument checks (:func:`pair`,
:func:`normalize_axes`, :func:`check_ndim`, :func:`check_broadcast`) and a convolution's
output size (:func:`out_size`, the formula the engines use).

Example:
    >>> from xpnet.functions.utils import out_size, pair
    >>> pair(3, "kernel_size", "Conv2d", 1), out_size(28, 5, 1, 2, 1)
    ((3, 3), 28)
"""

from __future__ import annotations

from typing import Any

from xpnet.cpu.conv.geometry import out_size

__all__ = ["check_broadcast", "check_ndim", "normalize_axes", "out_size", "pair", "sum_to"]


def sum_to(g: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``g`` over the axes that broadcasting added or stretched, down to ``shape``.

    The gradient of a broadcast is a sum: if x of shape (1, C) was broadcast to (N, C),
    dE/dx = sum_n dE/dy[n]. Returns ``g`` itself when the shapes already agree.
    """
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1
    )
    out = g.sum(axis=axes, keepdims=True) if axes else g
    if lead:
        out = out.reshape(shape)  # drop the leading broadcast axes
    return out


def normalize_axes(axis: Any, ndim: int, op: str) -> tuple[int, ...]:
    """Turn ``axis`` (None, int or sequence, negatives allowed) into sorted positive axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, int) or not -ndim <= a < max(ndim, 1):
            raise ValueError(f"{op}: axis {a!r} is out of range for an input with {ndim} axes")
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def pair(value: Any, name: str, op: str, minimum: int = 0) -> tuple[int, int]:
    """Turn an int or a pair of ints into ``(h, w)``, each >= ``minimum``."""
    if isinstance(value, int) and not isinstance(value, bool):
        out = (value, value)
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        out = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(out) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return out


def check_ndim(x: Any, ndim: int, op: str, layout: str) -> None:
    """Raise ValueError unless ``x`` (Tensor or array) has ``ndim`` axes."""
    shape = tuple(x.shape)
    if len(shape) != ndim:
        raise ValueError(f"{op}: expected a {ndim}-d input {layout}, got shape {shape}")


def check_broadcast(op: str, a: Any, b: Any) -> None:
    """Raise ValueError naming ``op`` and both shapes when they do not broadcast."""
    sa, sb = tuple(getattr(a, "shape", ())), tuple(getattr(b, "shape", ()))
    for x, y in zip(reversed(sa), reversed(sb)):
        if x != y and x != 1 and y != 1:
            raise ValueError(f"{op}: shapes {sa} and {sb} do not broadcast together")
