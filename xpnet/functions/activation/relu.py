"""Rectified linear unit max(0, x)."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.cpu import relu as cpu_relu
from xpnet.cpu.threads import split_elementwise
from xpnet.function import Function


class ReLU(Function):
    """y = max(0, x); dy/dx = 1 where x > 0, else 0 (0 taken at the kink x = 0).

    Backward needs only the output: y > 0 exactly where x > 0. On the CPU, float arrays
    whose memory is one block go through two compiled loops (:mod:`xpnet.cpu.relu`;
    the same results as NumPy's, bit for bit); large arrays are cut along their first
    axis over xpnet's threads (NumPy's element-wise work uses one core).
    """

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        if x.ndim == 0:
            self.y = xp.maximum(x, 0)  # a scalar: nothing to split
            return self.y
        self.y = y = xp.empty_like(x)  # (same shape and memory layout as x)
        if cpu_relu.forward(x, y):  # one compiled pass over the memory, where it applies
            return y

        def part(lo: int, hi: int) -> None:
            xp.maximum(x[lo:hi], 0, out=y[lo:hi])  # its sign is the gradient mask

        split_elementwise(x, part)
        return y

    def backward(self, gy: Any) -> Any:
        xp = backend.get_array_module(gy)
        y = self.y
        if y.ndim == 0:
            return gy * (y > 0)
        gx = cpu_relu.backward(gy, y)  # a compiled pass, where one takes gy and y
        if gx is not None:
            return gx
        gx = xp.empty_like(y)  # gy may be shared with another node: never written

        def part(lo: int, hi: int) -> None:
            xp.multiply(gy[lo:hi], y[lo:hi] > 0, out=gx[lo:hi])

        split_elementwise(gx, part)
        return gx


def relu(x: Any) -> Any:
    """Rectified linear unit max(0, x), element-wise (Krizhevsky et al. 2012, section
    3.1: it does not saturate).

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
