"""Convolution layers: Conv2d and ConvTranspose2d, named and initialised like PyTorch's."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy

from xpnet import backend
from xpnet import functions as F
from xpnet import init as xinit
from xpnet.functions.pooling._window import padding4
from xpnet.functions.utils import pair
from xpnet.nn.module import Module, Parameter

__all__ = ["Conv2d", "ConvTranspose2d"]

#: An initialiser as the layers take it: ``init(shape, rng) -> array``.
Initializer = Callable[[tuple, numpy.random.Generator], Any]


def _size(value: Any, name: str, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value < 1:
        raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")
    return int(value)


def _rng(rng: Any, layer: str) -> numpy.random.Generator:
    if rng is None:
        return numpy.random.default_rng()
    if not isinstance(rng, numpy.random.Generator):
        raise TypeError(
            f"{layer}: rng must be a numpy.random.Generator or None, got {type(rng).__name__}"
        )
    return rng


def make_parameters(
    layer: str,
    wshape: tuple[int, ...],
    bshape: tuple[int, ...] | None,
    fan_in: int,
    rng: numpy.random.Generator,
    init: Initializer | None,
    dtype: Any,
) -> tuple[Parameter, Parameter | None]:
    """Weight and bias drawn like PyTorch: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) by default.

    PyTorch's kaiming_uniform(a=sqrt(5)) gives the bound gain sqrt(3 / fan_in) with
    gain = sqrt(2 / (1 + 5)), i.e. exactly 1 / sqrt(fan_in); its bias uses the same bound.
    """
    dt = backend.float_dtype(dtype)
    bound = 1.0 / math.sqrt(fan_in)
    w = xinit.uniform(wshape, -bound, bound, rng, dtype=dt) if init is None else init(wshape, rng)
    if not backend.is_array(w):
        w = numpy.asarray(w)
    if tuple(w.shape) != wshape:
        raise ValueError(
            f"{layer}: the weight initialiser returned shape {tuple(w.shape)}, expected {wshape}"
        )
    weight = Parameter(w.astype(dt, copy=False))
    bias = None
    if bshape is not None:
        bias = Parameter(xinit.uniform(bshape, -bound, bound, rng, dtype=dt))
    return weight, bias


class _ConvNd(Module):
    """What Conv2d and ConvTranspose2d share: arguments, checks and ``extra_repr``."""

    def _setup(
        self, layer: str, in_channels: int, out_channels: int, kernel_size: Any, stride: Any,
        padding: Any, dilation: Any, groups: int, per_side: bool = False,
    ) -> None:
        self.in_channels = _size(in_channels, "in_channels", layer)
        self.out_channels = _size(out_channels, "out_channels", layer)
        self.groups = _size(groups, "groups", layer)
        for name, n in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            if n % self.groups:
                raise ValueError(f"{layer}: {name}={n} is not divisible by groups={groups}")
        self.kernel_size = pair(kernel_size, "kernel_size", layer, 1)
        self.stride = pair(stride, "stride", layer, 1)
        if per_side and isinstance(padding, (tuple, list)) and len(padding) == 4:
            top, bottom, left, right = padding4(padding, layer)
            # equal sides are kept as the pair every engine takes
            self.padding = ((top, left) if (top, left) == (bottom, right)
                            else (top, bottom, left, right))
        else:
            self.padding = pair(padding, "padding", layer, 0)
        self.dilation = pair(dilation, "dilation", layer, 1)

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if getattr(self, "output_padding", (0, 0)) != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """2-D convolution layer: y = conv2d(x, weight, bias) (see :func:`xpnet.functions.conv2d`).

    Args:
        in_channels: C, channels of the input.
        out_channels: O, number of kernels (feature maps).
        kernel_size: kH = kW or (kH, kW).
        stride, padding, dilation: ints or pairs, as in conv2d; ``padding`` may also be
            four ints (top, bottom, left, right), a padding per side.
        groups: g, dividing C and O (AlexNet's conv2, conv4, conv5: 2).
        bias: whether to learn a bias per output channel.
        rng: generator for the initial weights; None draws a fresh, unseeded one.
        init: ``init(shape, rng) -> array`` for the weight (e.g. ``xpnet.init.he_normal``);
            None: PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C/g kH kW,
            also used for the bias.
        dtype: float32 (default) or float64.

    Attributes:
        weight: Parameter (O, C/g, kH, kW).
        bias: Parameter (O,), or None.

    Shape:
        (N, C, H, W) -> (N, O, oH, oW), oH = floor((H + 2 pH - dH (kH - 1) - 1) / sH) + 1.

    Example:
        >>> conv = Conv2d(1, 6, 5, padding=2, rng=numpy.random.default_rng(0))
        >>> conv(Tensor(numpy.zeros((8, 1, 28, 28), numpy.float32))).shape
        (8, 6, 28, 28)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        rng: numpy.random.Generator | None = None,
        init: Initializer | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self._setup("Conv2d", in_channels, out_channels, kernel_size, stride, padding,
                    dilation, groups, per_side=True)
        cg = self.in_channels // self.groups
        wshape = (self.out_channels, cg, *self.kernel_size)
        self.weight, self.bias = make_parameters(
            "Conv2d", wshape, (self.out_channels,) if bias else None,
            cg * math.prod(self.kernel_size), _rng(rng, "Conv2d"), init, dtype,
        )

    def forward(self, x: Any) -> Any:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class ConvTranspose2d(_ConvNd):
    """Transposed convolution layer (see :func:`xpnet.functions.conv_transpose2d`).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            rng, init, dtype: as for :class:`Conv2d`.
        output_padding: extra rows/columns at the bottom/right of the output.

    Attributes:
        weight: Parameter (C_in, C_out/g, kH, kW) (PyTorch's layout); fan_in for the
            default init is C_out/g kH kW, as PyTorch computes it.
        bias: Parameter (C_out,), or None.

    Shape:
        (N, C_in, H, W) -> (N, C_out, oH, oW),
        oH = (H - 1) sH - 2 pH + dH (kH - 1) + output_padding + 1.

    Example:
        >>> up = ConvTranspose2d(8, 4, 2, stride=2, rng=numpy.random.default_rng(0))
        >>> up(Tensor(numpy.zeros((1, 8, 5, 5), numpy.float32))).shape
        (1, 4, 10, 10)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        output_padding: int | tuple[int, int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int, int] = 1,
        rng: numpy.random.Generator | None = None,
        init: Initializer | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        layer = "ConvTranspose2d"
        self._setup(layer, in_channels, out_channels, kernel_size, stride, padding,
                    dilation, groups)
        self.output_padding = pair(output_padding, "output_padding", layer, 0)
        og = self.out_channels // self.groups
        wshape = (self.in_channels, og, *self.kernel_size)
        self.weight, self.bias = make_parameters(
            layer, wshape, (self.out_channels,) if bias else None,
            og * math.prod(self.kernel_size), _rng(rng, layer), init, dtype,
        )

    def forward(self, x: Any) -> Any:
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)
