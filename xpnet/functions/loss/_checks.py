"""Argument checks shared by the element-wise losses (squared error, sigmoid
cross-entropy): the reduction, the operands' types and shapes, and the batch scale."""

from __future__ import annotations

from typing import Any

REDUCTIONS = ("sum", "mean")


def batch_scale(op: str, names: tuple[str, str], y: Any, d: Any, reduction: str,
                floating: str | None = None) -> float:
    """Check a loss's (output, target) pair and return its scale: 1 ("sum") or 1 / N.

    Args:
        op: the public function's name, first in every message.
        names: the two arguments' names, e.g. ``("y", "d")``.
        y, d: the operands; y must be floating, both of one shape (N, ...).
        reduction: "sum" or "mean" (over the first axis, N = y.shape[0]).
        floating: how the messages call y when it is not floating (default its name).

    Raises:
        ValueError: an unknown reduction, shapes that differ, "mean" without a batch axis.
        TypeError: an operand that is not an array or a Tensor, a non-floating y.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    for name, v in zip(names, (y, d), strict=True):
        if getattr(v, "dtype", None) is None:
            raise TypeError(f"{op}: {name} must be a Tensor or an array, got {type(v).__name__}")
    if y.dtype.kind != "f":
        raise TypeError(f"{op}: {floating or names[0]} must be floating, got dtype {y.dtype}")
    if tuple(y.shape) != tuple(d.shape):
        raise ValueError(f"{op}: {names[0]} and {names[1]} must have the same shape, got "
                         f"{tuple(y.shape)} and {tuple(d.shape)}")
    if reduction == "sum":
        return 1.0
    if len(y.shape) == 0 or y.shape[0] == 0:
        raise ValueError(
            f"{op}: reduction='mean' needs a batch axis of size >= 1, got {tuple(y.shape)}"
        )
    return 1.0 / y.shape[0]
