"""Locally connected layer (unshared convolution), as in DeepFace."""

from __future__ import annotations

import math
from typing import Any

import numpy

from xpnet import functions as F
from xpnet.functions.utils import out_size, pair
from xpnet.nn.conv import Initializer, _rng, _size, make_parameters
from xpnet.nn.module import Module

__all__ = ["LocallyConnected2d"]


class LocallyConnected2d(Module):
    """Like Conv2d, but every output position has its own kernels and bias.

    Args:
        in_channels: C.
        out_channels: O.
        input_size: (H, W) (or an int for a square input), fixed at construction since
            the number of weight banks depends on it.
        kernel_size: kH = kW or (kH, kW).
        stride: int or pair, >= 1.
        padding: int or pair, >= 0.
        bias: whether to learn a bias per output unit (O, oH, oW).
        rng: generator for the initial weights; None draws a fresh, unseeded one.
        init: ``init(shape, rng) -> array`` for the weight; None: U(-1/sqrt(fan_in),
            1/sqrt(fan_in)) with fan_in = C kH kW (each unit sees that many inputs, as in
            Conv2d's default), also used for the bias.
        dtype: float32 (default) or float64.

    Attributes:
        weight: Parameter (oH, oW, O, C, kH, kW).
        bias: Parameter (O, oH, oW), or None.

    Shape:
        (N, C, H, W) -> (N, O, oH, oW), oH = floor((H + 2 pH - kH) / sH) + 1.

    Example:
        >>> lc = LocallyConnected2d(3, 8, (12, 12), 3, rng=numpy.random.default_rng(0))
        >>> lc(Tensor(numpy.zeros((4, 3, 12, 12), numpy.float32))).shape
        (4, 8, 10, 10)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        input_size: int | tuple[int, int],
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = True,
        rng: numpy.random.Generator | None = None,
        init: Initializer | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        layer = "LocallyConnected2d"
        self.in_channels = _size(in_channels, "in_channels", layer)
        self.out_channels = _size(out_channels, "out_channels", layer)
        self.input_size = pair(input_size, "input_size", layer, 1)
        self.kernel_size = pair(kernel_size, "kernel_size", layer, 1)
        self.stride = pair(stride, "stride", layer, 1)
        self.padding = pair(padding, "padding", layer, 0)
        (H, W), (kh, kw) = self.input_size, self.kernel_size
        (sh, sw), (ph, pw) = self.stride, self.padding
        if kh > H + 2 * ph or kw > W + 2 * pw:
            raise ValueError(
                f"{layer}: kernel {(kh, kw)} is larger than the padded input "
                f"{(H + 2 * ph, W + 2 * pw)}"
            )
        self.output_size = (out_size(H, kh, sh, ph, 1), out_size(W, kw, sw, pw, 1))
        wshape = (*self.output_size, self.out_channels, self.in_channels, kh, kw)
        bshape = (self.out_channels, *self.output_size) if bias else None
        self.weight, self.bias = make_parameters(
            layer, wshape, bshape, self.in_channels * math.prod(self.kernel_size),
            _rng(rng, layer), init, dtype,
        )

    def forward(self, x: Any) -> Any:
        return F.locally_connected2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, input_size={self.input_size}, "
            f"kernel_size={self.kernel_size}, stride={self.stride}"
        )
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.bias is None:
            s += ", bias=False"
        return s
