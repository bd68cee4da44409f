"""Element-wise addition with NumPy broadcasting."""

from __future__ import annotations

from typing import Any

from xpnet.function import Function
from xpnet.functions._utils import check_broadcast, sum_to


class Add(Function):
    """y = a + b, broadcast.

    dE/da = sum_to(dE/dy, a.shape), dE/db = sum_to(dE/dy, b.shape): a broadcast input
    receives the sum of the gradients of every position it was copied to.
    """

    def forward(self, a: Any, b: Any) -> Any:
        self.a_shape, self.b_shape = a.shape, b.shape  # to undo broadcasting in backward
        return a + b

    def backward(self, gy: Any) -> tuple[Any, Any]:
        ga = sum_to(gy, self.a_shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy, self.b_shape) if self.needs_input_grad[1] else None
        return ga, gb


def add(a: Any, b: Any) -> Any:
    """Element-wise ``a + b`` with broadcasting.

    Args:
        a, b: Tensors or arrays whose shapes broadcast together.

    Returns:
        Tensor of the broadcast shape.

    Example:
        >>> add(Tensor([[1.0], [2.0]]), Tensor([10.0, 20.0])).data
        array([[11., 21.],
               [12., 22.]], dtype=float32)
    """
    check_broadcast("add", a, b)
    return Add()(a, b)
