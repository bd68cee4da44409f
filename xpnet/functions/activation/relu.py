"""Rectified linear unit max(0, x)."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.functions._parallel import split_elementwise
from xpnet.functions._utils import compilable, compiled_kernels


def _kernels(a: Any) -> Any:
    """The compiled ReLU loops for a float NumPy array (numba installed), else None."""
    return compiled_kernels("xpnet.functions.activation._relu_kernels") if compilable(a) else None


def _flat(a: Any) -> Any:
    """A 1-D view of a's memory when it is one C-contiguous block (NCHW, or the NHWC
    memory conv2d returns), else None."""
    if a.flags.c_contiguous:
        return a.reshape(-1)
    if a.ndim == 4 and a.transpose(0, 2, 3, 1).flags.c_contiguous:
        return a.transpose(0, 2, 3, 1).reshape(-1)
    return None


def _flat_views(*arrays: Any) -> list[Any] | None:
    """1-D views of arrays that share one dtype and one layout that is one block of
    memory (element i of each is the same element), else None."""
    first = arrays[0]
    if any(a.strides != first.strides or a.dtype != first.dtype for a in arrays[1:]):
        return None
    flats = [_flat(a) for a in arrays]
    return None if any(f is None for f in flats) else flats


class ReLU(Function):
    """y = max(0, x); dy/dx = 1 where x > 0, else 0 (0 taken at the kink x = 0).

    Backward needs only the output: y > 0 exactly where x > 0. On the CPU, float arrays
    whose memory is one block go through two compiled loops (``_relu_kernels.py``,
    numba; the same results as NumPy's, bit for bit); large arrays are cut
    along their first axis over xpnet's threads (NumPy's element-wise work uses one
    core; the CIFAR net's first ReLU, 4M values: 3.3 ms forward, 4.8 ms backward).
    """

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        if x.ndim == 0:
            self.y = xp.maximum(x, 0)  # a scalar: nothing to split
            return self.y
        self.y = y = xp.empty_like(x)  # (same shape and memory layout as x)
        ker = _kernels(x)
        flats = _flat_views(x, y) if ker is not None else None
        if flats is not None:  # one compiled pass over the memory
            xf, yf = flats
            split_elementwise(xf, lambda lo, hi: ker.forward(xf, yf, lo, hi))
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
        gx = xp.empty_like(y)  # gy may be shared with another node: never written
        ker = _kernels(gy)
        flats = _flat_views(gy, y, gx) if ker is not None else None
        if flats is not None:
            gf, yf, xf = flats
            split_elementwise(gf, lambda lo, hi: ker.backward(gf, yf, xf, lo, hi))
            return gx

        def part(lo: int, hi: int) -> None:
            xp.multiply(gy[lo:hi], y[lo:hi] > 0, out=gx[lo:hi])

        split_elementwise(gx, part)
        return gx


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
