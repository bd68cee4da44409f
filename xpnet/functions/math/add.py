"""Element-wise addition with NumPy broadcasting."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.functions.math._operands import binary_operands, reduce_grad


class Add(Function):
    """y = a + b, broadcast.

    dE/da = sum_to(dE/dy, a.shape), dE/db = sum_to(dE/dy, b.shape): a broadcast input
    receives the sum of the gradients of every position it was copied to.
    """

    def forward(self, a: Any, b: Any) -> Any:
        # shapes and dtypes, to undo broadcasting and promotion in backward
        self.a_meta, self.b_meta = (a.shape, a.dtype), (b.shape, b.dtype)
        # 0-d inputs: NumPy gives a scalar, a Tensor wants an array
        return backend.get_array_module(a, b).asarray(a + b)

    def backward(self, gy: Any) -> tuple[Any, Any]:
        ga = reduce_grad(gy, *self.a_meta) if self.needs_input_grad[0] else None
        gb = reduce_grad(gy, *self.b_meta) if self.needs_input_grad[1] else None
        return ga, gb


def add(a: Any, b: Any) -> Any:
    """Element-wise ``a + b`` with broadcasting.

    dE/da = sum_to(dE/dy, a.shape) and likewise for b.

    Args:
        a: Tensor, array or Python number.
        b: Tensor, array or Python number whose shape broadcasts with ``a``'s (a number
            takes the other operand's dtype, so float32 stays float32).

    Returns:
        Tensor of the broadcast shape.

    Shape:
        a: (*A), b: (*B), output: broadcast(A, B).

    Example:
        >>> add(Tensor([[1.0], [2.0]]), Tensor([10.0, 20.0])).data
        array([[11., 21.],
               [12., 22.]], dtype=float32)
    """
    a, b = binary_operands("add", a, b)
    return Add()(a, b)
