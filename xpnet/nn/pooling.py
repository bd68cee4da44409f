"""Pooling layers: MaxPool2d, AvgPool2d, L2Pool2d and MaxUnpool2d (no parameters)."""

from __future__ import annotations

from typing import Any

from xpnet import functions as F
from xpnet.functions.pooling._window import padding4
from xpnet.functions.utils import pair
from xpnet.nn.module import Module

__all__ = ["AvgPool2d", "L2Pool2d", "MaxPool2d", "MaxUnpool2d"]


class _Pool2d(Module):
    """Shared arguments of the 2-D pooling layers, checked once at construction."""

    def __init__(self, name: str, kernel_size: Any, stride: Any, padding: Any,
                 dilation: Any = 1) -> None:
        super().__init__()
        kh, kw = pair(kernel_size, "kernel_size", name, minimum=1)
        if stride is not None:
            pair(stride, "stride", name, minimum=1)
        pair(dilation, "dilation", name, minimum=1)
        top, bottom, left, right = padding4(padding, name)
        if 2 * max(top, bottom) > kh or 2 * max(left, right) > kw:
            raise ValueError(
                f"{name}: padding must be at most half the kernel, got padding {padding!r} "
                f"for kernel_size {kernel_size!r}"
            )
        self.kernel_size, self.padding, self.dilation = kernel_size, padding, dilation
        self.stride = kernel_size if stride is None else stride  # PyTorch's default

    def extra_repr(self) -> str:
        s = f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        return s + (f", dilation={self.dilation}" if self.dilation not in (1, (1, 1)) else "")


def _check_bool(value: Any, name: str, layer: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{layer}: {name} must be a bool, got {value!r}")
    return value


class MaxPool2d(_Pool2d):
    """Max pooling layer; see :func:`xpnet.functions.max_pool2d` for the maths.

    Args:
        kernel_size: window (kh, kw) or one int.
        stride: step; None means ``kernel_size`` (AlexNet's overlapping pool is 3, 2).
        padding: implicit -inf padding, at most half the kernel: one int, (ph, pw) on
            both sides, or four ints (top, bottom, left, right).
        ceil_mode: round the output size up.
        return_indices: also return the switches (for :class:`MaxUnpool2d`).
        dilation: spacing of the window's taps (PyTorch's ``dilation``; a keyword here,
            after the arguments xpnet had before it).

    Shape:
        (N, C, H, W) -> (N, C, oh, ow), oh = floor((H + pt + pb - dh (kh - 1) - 1) / sh) + 1.

    Example:
        >>> MaxPool2d(3, 2)(Tensor(numpy.zeros((1, 96, 55, 55), numpy.float32))).shape
        (1, 96, 27, 27)
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        ceil_mode: bool = False,
        return_indices: bool = False,
        *,
        dilation: int | tuple[int, int] = 1,
    ) -> None:
        super().__init__("MaxPool2d", kernel_size, stride, padding, dilation)
        self.ceil_mode = _check_bool(ceil_mode, "ceil_mode", "MaxPool2d")
        self.return_indices = _check_bool(return_indices, "return_indices", "MaxPool2d")

    def forward(self, x: Any) -> Any:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.return_indices, self.dilation)

    def extra_repr(self) -> str:
        base = (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}")
        return f"{base}, ceil_mode={self.ceil_mode}"


class AvgPool2d(_Pool2d):
    """Average pooling layer; see :func:`xpnet.functions.avg_pool2d` for the maths.

    Args:
        kernel_size: window (kh, kw) or one int.
        stride: step; None means ``kernel_size``.
        padding: implicit zero padding, at most half the kernel: one int, (ph, pw) on
            both sides, or four ints (top, bottom, left, right).
        ceil_mode: round the output size up.
        count_include_pad: count the padding in the divisor (PyTorch's default).
        dilation: spacing of the taps (ONNX AveragePool's ``dilations``; PyTorch's
            AvgPool2d has none).

    Shape:
        (N, C, H, W) -> (N, C, oh, ow), as :class:`MaxPool2d`.

    Example:
        >>> AvgPool2d(2)(Tensor(numpy.ones((1, 1, 4, 4)))).data[0, 0]
        array([[1., 1.],
               [1., 1.]])
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        *,
        dilation: int | tuple[int, int] = 1,
    ) -> None:
        super().__init__("AvgPool2d", kernel_size, stride, padding, dilation)
        self.ceil_mode = _check_bool(ceil_mode, "ceil_mode", "AvgPool2d")
        self.count_include_pad = _check_bool(count_include_pad, "count_include_pad", "AvgPool2d")

    def forward(self, x: Any) -> Any:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.dilation)


class L2Pool2d(_Pool2d):
    """L2 pooling layer, y = sqrt(mean of x^2 over the window); see
    :func:`xpnet.functions.l2_pool2d`.

    Relation to the others: PyTorch's ``LPPool2d(2, k)`` and ONNX's ``LpPool`` (p = 2)
    take the root of the SUM of squares, so wherever every window lies inside the padded
    input both equal ``sqrt(kh * kw) * L2Pool2d(k)``; in general ONNX LpPool equals
    sqrt(D) times it, D the number of positions averaged (see the op).

    Args:
        kernel_size: window (kh, kw) or one int.
        stride: step; None means ``kernel_size``.
        padding: implicit zero padding, at most half the kernel: one int, (ph, pw) on
            both sides, or four ints (top, bottom, left, right).
        ceil_mode: round the output size up.
        dilation: spacing of the taps (ONNX LpPool's ``dilations``).

    Shape:
        (N, C, H, W) -> (N, C, oh, ow), as :class:`MaxPool2d`.

    Example:
        >>> L2Pool2d(2)(Tensor(numpy.full((1, 1, 2, 2), 3.0))).data
        array([[[[3.]]]])
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        ceil_mode: bool = False,
        *,
        dilation: int | tuple[int, int] = 1,
    ) -> None:
        super().__init__("L2Pool2d", kernel_size, stride, padding, dilation)
        self.ceil_mode = _check_bool(ceil_mode, "ceil_mode", "L2Pool2d")

    def forward(self, x: Any) -> Any:
        return F.l2_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                           self.dilation)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, ceil_mode={self.ceil_mode}"


class MaxUnpool2d(_Pool2d):
    """Max unpooling layer: values back at their switches, zeros elsewhere; see
    :func:`xpnet.functions.max_unpool2d` (the deconvnet's unpooling).

    Args:
        kernel_size, stride, padding: those of the :class:`MaxPool2d` being undone.

    Shape:
        x, indices (N, C, h, w) -> (N, C, (h - 1) sh - 2 ph + kh, ...) or ``output_size``.

    Example:
        >>> pool, unpool = MaxPool2d(2, return_indices=True), MaxUnpool2d(2)
        >>> y, idx = pool(x)
        >>> unpool(y, idx).shape == x.shape
        True
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__("MaxUnpool2d", kernel_size, stride, padding)

    def forward(self, x: Any, indices: Any, output_size: tuple[int, ...] | None = None) -> Any:
        return F.max_unpool2d(
            x, indices, self.kernel_size, self.stride, self.padding, output_size
        )
