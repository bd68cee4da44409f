"""Filters: a convolution layer's kernels as a picture (Zeiler & Fergus 2013, fig. 5).

The first layer's kernels live in pixel space, so they are shown as images: RGB kernels
in colour, grey ones in grey, each normalised on its own ((w - min) / (max - min)) so a
weak filter is as visible as a strong one. A deeper layer's kernels act on feature maps,
not colours, so they are shown per input channel: one row per filter, one column per
input channel, each slice in grey.

A network without convolutions whose first weighted layer is a dense layer on the
flattened image (an MLP) also has filters in pixel space: hidden unit j's weights
W[j, :], reshaped to the image's (C, H, W), are the image it answers most (per unit of
norm). Those of layer-wise pre-trained units look like strokes and pen blobs.
"""

from __future__ import annotations

import numpy

from xpnet import backend, nn
from xpnet.viz.feature_maps import layer_list, resolve_layer
from xpnet.viz.grid import make_grid, normalize

__all__ = ["block_outputs", "conv_layers", "dense_image_layer", "filters_image"]


def conv_layers(model: nn.Module) -> list[int]:
    """Indices (in :func:`~xpnet.viz.feature_maps.layer_list`) of the Conv2d layers."""
    return [i for i, (_, m) in enumerate(layer_list(model)) if isinstance(m, nn.Conv2d)]


def dense_image_layer(model: nn.Module, input_shape: tuple[int, ...] | None) -> int | None:
    """Index of the first weighted layer when it is a Linear that reads the whole image.

    That is: no Conv2d (or other weighted layer) before it, ``input_shape`` (C, H, W)
    given with C in (1, 3), and in_features = C H W. None otherwise.
    """
    if input_shape is None or len(input_shape) != 3 or input_shape[0] not in (1, 3):
        return None
    for i, (_, m) in enumerate(layer_list(model)):
        if isinstance(m, nn.Linear):
            return i if m.weight.shape[1] == int(numpy.prod(input_shape)) else None
        if any(True for _ in m.parameters()):
            return None  # a conv or another weighted layer comes first
    return None


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
    input_shape: tuple[int, ...] | None = None,
) -> numpy.ndarray:
    """The kernels of one Conv2d layer, or an MLP's first dense layer, as an RGB picture.

    Args:
        model: the network.
        layer: index or dotted name of a Conv2d layer (or of the dense first layer); None
            picks the first Conv2d, else the dense first layer.
        scale: pixel enlargement (default: enough for about 40-pixel tiles).
        max_filters: show at most this many filters (the first ones).
        max_channels: for a deeper layer, at most this many input channels per filter.
        input_shape: the images' (C, H, W); needed for a dense first layer, whose rows
            are shown reshaped to it (see :func:`dense_image_layer`).

    Returns:
        RGB float array (H, W, 3) in [0, 1]. For a first layer with 1 or 3 input channels
        (a convolution's, or a dense layer's on the image): a square grid of its O
        filters, each in its own contrast. Otherwise: O rows of C_in grey slices.

    Raises:
        ValueError: the model has neither a Conv2d layer nor a dense first layer on
            images of ``input_shape``, or ``layer`` is not one.

    Example:
        >>> write_png(filters_image(lenet5(seed=0)), "filters.png")   # 6 grey 5x5 tiles
        >>> filters_image(mlp((784, 500, 10)), input_shape=(1, 28, 28))  # 500 28x28 tiles
    """
    convs = conv_layers(model)
    dense = dense_image_layer(model, input_shape)
    if not convs and dense is None:
        raise ValueError("filters_image: the model has no Conv2d layer" + (
            "" if input_shape is not None else " (for an MLP's first dense layer, give "
            "input_shape)"))
    first = convs[0] if convs else dense
    index = first if layer is None else resolve_layer(model, layer)[0]
    name, module = layer_list(model)[index]
    if index == dense:
        w = backend.to_numpy(module.weight.data)[:max_filters]  # (O, C H W)
        tiles = w.reshape(len(w), *input_shape)  # (O, C, H, W) each unit's weights
        return make_grid(normalize(tiles), scale=scale or max(1, 40 // max(input_shape[1:])))
    if not isinstance(module, nn.Conv2d):
        where = f"Conv2d layers are at {convs}" if convs else "the model has no Conv2d"
        extra = f"; the dense first layer is {dense}" if dense is not None else ""
        raise ValueError(
            f"filters_image: layer {name!r} is a {type(module).__name__}, not a Conv2d; "
            f"{where}{extra}"
        )
    w = backend.to_numpy(module.weight.data)[:max_filters]  # (O, C/groups, kh, kw)
    o, c, kh, kw = w.shape
    scale = scale or max(1, 40 // max(kh, kw))
    if index == convs[0] and c in (1, 3):
        return make_grid(normalize(w), scale=scale)  # each filter its own contrast
    c = min(c, max_channels)
    slices = normalize(w[:, :c].reshape(o * c, 1, kh, kw))  # (O*C, 1, kh, kw)
    return make_grid(slices, ncol=c, scale=scale)
