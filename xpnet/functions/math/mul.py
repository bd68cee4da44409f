"""Element-wise multiplication with NumPy broadcasting."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.functions.math._operands import binary_operands, reduce_grad


class Mul(Function):
    """y = a * b, broadcast.

    dE/da = sum_to(dE/dy * b, a.shape), dE/db = sum_to(dE/dy * a, b.shape).
    """

    def forward(self, a: Any, b: Any) -> Any:
        need_a, need_b = self.needs_input_grad
        # each gradient needs the *other* input only; save nothing backward will not use
        self.a = a if need_b else None  # (*A) factor of dE/db
        self.b = b if need_a else None  # (*B) factor of dE/da
        self.a_meta, self.b_meta = (a.shape, a.dtype), (b.shape, b.dtype)
        # 0-d inputs: NumPy gives a scalar, a Tensor wants an array
        return backend.get_array_module(a, b).asarray(a * b)

    def backward(self, gy: Any) -> tuple[Any, Any]:
        ga = reduce_grad(gy * self.b, *self.a_meta) if self.needs_input_grad[0] else None
        gb = reduce_grad(gy * self.a, *self.b_meta) if self.needs_input_grad[1] else None
        return ga, gb


def mul(a: Any, b: Any) -> Any:
    """Element-wise ``a * b`` with broadcasting.

    dE/da = sum_to(dE/dy * b, a.shape), dE/db = sum_to(dE/dy * a, b.shape).

    Args:
        a: Tensor, array or Python number.
        b: Tensor, array or Python number whose shape broadcasts with ``a``'s.

    Returns:
        Tensor of the broadcast shape.

    Shape:
        a: (*A), b: (*B), output: broadcast(A, B).

    Example:
        >>> mul(Tensor([[1.0], [2.0]]), Tensor([3.0, 4.0])).data
        array([[3., 4.],
               [6., 8.]], dtype=float32)
    """
    a, b = binary_operands("mul", a, b)
    return Mul()(a, b)
