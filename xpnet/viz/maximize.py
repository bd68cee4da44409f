"""Activation maximisation: the input a unit answers most (Erhan et al. 2009; Simonyan
et al. 2013; Yosinski et al. 2015).

Gradient ascent on the input x for a unit's activation a(x), with regularisers that keep
the image natural-looking instead of adversarial noise:

    x <- (1 - lambda) (x + lr * g / mean|g|),   g = da/dx at a jittered copy of x,

where the jitter rolls x by a random shift (dy, dx) in [-J, J]^2 before the forward pass
(and the gradient back after), lambda is the L2 decay, and every ``blur_every`` steps x is
smoothed by a Gaussian of width sigma. The gradient is normalised by its mean magnitude
so ``lr`` is a step in input units whatever the scale of a.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy

from xpnet import backend, nn
from xpnet.tensor import Tensor
from xpnet.viz.feature_maps import layer_list, model_device, resolve_layer, run_layers
from xpnet.viz.saliency import unit_seed

__all__ = ["MaximizeResult", "gaussian_blur", "maximize"]


@dataclass
class MaximizeResult:
    """The optimised input and the unit's activation along the way.

    Attributes:
        image: (C, H, W) NumPy array (in the network's input space).
        values: the activation at each step (on the un-jittered input: first and last).
    """

    image: numpy.ndarray
    values: list[float] = field(default_factory=list)


def gaussian_blur(x: Any, sigma: float) -> Any:
    """Separable Gaussian blur of (N, C, H, W) over H and W, edges replicated.

    k(t) = exp(-t^2 / (2 sigma^2)) / Z for |t| <= ceil(2 sigma), applied along each axis.
    """
    if sigma <= 0:
        return x
    xp = backend.get_array_module(x)
    r = int(numpy.ceil(2 * sigma))
    t = numpy.arange(-r, r + 1)
    k = numpy.exp(-(t**2) / (2 * sigma**2))
    k = (k / k.sum()).tolist()
    h, w = x.shape[2:]
    p = xp.pad(x, ((0, 0), (0, 0), (r, r), (r, r)), mode="edge")  # (N, C, H+2r, W+2r)
    rows = sum(k[i] * p[:, :, i : i + h, :] for i in range(2 * r + 1))  # (N, C, H, W+2r)
    return sum(k[j] * rows[:, :, :, j : j + w] for j in range(2 * r + 1))


def _activation(layers: list, x: Any, stop: int, channel: int, position: Any) -> tuple:
    xt = Tensor(x, requires_grad=True)
    y = run_layers(layers, xt, stop)
    if y.ndim == 4 and position is None:
        position = (y.shape[2] // 2, y.shape[3] // 2)  # the centre unit
    seed = unit_seed(y.data, channel, position)
    value = float((y.data * seed).sum())
    return xt, y, seed, value


def maximize(
    model: nn.Module,
    layer: int | str,
    channel: int,
    shape: tuple[int, int, int],
    rng: numpy.random.Generator,
    steps: int = 200,
    lr: float = 0.05,
    l2: float = 1e-3,
    jitter: int = 2,
    blur_every: int = 4,
    blur_sigma: float = 0.5,
    position: tuple[int, int] | None = None,
) -> MaximizeResult:
    """Find an input that maximises one unit of ``layer`` by regularised gradient ascent.

    Args:
        model: the network, in eval mode.
        layer: index or dotted name; the last layer and a class maximises a class score.
        channel: the channel (convolutional layer) or neuron (dense layer).
        shape: (C, H, W) of the input.
        rng: the generator for the starting noise and the jitter.
        steps: ascent steps.
        lr: step size, in input units per step (the gradient is normalised).
        l2: decay lambda, x <- (1 - lambda) x each step.
        jitter: largest random shift J, pixels.
        blur_every: blur every this many steps (0: never).
        blur_sigma: the blur's sigma, pixels.
        position: (i, j) of the unit in a convolutional map; None takes the centre.

    Returns:
        :class:`MaximizeResult`.

    Example:
        >>> res = maximize(net, 3, channel=5, shape=(1, 28, 28),
        ...                rng=numpy.random.default_rng(0), steps=100)
        >>> res.values[-1] > res.values[0]
        True
    """
    if not isinstance(rng, numpy.random.Generator):
        raise TypeError(f"maximize: rng must be a numpy.random.Generator, got {rng!r:.40}")
    if steps < 1 or lr <= 0 or not 0 <= l2 < 1 or jitter < 0:
        raise ValueError(
            f"maximize: need steps >= 1, lr > 0, 0 <= l2 < 1, jitter >= 0; got steps {steps}, "
            f"lr {lr}, l2 {l2}, jitter {jitter}"
        )
    layers = layer_list(model)
    stop, _ = resolve_layer(model, layer)
    device, dtype = model_device(model)
    x = backend.to_device((0.01 * rng.standard_normal((1,) + tuple(shape))).astype(dtype),
                          device)
    xp = backend.get_array_module(x)
    values = [_activation(layers, x, stop, channel, position)[3]]
    for step in range(steps):
        dy, dx = (int(v) for v in rng.integers(-jitter, jitter + 1, size=2))
        xt, y, seed, _ = _activation(layers, xp.roll(x, (dy, dx), axis=(2, 3)), stop,
                                     channel, position)
        y.backward(seed)
        g = xp.roll(xt.grad, (-dy, -dx), axis=(2, 3))
        x = (1 - l2) * (x + lr * g / (float(xp.abs(g).mean()) + 1e-12))
        if blur_every and (step + 1) % blur_every == 0:
            x = gaussian_blur(x, blur_sigma)
        x = x.astype(dtype, copy=False)
    values.append(_activation(layers, x, stop, channel, position)[3])
    return MaximizeResult(backend.to_numpy(x[0]), values)
