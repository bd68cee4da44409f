"""The multi-layer perceptron: dense layers with a non-linearity between them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy

from xpnet import nn

__all__ = ["mlp"]

_ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def mlp(
    sizes: Sequence[int] = (784, 256, 10),
    activation: str = "relu",
    output_activation: str | None = None,
    rng: numpy.random.Generator | None = None,
) -> nn.Sequential:
    """A fully-connected network, Flatten -> (Linear -> f) * k -> Linear [-> g].

    y = W_k f(... f(W_1 x + b_1) ...) + b_k, trained by back-propagation (Rumelhart et al. 1986).
    The input is flattened first, so images (N, 1, 28, 28) go in as they are.

    Args:
        sizes: units per layer, input first: (784, 256, 10) is 784-256-10.
        activation: "relu", "sigmoid" (logistic) or "tanh" between layers.
        output_activation: None for raw scores (give them to
            ``F.softmax_cross_entropy``), or "sigmoid"/"tanh"/"relu" after the last layer
            (logistic output units, for the squared-error cost).
        rng: generator for the initial weights (PyTorch's default init per layer).

    Returns:
        A :class:`xpnet.nn.Sequential`; the Linear layers sit at indices 1, 3, 5, ...

    Example:
        >>> net = mlp((784, 256, 10), rng=numpy.random.default_rng(0))
        >>> net(Tensor(numpy.zeros((2, 1, 28, 28), numpy.float32))).shape
        (2, 10)
    """
    sizes = tuple(sizes)
    if len(sizes) < 2 or not all(
        isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes
    ):
        raise ValueError(f"mlp: sizes must hold at least 2 positive ints, got {sizes}")
    for name, value in (("activation", activation), ("output_activation", output_activation)):
        if value is not None and value not in _ACTIVATIONS:
            raise ValueError(f"mlp: {name} must be one of {sorted(_ACTIVATIONS)}, got {value!r}")
    if activation is None:
        raise ValueError(f"mlp: activation must be one of {sorted(_ACTIVATIONS)}, got None")
    rng = numpy.random.default_rng() if rng is None else rng
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out, rng=rng))
        if i < len(sizes) - 2:
            layers.append(_ACTIVATIONS[activation]())
    if output_activation is not None:
        layers.append(_ACTIVATIONS[output_activation]())
    return nn.Sequential(*layers)
