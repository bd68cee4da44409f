"""Element-wise subtraction with NumPy broadcasting."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.functions.math._operands import binary_operands, reduce_grad


class Sub(Function):
    """y = a - b, broadcast.

    dE/da = sum_to(dE/dy, a.shape), dE/db = -sum_to(dE/dy, b.shape).
    """

    def forward(self, a: Any, b: Any) -> Any:
        # shapes and dtypes, to undo broadcasting and promotion in backward
        self.a_meta, self.b_meta = (a.shape, a.dtype), (b.shape, b.dtype)
        # 0-d inputs: NumPy gives a scalar, a Tensor wants an array
        return backend.get_array_module(a, b).asarray(a - b)

    def backward(self, gy: Any) -> tuple[Any, Any]:
        ga = reduce_grad(gy, *self.a_meta) if self.needs_input_grad[0] else None
        # negate after the reduction: the reduced array is the smaller one
        gb = -reduce_grad(gy, *self.b_meta) if self.needs_input_grad[1] else None
        return ga, gb


def sub(a: Any, b: Any) -> Any:
    """Element-wise ``a - b`` with broadcasting.

    dE/da = sum_to(dE/dy, a.shape), dE/db = -sum_to(dE/dy, b.shape).

    Args:
        a: Tensor, array or Python number.
        b: Tensor, array or Python number whose shape broadcasts with ``a``'s.

    Returns:
        Tensor of the broadcast shape.

    Shape:
        a: (*A), b: (*B), output: broadcast(A, B).

    Example:
        >>> sub(Tensor([3.0, 5.0]), 1.0).data
        array([2., 4.], dtype=float32)
    """
    a, b = binary_operands("sub", a, b)
    return Sub()(a, b)
