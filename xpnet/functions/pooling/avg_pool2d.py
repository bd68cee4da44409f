"""2-D average pooling over NCHW feature maps, with PyTorch's divisor rules."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.functions.pooling._mean import mean_backward, mean_forward
from xpnet.functions.pooling._window import Geometry, check_input, divisor, geometry

__all__ = ["avg_pool2d"]


class AvgPool2dFunction(Function):
    """y[n, c, i, j] = (1 / D[i, j]) sum_{a<kh, b<kw} x_pad[n, c, i*sh + a*dh, j*sw + b*dw].

    x_pad is x padded with zeros; D[i, j] is the number of positions window (i, j)
    averages over (see :func:`avg_pool2d`). dE/dx[n, c, h, w] = sum over the windows
    (i, j) that hold (h, w) of dE/dy[n, c, i, j] / D[i, j].

    Args:
        g: the window geometry.
        count_include_pad: whether padded positions count in D.
    """

    def __init__(self, g: Geometry, count_include_pad: bool = True) -> None:
        self.g, self.count_include_pad = g, count_include_pad

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        self.div = divisor(self.g, self.count_include_pad, xp, x.dtype)  # (oh, ow)
        y, self.plan = mean_forward(x, self.g, self.div)  # plan: the compiled kernels or None
        return y

    def backward(self, gy: Any) -> Any:
        return mean_backward(gy, self.g, self.div, self.plan)


def avg_pool2d(
    x: Any,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    dilation: int | tuple[int, int] = 1,
) -> Any:
    """2-D average pooling: the mean of each kh x kw window, PyTorch's semantics.

    y[n, c, i, j] = (1 / D[i, j]) sum_{0<=a<kh, 0<=b<kw} x[n, c, i*sh - ph + a*dh,
    j*sw - pw + b*dw] with positions outside the input counted as 0. The divisor,
    PyTorch's rule: window (i, j) spans rows [r0, r1) with r0 = i*sh - ph and
    r1 = min(r0 + kh, H + qh) (qh the bottom padding; columns alike); D = (r1 - r0)(c1 - c0)
    with ``count_include_pad`` (the default: padding counts as zeros in the average), else
    the span clipped to the input [0, H) x [0, W). Only a ceil-mode window that runs past
    the padded input has D < kh*kw with the default. A dilated window (ONNX
    AveragePool's ``dilations``; PyTorch's avg_pool2d has none) counts its taps inside
    those bounds.

    dE/dx[n, c, h, w] = sum over the windows (i, j) that hold (h, w) of dE/dy[n, c, i, j] / D[i, j].

    Args:
        x: Tensor or array (N, C, H, W), floating.
        kernel_size: window (kh, kw) or one int for both.
        stride: step (sh, sw); None means ``kernel_size``.
        padding: implicit zero padding: one int, (ph, pw) on both sides, or four ints
            (top, bottom, left, right); each at most half the kernel.
        ceil_mode: round the output size up, keeping only windows that start inside the
            input or the leading padding.
        count_include_pad: count the zero padding in the divisor.
        dilation: spacing (dh, dw) of the taps, >= 1 (a dilated window runs on the NumPy
            views path).

    Returns:
        Tensor (N, C, oh, ow) of x's dtype.

    Shape:
        x: (N, C, H, W); y: (N, C, oh, ow), oh and ow as in :func:`max_pool2d`.

    Raises:
        TypeError: x not a floating Tensor/array, sizes not ints or pairs of ints.
        ValueError: x not 4-D, kernel larger than the padded input, padding more than
            half the kernel, kernel or stride < 1.

    Example:
        >>> x = Tensor(numpy.arange(16.0).reshape(1, 1, 4, 4))
        >>> avg_pool2d(x, 2).data[0, 0]
        array([[ 2.5,  4.5],
               [10.5, 12.5]])
    """
    op = "avg_pool2d"
    x = check_input(op, x)
    g = geometry(op, x.shape, kernel_size, stride, padding, ceil_mode, dilation)
    if not isinstance(count_include_pad, bool):
        raise TypeError(f"{op}: count_include_pad must be a bool, got {count_include_pad!r}")
    return AvgPool2dFunction(g, count_include_pad)(x)
