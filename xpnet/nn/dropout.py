"""Noise layers: Dropout, Dropout2d and DropConnectLinear, each owning its ``rng``.

Each layer keeps its generator in the attribute ``rng`` (checkpoints save and restore its
state), draws a new mask on every training call, and is deterministic in eval mode
(except DropConnectLinear's ``gaussian`` inference, which samples from ``rng``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy

from xpnet import backend
from xpnet import functions as F
from xpnet import init as xinit
from xpnet.functions.noise.masks import check_p, keep_mask
from xpnet.nn.module import Module, Parameter

__all__ = ["DropConnectLinear", "Dropout", "Dropout2d"]

_ACTIVATIONS = (None, "relu", "sigmoid", "tanh")
_INFERENCE = ("mean", "gaussian")


def _layer_rng(rng: Any, layer: str) -> numpy.random.Generator:
    """``rng`` itself, or a fresh unseeded ``default_rng()`` when None."""
    if rng is None:
        return numpy.random.default_rng()
    if not isinstance(rng, numpy.random.Generator):
        raise TypeError(f"{layer}: rng must be a numpy.random.Generator or None, got "
                        f"{type(rng).__name__}")
    return rng


class Dropout(Module):
    """Inverted dropout: in training zero each unit with probability p, scale by 1/(1-p).

    A new mask is drawn from ``self.rng`` at every call (every mini-batch); in eval mode
    the layer is the identity. See :func:`xpnet.functions.dropout`.

    Args:
        p: probability of dropping a unit, in [0, 1).
        rng: ``numpy.random.Generator`` for the masks; None draws a fresh, unseeded
            ``numpy.random.default_rng()`` (pass a seeded one for reproducible runs).

    Attributes:
        p: the drop probability.
        rng: the generator the masks come from.

    Shape:
        (*) -> (*).

    Example:
        >>> drop = Dropout(0.5, rng=numpy.random.default_rng(0))
        >>> x = Tensor(numpy.ones(6))
        >>> drop(x).data                     # about half zeroed, the rest scaled by 2
        array([2., 2., 2., 0., 0., 0.])
        >>> drop.eval()(x) is x              # the identity at inference
        True
    """

    def __init__(self, p: float = 0.5, rng: numpy.random.Generator | None = None) -> None:
        super().__init__()
        self.p = check_p(p, type(self).__name__)
        self.rng = _layer_rng(rng, type(self).__name__)

    def forward(self, x: Any) -> Any:
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout2d(Dropout):
    """Channel dropout for (N, C, H, W) maps: each whole map is kept or dropped.

    See :func:`xpnet.functions.dropout2d`; arguments and attributes as :class:`Dropout`.

    Shape:
        (N, C, H, W) -> (N, C, H, W).

    Example:
        >>> drop = Dropout2d(0.2, rng=numpy.random.default_rng(0))
        >>> drop(Tensor(numpy.ones((8, 16, 5, 5)))).shape
        (8, 16, 5, 5)
    """

    def forward(self, x: Any) -> Any:
        return F.dropout2d(x, self.p, self.training, self.rng)


class DropConnectLinear(Module):
    """Fully-connected layer with DropConnect (Wan et al. 2013): r = a((W * M) v + b).

    Training: a new 0/1 mask M of W's shape (or one per example with ``per_example``) is
    drawn from ``self.rng`` at every call, each connection kept with probability 1 - p,
    with no rescaling, as in the paper. Inference (eval mode), two ways:

    - ``"mean"``: the weight-scaling approximation r = a((1 - p) W v + b);
    - ``"gaussian"``: the paper's moment matching (section 3.1, Algorithm 2): each unit's
      pre-activation is taken as u ~ N(mu, sigma^2), mu = (1 - p) W v + b,
      sigma^2 = p (1 - p) (W * W)(v * v); ``samples`` draws per unit go through the
      activation and are averaged (:func:`xpnet.functions.dropconnect_gaussian`).

    The activation belongs to the layer, since Gaussian inference averages a(u), not u.

    Args:
        in_features: size of each input row.
        out_features: number of units.
        p: probability of dropping a connection, in [0, 1).
        bias: whether to learn a bias (never dropped).
        activation: None, ``"relu"``, ``"sigmoid"`` or ``"tanh"``.
        inference: ``"mean"`` or ``"gaussian"``, used in eval mode.
        samples: Gaussian draws per unit for ``inference="gaussian"``.
        per_example: one mask per example (memory N * out * in per step) instead of one
            per mini-batch.
        rng: generator for the initial weights, the masks and the Gaussian draws; None
            draws a fresh, unseeded ``numpy.random.default_rng()``.
        dtype: float32 (default) or float64.

    Attributes:
        weight: Parameter (out_features, in_features), PyTorch's default init
            U(-1/sqrt(in), 1/sqrt(in)).
        bias: Parameter (out_features,) or None, same init.
        rng: the generator.

    Shape:
        (N, in_features) -> (N, out_features).

    Example:
        >>> layer = DropConnectLinear(784, 256, activation="relu",
        ...                           rng=numpy.random.default_rng(0))
        >>> layer(Tensor(numpy.zeros((32, 784), numpy.float32))).shape
        (32, 256)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        p: float = 0.5,
        bias: bool = True,
        activation: str | None = None,
        inference: str = "mean",
        samples: int = 1000,
        per_example: bool = False,
        rng: numpy.random.Generator | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        for label, value in (("in_features", in_features), ("out_features", out_features),
                             ("samples", samples)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: {label} must be a positive int, got {value!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"{name}: activation must be one of {_ACTIVATIONS}, got "
                             f"{activation!r}")
        if inference not in _INFERENCE:
            raise ValueError(f"{name}: inference must be one of {_INFERENCE}, got {inference!r}")
        self.in_features, self.out_features = in_features, out_features
        self.p = check_p(p, name)
        self.activation, self.inference = activation, inference
        self.samples, self.per_example = samples, bool(per_example)
        self.rng = _layer_rng(rng, name)
        dt = backend.float_dtype(dtype)
        bound = 1.0 / math.sqrt(in_features)
        self.weight = Parameter(xinit.uniform((out_features, in_features), -bound, bound,
                                              self.rng, dtype=dt))
        self.bias = None
        if bias:
            self.bias = Parameter(xinit.uniform((out_features,), -bound, bound, self.rng,
                                                dtype=dt))

    def forward(self, x: Any) -> Any:
        if not self.training and self.inference == "gaussian":
            return F.dropconnect_gaussian(x, self.weight, self.bias, self.p, self.activation,
                                          self.samples, self.rng)
        mask = None
        if self.training and self.p > 0:
            # drawn here and handed to the op, so the op is deterministic given the mask
            shape = (x.shape[0],) * self.per_example + tuple(self.weight.shape)
            xp = backend.get_array_module(self.weight.data)
            mask = keep_mask(xp, self.rng, shape, self.p)
        y = F.dropconnect(x, self.weight, self.bias, self.p, self.training,
                          per_example=self.per_example, mask=mask)
        return y if self.activation is None else getattr(F, self.activation)(y)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"p={self.p}, bias={self.bias is not None}, activation={self.activation}, "
                f"inference={self.inference}, per_example={self.per_example}")
