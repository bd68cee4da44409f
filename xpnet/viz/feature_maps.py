"""Feature maps, and the layer walking that every visualisation shares.

A network is seen as the chain of its leaf layers: a :class:`~xpnet.nn.Sequential` is
expanded recursively (so ``features.3`` of a nested model is one step of the chain) and
any other Module is one step. A layer is addressed by its position in that chain (an
int, negative counts from the end) or by its dotted name as in ``named_modules()``
(``"3"``, ``"features.3"``). :func:`run_layers` applies the chain up to a layer, and can
swap the ReLU layers for another rule (guided back-propagation, deconvnet), which is how
:mod:`xpnet.viz.saliency` changes a backward pass without touching the core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy

from xpnet import backend, nn
from xpnet.function import no_grad
from xpnet.tensor import Tensor
from xpnet.viz.grid import colorize, make_grid, normalize

__all__ = [
    "as_input",
    "feature_maps",
    "feature_maps_image",
    "layer_list",
    "model_device",
    "resolve_layer",
    "run_layers",
]


def layer_list(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's leaf layers in the order a forward pass applies them.

    Args:
        model: a Sequential (possibly nested) or any single Module.

    Returns:
        ``[(dotted name, module), ...]``; a non-Sequential model is one entry named "".

    Example:
        >>> [n for n, _ in layer_list(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))]
        ['0', '1']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"layer_list: expected an xpnet Module, got {type(model).__name__}")

    def walk(module: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
        if not isinstance(module, nn.Sequential):
            return [(prefix, module)]
        out: list[tuple[str, nn.Module]] = []
        for name, child in module.named_children():
            out += walk(child, f"{prefix}.{name}" if prefix else name)
        return out

    return walk(model, "")


def resolve_layer(model: nn.Module, layer: int | str) -> tuple[int, str]:
    """Position and name of ``layer`` (an index in :func:`layer_list` or a dotted name).

    Raises:
        ValueError: no such layer; the message lists the layers.
    """
    layers = layer_list(model)
    names = [n for n, _ in layers]
    if isinstance(layer, str) and layer in names:
        i = names.index(layer)
        return i, names[i]
    if isinstance(layer, str) and layer.lstrip("-").isdigit():
        layer = int(layer)
    if isinstance(layer, int) and not isinstance(layer, bool) and -len(names) <= layer < len(
        names
    ):
        i = layer % len(names)
        return i, names[i]
    listing = ", ".join(f"{i}:{n}({type(m).__name__})" for i, (n, m) in enumerate(layers))
    raise ValueError(f"no layer {layer!r} in the model; layers are {listing}")


def model_device(model: nn.Module) -> tuple[str, Any]:
    """The device and floating dtype of the model's first parameter (cpu/float32 if none)."""
    for p in model.parameters():
        return backend.device_of(p.data), p.data.dtype
    return "cpu", numpy.dtype(backend.DEFAULT_DTYPE)


def as_input(model: nn.Module, x: Any, requires_grad: bool = False) -> Tensor:
    """``x`` (array or Tensor) as a new leaf Tensor on the model's device and dtype."""
    device, dtype = model_device(model)
    data = x.data if isinstance(x, Tensor) else x
    data = backend.to_device(data, device)
    xp = backend.get_array_module(data)
    return Tensor(xp.asarray(data, dtype=dtype), requires_grad=requires_grad)


def run_layers(
    layers: list[tuple[str, nn.Module]],
    x: Tensor,
    stop: int | None = None,
    relu: Callable[[Tensor], Tensor] | None = None,
    on_output: Callable[[int, nn.Module, Any], None] | None = None,
) -> Tensor:
    """Apply ``layers[0..stop]`` (inclusive; all when None) to ``x``.

    Args:
        layers: from :func:`layer_list`.
        x: the input Tensor.
        stop: index of the last layer applied.
        relu: replacement for every :class:`~xpnet.nn.ReLU` layer (a guided ReLU ...).
        on_output: called as ``on_output(i, module, output)`` after each layer; pooling
            layers that return ``(y, indices)`` pass the pair, and only y flows on.

    Returns:
        The output Tensor of layer ``stop``.
    """
    stop = len(layers) - 1 if stop is None else stop
    for i, (_, m) in enumerate(layers[: stop + 1]):
        y = relu(x) if relu is not None and isinstance(m, nn.ReLU) else m(x)
        if on_output is not None:
            on_output(i, m, y)
        x = y[0] if isinstance(y, tuple) else y
    return x


def feature_maps(model: nn.Module, x: Any, layer: int | str) -> numpy.ndarray:
    """The activations of ``layer`` for a batch of inputs (eval mode, no graph).

    Args:
        model: the network (put in eval mode by the caller).
        x: inputs (N, C, H, W) as the model takes them (a run's model: raw images).
        layer: index or dotted name.

    Returns:
        NumPy array (N, C', H', W') for a convolutional layer, (N, D) for a dense one.

    Example:
        >>> feature_maps(net, x_test[:1], 0).shape      # LeNet's conv1
        (1, 6, 28, 28)
    """
    stop, _ = resolve_layer(model, layer)
    with no_grad():
        y = run_layers(layer_list(model), as_input(model, x), stop)
    return backend.to_numpy(y.data)


def feature_maps_image(maps: Any, ncol: int | None = None, scale: int = 3) -> numpy.ndarray:
    """One input's feature maps as a grid of heat maps, each normalised on its own.

    Args:
        maps: (C, H, W) activations of one input (a dense layer's (D,) becomes one row).
        ncol: tiles per row.
        scale: pixel enlargement.

    Returns:
        RGB float array for :func:`xpnet.viz.grid.write_png`.
    """
    a = backend.to_numpy(maps).astype(numpy.float64)
    if a.ndim == 1:
        a = a[None, None, :]  # (D,) -> one (1, D) strip
    if a.ndim != 3:
        raise ValueError(f"feature_maps_image: expected (C, H, W) or (D,), got {a.shape}")
    tiles = colorize(normalize(a))  # (C, H, W, 3)
    return make_grid(tiles, ncol=ncol, scale=scale, channels_last=True)
