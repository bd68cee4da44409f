"""Dense layers and shape helpers: Linear (h = W x + b), Identity, Flatten."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy

from xpnet import backend
from xpnet import functions as F
from xpnet import init as xinit
from xpnet.nn.module import Module, Parameter

__all__ = ["Flatten", "Identity", "Linear"]

#: An initialiser as Linear and the conv layers take it: ``init(shape, rng) -> array``.
Initializer = Callable[[tuple, numpy.random.Generator], Any]


def _check_size(value: Any, name: str, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value < 1:
        raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")
    return int(value)


def _check_rng(rng: Any, layer: str) -> numpy.random.Generator:
    if rng is None:
        return numpy.random.default_rng()
    if not isinstance(rng, numpy.random.Generator):
        raise TypeError(
            f"{layer}: rng must be a numpy.random.Generator or None, got {type(rng).__name__}"
        )
    return rng


class Identity(Module):
    """Returns its input unchanged (a placeholder in a Sequential).

    Example:
        >>> Identity()(x) is x
        True
    """

    def forward(self, x: Any) -> Any:
        return x


class Flatten(Module):
    """Merge the axes from ``start_axis`` on into one: (N, C, H, W) -> (N, C*H*W).

    Args:
        start_axis: first axis merged (1 keeps the batch axis).

    Shape:
        (N, d1, ..., dk) -> (N, d1 * ... * dk) for ``start_axis=1``.

    Example:
        >>> Flatten()(Tensor(numpy.zeros((2, 1, 28, 28)))).shape
        (2, 784)
    """

    def __init__(self, start_axis: int = 1) -> None:
        super().__init__()
        if isinstance(start_axis, bool) or not isinstance(start_axis, int):
            raise TypeError(f"Flatten: start_axis must be an int, got {start_axis!r}")
        self.start_axis = start_axis

    def forward(self, x: Any) -> Any:
        return F.flatten(x, self.start_axis)

    def extra_repr(self) -> str:
        return f"start_axis={self.start_axis}"


class Linear(Module):
    """Fully-connected layer: h = x W^T + b, the column form h = W x + b for a batch of rows.

    Args:
        in_features: size of each input row.
        out_features: number of units.
        bias: whether to learn the bias b.
        rng: generator for the initial weights; None draws a fresh, unseeded one.
        init: ``init(shape, rng) -> array`` for the weight, e.g.
            ``lambda s, r: xpnet.init.normal(s, 0.01, r)`` (AlexNet) or
            ``xpnet.init.he_normal``. None: PyTorch's default U(-1/sqrt(in), 1/sqrt(in)).
        bias_init: a number (constant bias, AlexNet used 0 or 1), an initialiser like
            ``init``, or None: U(-1/sqrt(in), 1/sqrt(in)) as PyTorch does.
        dtype: float32 (default) or float64.

    Attributes:
        weight: Parameter of shape (out_features, in_features).
        bias: Parameter of shape (out_features,), or None.

    Shape:
        (N, in_features) -> (N, out_features).

    Example:
        >>> layer = Linear(784, 256, rng=numpy.random.default_rng(0))
        >>> layer(Tensor(numpy.zeros((32, 784), numpy.float32))).shape
        (32, 256)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        rng: numpy.random.Generator | None = None,
        init: Initializer | None = None,
        bias_init: float | Initializer | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.in_features = _check_size(in_features, "in_features", "Linear")
        self.out_features = _check_size(out_features, "out_features", "Linear")
        rng = _check_rng(rng, "Linear")
        dt = backend.float_dtype(dtype)
        bound = 1.0 / math.sqrt(self.in_features)
        shape = (self.out_features, self.in_features)
        if init is None:
            w = xinit.uniform(shape, -bound, bound, rng, dtype=dt)
        else:
            w = init(shape, rng)
        self.weight = Parameter(_checked(w, shape, dt, "weight"))
        self.bias: Parameter | None = None
        if bias:
            bshape = (self.out_features,)
            if bias_init is None:
                b = xinit.uniform(bshape, -bound, bound, rng, dtype=dt)
            elif callable(bias_init):
                b = bias_init(bshape, rng)
            else:
                b = xinit.constant(bshape, float(bias_init), dtype=dt)
            self.bias = Parameter(_checked(b, bshape, dt, "bias"))

    def forward(self, x: Any) -> Any:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


def _checked(array: Any, shape: tuple[int, ...], dtype: Any, name: str) -> Any:
    """An initialiser's result as an array of ``shape`` and ``dtype``, or a clear error."""
    if not backend.is_array(array):
        array = numpy.asarray(array)
    if tuple(array.shape) != shape:
        raise ValueError(
            f"Linear: the {name} initialiser returned shape {tuple(array.shape)}, "
            f"expected {shape}"
        )
    return array.astype(dtype, copy=False)
