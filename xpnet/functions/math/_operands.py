"""Helpers shared by the element-wise binary ops: operand coercion and gradient reduction."""

from __future__ import annotations

import numbers
from typing import Any

from xpnet import backend
from xpnet.function import scalar_like
from xpnet.functions.utils import check_broadcast, sum_to


def _is_operand(x: Any) -> bool:
    """True for a Tensor or an array (anything with ``.data`` or an array itself)."""
    from xpnet.tensor import Tensor  # noqa: PLC0415  (tensor imports functions lazily)

    return isinstance(x, Tensor) or backend.is_array(x)


def binary_operands(op: str, a: Any, b: Any) -> tuple[Any, Any]:
    """Validate ``a`` and ``b`` for an element-wise op; wrap a Python number in a 0-d array.

    A number takes the dtype of the other operand (``scalar_like``), so ``x * 0.5`` on a
    float32 Tensor stays float32. At least one operand must be a Tensor or an array.

    Raises:
        TypeError: an operand is neither a Tensor, an array nor a number, or both are numbers.
        ValueError: the shapes do not broadcast together.
    """
    a_ok, b_ok = _is_operand(a), _is_operand(b)
    for name, x, ok in (("a", a, a_ok), ("b", b, b_ok)):
        if not ok and not isinstance(x, numbers.Number):
            raise TypeError(
                f"{op}: {name} must be a Tensor, an array or a number, got {type(x).__name__}"
            )
    if not (a_ok or b_ok):
        raise TypeError(f"{op}: at least one operand must be a Tensor or an array, got two numbers")
    if not a_ok:
        a = scalar_like(a, getattr(b, "data", b))
    elif not b_ok:
        b = scalar_like(b, getattr(a, "data", a))
    check_broadcast(op, a, b)
    return a, b


def reduce_grad(g: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """Sum a broadcast gradient down to ``shape`` and give it the input's ``dtype``.

    The cast is a no-op (no copy) in the usual case where both operands share a dtype; it
    matters when a float32 Tensor meets a float64 array, so the float32 leaf's gradient
    stays float32.
    """
    return sum_to(g, shape).astype(dtype, copy=False)
