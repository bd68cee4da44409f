"""Rectified linear unit max(0, x)."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function


class ReLU(Function):
    """y = max(0, x); dy/dx = 1 where x > 0, else 0 (0 taken at the kink x = 0).

    Backward needs only the output: y > 0 exactly where x > 0.
    """

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        self.y = xp.maximum(x, 0)  # (same shape as x) its sign is the gradient mask
        return self.y

    def backward(self, gy: Any) -> Any:
        # one fused pass; gy may be shared with another node, so it is not written
        return gy * (self.y > 0)


def relu(x: Any) -> Any:
    """Rectified linear unit max(0, x), element-wise (slide 36: it does not saturate).

    f'(x) = 1 for x > 0 and 0 for x < 0, so the error of an active unit flows back
    unchanged instead of being shrunk by a sigmoid's y (1 - y) <= 1/4.

    Args:
        x: Tensor or array of any shape.

    Returns:
        Tensor of x's shape and dtype.

    Shape:
        y has the shape of x.

    Example:
        >>> relu(Tensor([-2.0, 0.5])).data
        array([0. , 0.5], dtype=float32)
    """
    return ReLU()(x)
