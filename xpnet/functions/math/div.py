"""Element-wise division with NumPy broadcasting."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.functions.math._operands import binary_operands, reduce_grad


class Div(Function):
    """y = a / b, broadcast.

    dE/da = sum_to(dE/dy / b, a.shape),
    dE/db = sum_to(-dE/dy * a / b^2, b.shape) = sum_to(-(dE/dy / b) * y, b.shape).
    """

    def forward(self, a: Any, b: Any) -> Any:
        # 0-d inputs: NumPy gives a scalar, a Tensor wants an array
        y = backend.get_array_module(a, b).asarray(a / b)
        self.b = b  # (*B) divisor, in both gradients
        self.y = y if self.needs_input_grad[1] else None  # (broadcast) a / b, for dE/db
        self.a_meta, self.b_meta = (a.shape, a.dtype), (b.shape, b.dtype)
        return y

    def backward(self, gy: Any) -> tuple[Any, Any]:
        g_over_b = gy / self.b  # shared by both gradients
        ga = reduce_grad(g_over_b, *self.a_meta) if self.needs_input_grad[0] else None
        gb = None
        if self.needs_input_grad[1]:
            gb = -reduce_grad(g_over_b * self.y, *self.b_meta)
        return ga, gb


def div(a: Any, b: Any) -> Any:
    """Element-wise ``a / b`` (true division) with broadcasting.

    dE/da = sum_to(dE/dy / b, a.shape), dE/db = sum_to(-dE/dy * a / b^2, b.shape).
    Division by zero gives inf or NaN, as in NumPy.

    Args:
        a: Tensor, array or Python number (the dividend).
        b: Tensor, array or Python number (the divisor), broadcasting with ``a``.

    Returns:
        Tensor of the broadcast shape.

    Shape:
        a: (*A), b: (*B), output: broadcast(A, B).

    Example:
        >>> div(1.0, Tensor([2.0, 4.0])).data
        array([0.5 , 0.25], dtype=float32)
    """
    a, b = binary_operands("div", a, b)
    return Div()(a, b)
