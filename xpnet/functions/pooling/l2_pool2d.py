"""2-D L2 pooling: the root mean square of each window, y = sqrt(mean of x^2)."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.functions.pooling._mean import mean_backward, mean_forward
from xpnet.functions.pooling._window import Geometry, check_input, divisor, geometry

__all__ = ["l2_pool2d"]


class L2Pool2dFunction(Function):
    """y = sqrt(s), s[n, c, i, j] = (1 / D[i, j]) sum_{a, b} x_pad[n, c, i*sh + a, j*sw + b]^2.

    dE/dx[n, c, h, w] = x[n, c, h, w] * sum over the windows (i, j) holding (h, w) of
    dE/dy[n, c, i, j] / (y[n, c, i, j] D[i, j]), and 0 from a window where y = 0.

    Args:
        g: the window geometry.
    """

    def __init__(self, g: Geometry) -> None:
        self.g = g

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        self.div = divisor(self.g, True, xp, x.dtype)  # (oh, ow)
        # (N, C, oh, ow) mean square; plan: the compiled kernels or None
        y, self.plan = mean_forward(x * x, self.g, self.div)
        xp.sqrt(y, out=y)
        self.x, self.y = x, y  # (N, C, H, W) input and (N, C, oh, ow) output, for dE/dx
        return y

    def backward(self, gy: Any) -> Any:
        xp = backend.get_array_module(gy)
        positive = self.y > 0
        # dE/ds = dE/dy / (2y) and ds/dx = 2x / D; define it as 0 where y = 0 (a zero window)
        t = xp.where(positive, gy / xp.where(positive, self.y, 1), 0).astype(gy.dtype)
        return self.x * mean_backward(t, self.g, self.div, self.plan)


def l2_pool2d(
    x: Any,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    ceil_mode: bool = False,
    dilation: int | tuple[int, int] = 1,
) -> Any:
    """2-D L2 pooling: y = sqrt(mean over the window of x^2), the root mean square.

    y[n, c, i, j] = sqrt((1 / D[i, j]) sum_{a<kh, b<kw} x[n, c, i*sh - ph + a, j*sw - pw + b]^2)
    with positions outside the input counted as 0 and D the divisor of :func:`avg_pool2d`
    with ``count_include_pad=True`` (kh*kw, except for a ceil-mode window running past the
    padded input, which divides by the positions it covers).

    Gradient: dE/dx[n, c, h, w] = x[n, c, h, w] sum_{windows (i, j) holding (h, w)}
    dE/dy[n, c, i, j] / (y[n, c, i, j] D[i, j]). At y = 0 (a window of zeros) sqrt has no
    derivative; we define the gradient through that window as 0 (PyTorch's LPPool2d
    does the same), so training never sees NaN.

    Relation to PyTorch: ``torch.nn.LPPool2d(2, k, s, ceil_mode)`` computes
    sqrt(kh*kw * avg_pool2d(x^2)), i.e. sqrt(SUM of x^2) for full windows, so
    ``LPPool2d(2, k, s)(x) == sqrt(kh*kw) * l2_pool2d(x, k, s)`` exactly, in ceil mode
    too (both use avg_pool2d's divisor). LPPool2d has no padding argument.

    Relation to ONNX: ``LpPool`` with p = 2 computes sqrt(SUM of x^2 over the window's
    positions inside the padded input), with no divisor, so
    ``LpPool(p=2)(x) == sqrt(D) * l2_pool2d(x)``, D the divisor map above: a constant
    sqrt(kh*kw) wherever every window lies inside the padded input (no ceil-mode
    overhang). ``xpnet.onnx`` exports an L2Pool2d as LpPool times 1/sqrt(kh*kw) in that
    case and as x*x, AveragePool, Sqrt otherwise, and imports LpPool(p=2) as this op
    times sqrt(D).

    Args:
        x: Tensor or array (N, C, H, W), floating.
        kernel_size: window (kh, kw) or one int for both.
        stride: step (sh, sw); None means ``kernel_size``.
        padding: implicit zero padding: one int, (ph, pw) on both sides, or four ints
            (top, bottom, left, right); each at most half the kernel.
        ceil_mode: round the output size up, keeping only windows that start inside the
            input or the leading padding.
        dilation: spacing (dh, dw) of the taps, >= 1 (ONNX LpPool's ``dilations``;
            PyTorch's LPPool2d has none); a dilated window runs on the NumPy views path.

    Returns:
        Tensor (N, C, oh, ow) of x's dtype, >= 0.

    Shape:
        x: (N, C, H, W); y: (N, C, oh, ow), oh and ow as in :func:`max_pool2d`.

    Raises:
        TypeError: x not a floating Tensor/array, sizes not ints or pairs of ints.
        ValueError: x not 4-D, kernel larger than the padded input, padding more than
            half the kernel, kernel or stride < 1.

    Example:
        >>> x = Tensor(numpy.array([[[[3.0, 4.0], [0.0, 0.0]]]]))
        >>> l2_pool2d(x, 2).data    # sqrt((9 + 16) / 4)
        array([[[[2.5]]]])
    """
    op = "l2_pool2d"
    x = check_input(op, x)
    g = geometry(op, x.shape, kernel_size, stride, padding, ceil_mode, dilation)
    return L2Pool2dFunction(g)(x)
