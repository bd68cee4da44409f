"""Maxout layers: Maxout (the max over channel groups) and MaxoutLinear (dense maxout)."""

from __future__ import annotations

import math
from typing import Any

import numpy

from xpnet import functions as F
from xpnet import init as xinit
from xpnet.nn.module import Module, Parameter

__all__ = ["Maxout", "MaxoutLinear"]


def _positive_int(value: Any, name: str, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)):
        raise TypeError(f"{layer}: {name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{layer}: {name} must be >= 1, got {value}")
    return int(value)


class Maxout(Module):
    """Maxout over channel groups: y[:, g] = max_k x[:, g*p + k] (see
    :func:`xpnet.functions.maxout` for the grouping convention).

    Args:
        pool_size: p, the number of pieces per unit; must divide the channels.

    Shape:
        (N, C, *) -> (N, C / p, *): dense (N, C) or conv (N, C, H, W) features.

    Example:
        >>> Maxout(2)(Tensor(numpy.zeros((8, 96, 14, 14)))).shape
        (8, 48, 14, 14)
    """

    def __init__(self, pool_size: int) -> None:
        super().__init__()
        self.pool_size = _positive_int(pool_size, "pool_size", "Maxout")

    def forward(self, x: Any) -> Any:
        return F.maxout(x, self.pool_size)

    def extra_repr(self) -> str:
        return f"pool_size={self.pool_size}"


class MaxoutLinear(Module):
    """Dense maxout layer (Goodfellow et al. 2013): h_i(x) = max_{k<p} z_{i p + k}, z = x W^T + b.

    A Linear map to out_features * pool_size pieces, then :func:`xpnet.functions.maxout`:
    rows i*p .. i*p + p - 1 of ``weight`` are the p pieces of unit i (the paper's
    z_ij = x^T W_.ij + b_ij with j = k + 1). The gradient reaches only the winning piece
    of each unit, example by example.

    Args:
        in_features: size of each input row.
        out_features: number of maxout units.
        pool_size: p, the pieces per unit.
        bias: whether to learn the biases b.
        rng: generator for the initial weights (None: a fresh, unseeded one); weights and
            biases are drawn from U(-1/sqrt(in), 1/sqrt(in)) like PyTorch's Linear.

    Attributes:
        weight: Parameter (out_features * pool_size, in_features).
        bias: Parameter (out_features * pool_size,), or None.

    Shape:
        (N, in_features) -> (N, out_features).

    Example:
        >>> layer = MaxoutLinear(784, 240, pool_size=5, rng=numpy.random.default_rng(0))
        >>> layer(Tensor(numpy.zeros((32, 784), numpy.float32))).shape
        (32, 240)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        pool_size: int,
        bias: bool = True,
        rng: numpy.random.Generator | None = None,
    ) -> None:
        super().__init__()
        layer = "MaxoutLinear"
        self.in_features = _positive_int(in_features, "in_features", layer)
        self.out_features = _positive_int(out_features, "out_features", layer)
        self.pool_size = _positive_int(pool_size, "pool_size", layer)
        if rng is None:
            rng = numpy.random.default_rng()
        elif not isinstance(rng, numpy.random.Generator):
            raise TypeError(
                f"{layer}: rng must be a numpy.random.Generator or None, got {type(rng).__name__}"
            )
        pieces = self.out_features * self.pool_size
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight = Parameter(xinit.uniform((pieces, self.in_features), -bound, bound, rng))
        self.bias: Parameter | None = None
        if bias:
            self.bias = Parameter(xinit.uniform((pieces,), -bound, bound, rng))

    def forward(self, x: Any) -> Any:
        z = F.linear(x, self.weight, self.bias)  # (N, out * p), unit by unit
        return F.maxout(z, self.pool_size, axis=-1)  # (N, out)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"pool_size={self.pool_size}, bias={self.bias is not None}"
        )
