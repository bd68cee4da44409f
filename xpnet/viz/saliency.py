"""Gradient maps: saliency (Simonyan et al. 2013) and guided back-propagation.

All three maps are dE/dx for a unit's output E, back-propagated through the network
layer by layer; they differ only in the rule at each ReLU, y = max(0, h):

=============  =============================================  ======================
rule           dE/dh given g = dE/dy                          reference
=============  =============================================  ======================
"saliency"     g * [h > 0]           (the true gradient)      Simonyan et al. 2013
"guided"       g * [h > 0] * [g > 0]                          Springenberg et al. 2015
"deconv"       max(0, g)             (rectify the signal)     Zeiler & Fergus 2013
=============  =============================================  ======================

The network is run by :func:`~xpnet.viz.feature_maps.run_layers` with every
:class:`~xpnet.nn.ReLU` layer swapped for the Function of the rule; every other layer
keeps its own backward (max pooling routes the gradient to its switch, a convolution's
input gradient is the transposed convolution), so "deconv" here is the deconvnet of
:mod:`xpnet.viz.deconvnet` written as a backward pass, and both are tested equal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy

from xpnet import backend, nn
from xpnet.function import Function
from xpnet.tensor import Tensor
from xpnet.viz.feature_maps import as_input, layer_list, resolve_layer, run_layers
from xpnet.viz.grid import colorize, normalize

__all__ = [
    "DeconvReLUFunction",
    "GuidedReLUFunction",
    "guided_backprop",
    "input_gradient",
    "saliency",
    "saliency_image",
    "saliency_map",
    "unit_seed",
]


class GuidedReLUFunction(Function):
    """y = max(0, h); dE/dh = g [h > 0] [g > 0]: only positive signals through active units.

    Guided back-propagation (Springenberg et al. 2015) combines the gradient's mask (the
    forward pass was positive) with the deconvnet's (the backward signal is positive),
    which keeps only what excites the unit and gives sharper images than either.
    """

    def forward(self, h: Any) -> Any:
        xp = backend.get_array_module(h)
        y = xp.maximum(h, 0)
        self.active = y > 0  # (same shape as h) where the forward pass let h through
        return y

    def backward(self, g: Any) -> Any:
        xp = backend.get_array_module(g)
        return xp.where(self.active & (g > 0), g, 0).astype(g.dtype, copy=False)


class DeconvReLUFunction(Function):
    """y = max(0, h); dE/dh = max(0, g): the deconvnet's rectification of the signal.

    Zeiler & Fergus pass the reconstruction through a ReLU on the way down, ignoring
    where the forward pass was active.
    """

    def forward(self, h: Any) -> Any:
        return backend.get_array_module(h).maximum(h, 0)

    def backward(self, g: Any) -> Any:
        return backend.get_array_module(g).maximum(g, 0)


_RULES: dict[str, Callable[[Tensor], Tensor] | None] = {
    "saliency": None,
    "guided": lambda h: GuidedReLUFunction()(h),
    "deconv": lambda h: DeconvReLUFunction()(h),
}


def unit_seed(
    y: Any, channel: Any, position: Any = None
) -> Any:
    """dE/dy that selects one unit per example: E = sum_n y[n, channel_n, (i, j)].

    Args:
        y: the layer's output array (N, C) or (N, C, H, W).
        channel: int or (N,) ints (a class per example for the last layer).
        position: (i, j) or (N, 2) positions, one per example; "max" for each
            example's strongest position in its channel map; None for the whole map
            (E sums the map).

    Returns:
        array of y's shape, 1 at the chosen units and 0 elsewhere.
    """
    xp = backend.get_array_module(y)
    n = y.shape[0]
    ch = numpy.broadcast_to(numpy.asarray(backend.to_numpy(channel), dtype=numpy.int64), (n,))
    if ch.min() < 0 or ch.max() >= y.shape[1]:
        raise ValueError(f"unit index {ch.tolist()} outside [0, {y.shape[1]}) of this layer")
    seed = xp.zeros_like(y)
    rows, ch = xp.asarray(numpy.arange(n)), xp.asarray(ch)
    if y.ndim == 2 or position is None:
        seed[rows, ch] = 1
    elif isinstance(position, str):
        if position != "max":
            raise ValueError(f"position must be (i, j), 'max' or None, got {position!r}")
        maps = y[rows, ch].reshape(n, -1)  # (N, H*W)
        flat = maps.argmax(axis=1)  # (N,)
        seed[rows, ch, flat // y.shape[3], flat % y.shape[3]] = 1
    else:
        rc = numpy.broadcast_to(numpy.asarray(position, dtype=numpy.int64), (n, 2))
        seed[rows, ch, xp.asarray(rc[:, 0]), xp.asarray(rc[:, 1])] = 1
    return seed


def input_gradient(
    model: nn.Module,
    x: Any,
    target: Any = None,
    rule: str = "saliency",
    layer: int | str | None = None,
    position: tuple[int, int] | str | None = None,
) -> numpy.ndarray:
    """dE/dx through the network with the ReLU rule ``rule`` (see the module table).

    Args:
        model: the network, in eval mode.
        x: inputs (N, C, H, W) (already pre-processed).
        target: the unit: a class (int or (N,) ints) of the last layer by default, or a
            channel of ``layer``; None takes each example's predicted class.
        rule: "saliency", "guided" or "deconv".
        layer: None for the network's output, else the layer whose unit is explained.
        position: for a convolutional ``layer``: (i, j), "max" or None (whole map).

    Returns:
        NumPy array of x's shape.

    Example:
        >>> g = input_gradient(net, x_test[:4], target=y_test[:4])   # (4, 1, 28, 28)
    """
    if rule not in _RULES:
        raise ValueError(f"input_gradient: rule must be one of {sorted(_RULES)}, got {rule!r}")
    layers = layer_list(model)
    stop = len(layers) - 1 if layer is None else resolve_layer(model, layer)[0]
    xt = as_input(model, x, requires_grad=True)
    y = run_layers(layers, xt, stop, relu=_RULES[rule])
    if target is None:
        if y.ndim != 2:
            raise ValueError("input_gradient: give a target channel for a convolutional layer")
        target = backend.to_numpy(y.data.argmax(axis=1))
    y.backward(unit_seed(y.data, target, position))
    return backend.to_numpy(xt.grad)


def saliency(model: nn.Module, x: Any, target: Any = None) -> numpy.ndarray:
    """The gradient of a class score with respect to the input (Simonyan et al. 2013).

    w = dS_c/dx at x: the first-order Taylor weights of the class score S_c (before
    the softmax), saying which pixels change the score most.

    Args:
        model: the network, in eval mode.
        x: inputs (N, C, H, W).
        target: class per example (int or (N,)); None takes the predicted class.

    Returns:
        dS_c/dx, NumPy (N, C, H, W) (signed; see :func:`saliency_map` for display).

    Example:
        >>> m = saliency_map(saliency(net, x_test[:8]))     # (8, 28, 28)
    """
    return input_gradient(model, x, target, "saliency")


def guided_backprop(
    model: nn.Module, x: Any, target: Any = None, layer: int | str | None = None,
    position: tuple[int, int] | str | None = None,
) -> numpy.ndarray:
    """Guided back-propagation: dE/dx with each ReLU passing g [h > 0] [g > 0].

    Args:
        model, x, target, layer, position: as :func:`input_gradient`.

    Returns:
        NumPy (N, C, H, W).
    """
    return input_gradient(model, x, target, "guided", layer, position)


def saliency_map(grad: Any) -> numpy.ndarray:
    """Simonyan's display: M[n, i, j] = max_c |w[n, c, i, j]|, shape (N, H, W)."""
    g = backend.to_numpy(grad)
    if g.ndim != 4:
        raise ValueError(f"saliency_map: expected (N, C, H, W), got {g.shape}")
    return numpy.abs(g).max(axis=1)


def saliency_image(grad: Any, signed: bool = False) -> numpy.ndarray:
    """Colour images (N, H, W, 3) of gradients: a heat map of :func:`saliency_map`, or
    with ``signed`` the gradient itself (grey inputs: blue-white-red around 0; colour
    inputs: 0.5 + g / (2 max |g|) as RGB)."""
    g = backend.to_numpy(grad).astype(numpy.float64)
    if not signed:
        return colorize(normalize(saliency_map(g)))
    if g.shape[1] == 1:
        return colorize(normalize(g[:, 0], symmetric=True), "bwr")
    return normalize(g, symmetric=True).transpose(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
