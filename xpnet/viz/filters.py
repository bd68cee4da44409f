"""Filters: a convolution layer's kernels as a picture (Zeiler & Fergus fig. 5, slide 25).

The first layer's kernels live in pixel space, so they are shown as images: RGB kernels
in colour, grey ones in grey, each normalised on its own ((w - min) / (max - min)) so a
weak filter is as visible as a strong one. A deeper layer's kernels act on feature maps,
not colours, so they are shown per input channel: one row per filter, one column per
input channel, each slice in grey.
"""

from __future__ import annotations

import numpy

from xpnet import backend, nn
from xpnet.viz.feature_maps import layer_list, resolve_layer
from xpnet.viz.grid import make_grid, normalize

__all__ = ["block_outputs", "conv_layers", "filters_image"]


def conv_layers(model: nn.Module) -> list[int]:
    """Indices (in :func:`~xpnet.viz.feature_maps.layer_list`) of the Conv2d layers."""
    return [i for i, (_, m) in enumerate(layer_list(model)) if isinstance(m, nn.Conv2d)]


def block_outputs(model: nn.Module) -> list[int]:
    """For each Conv2d, the last layer of its stage (the conv and the pooling, ReLU,
    normalisation after it): the feature maps Zeiler & Fergus project.

    Example:
        >>> block_outputs(lenet5(seed=0))     # conv, pool, ReLU twice
        [2, 5]
    """
    layers = layer_list(model)
    out = []
    for i in conv_layers(model):
        j = i
        while j + 1 < len(layers) and not isinstance(
            layers[j + 1][1], (nn.Conv2d, nn.Flatten, nn.Linear)
        ):
            j += 1
        out.append(j)
    return out


def filters_image(
    model: nn.Module,
    layer: int | str | None = None,
    scale: int | None = None,
    max_filters: int = 256,
    max_channels: int = 32,
) -> numpy.ndarray:
    """The kernels of one Conv2d layer as an RGB picture.

    Args:
        model: the network.
        layer: index or dotted name of a Conv2d layer; None picks the first one.
        scale: pixel enlargement (default: enough for about 40-pixel tiles).
        max_filters: show at most this many filters (the first ones).
        max_channels: for a deeper layer, at most this many input channels per filter.

    Returns:
        RGB float array (H, W, 3) in [0, 1]. For a first layer with 1 or 3 input channels:
        a square grid of the O kernels. Otherwise: O rows of C_in grey slices.

    Raises:
        ValueError: the model has no Conv2d layer, or ``layer`` is not one.

    Example:
        >>> write_png(filters_image(lenet5(seed=0)), "filters.png")   # 6 grey 5x5 tiles
    """
    convs = conv_layers(model)
    if not convs:
        raise ValueError("filters_image: the model has no Conv2d layer")
    index = convs[0] if layer is None else resolve_layer(model, layer)[0]
    name, module = layer_list(model)[index]
    if not isinstance(module, nn.Conv2d):
        raise ValueError(
            f"filters_image: layer {name!r} is a {type(module).__name__}, not a Conv2d; "
            f"Conv2d layers are at {convs}"
        )
    w = backend.to_numpy(module.weight.data)[:max_filters]  # (O, C/groups, kh, kw)
    o, c, kh, kw = w.shape
    scale = scale or max(1, 40 // max(kh, kw))
    if index == convs[0] and c in (1, 3):
        return make_grid(normalize(w), scale=scale)  # each filter its own contrast
    c = min(c, max_channels)
    slices = normalize(w[:, :c].reshape(o * c, 1, kh, kw))  # (O*C, 1, kh, kw)
    return make_grid(slices, ncol=c, scale=scale)
