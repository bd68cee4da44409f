"""Deconvnet (Zeiler & Fergus 2013): project one activation back to pixel space.

The forward pass runs the network up to the chosen layer and records, at every max
pooling, the switches (where each maximum came from). One activation is kept (the
strongest of a feature map, or a chosen one) and every other is set to zero; the
signal then goes down the layers, each undone by its deconvnet counterpart:

=================  =================================================================
forward layer      on the way down
=================  =================================================================
max pooling        unpooling: each value back at its switch, zeros elsewhere (values
                   of overlapping windows that chose the same input add up)
ReLU               rectification: max(0, r) (the reconstruction is kept positive)
Conv2d (w)         transposed convolution with the same filters: conv_transpose2d(r, w)
Linear (W)         r W (the transposed weights); Flatten: reshape back
Dropout, LRN, ...  passed through (Z&F do not invert contrast normalisation)
anything else      its input gradient (a vector-Jacobian product)
=================  =================================================================

Biases are not used on the way down. The result shows which pixel pattern, at what
strength, produced the activation. Every layer here is linear in r except the ReLU,
which is positively homogeneous, so the projection scales with the activation kept.
"""

from __future__ import annotations

from typing import Any

import numpy

from xpnet import backend, nn
from xpnet import functions as F
from xpnet.function import enable_grad, no_grad
from xpnet.functions.utils import pair
from xpnet.tensor import Tensor
from xpnet.viz.feature_maps import as_input, layer_list, resolve_layer
from xpnet.viz.grid import make_grid, normalize, side_by_side
from xpnet.viz.saliency import unit_seed
from xpnet.viz.top_inputs import TopInputs, crop, get_images

__all__ = ["deconvnet", "deconv_top_image"]

_PASS = ("Dropout", "Dropout2d", "LocalResponseNorm", "Identity")


def _forward(layers: list[tuple[str, nn.Module]], x: Tensor, stop: int) -> tuple[Any, list]:
    """Run to ``stop`` with no graph; record per layer (input, switches or None)."""
    record = []
    with no_grad():
        for _, m in layers[: stop + 1]:
            switches = None
            if isinstance(m, nn.MaxPool2d):
                y, switches = F.max_pool2d(x, m.kernel_size, m.stride, m.padding,
                                           m.ceil_mode, return_indices=True)
            else:
                y = m(x)
                y = y[0] if isinstance(y, tuple) else y
            record.append((x, switches))
            x = y
    return x, record


def _unpool_sum(r: Any, switches: Any, shape: tuple[int, ...]) -> Any:
    """Unpooling for overlapping windows: values chosen twice add up at their switch.

    ``max_unpool2d`` writes each value at its switch, so where two overlapping windows
    (AlexNet's 3x3 stride 2) chose the same input one value is lost; the sum is the exact
    transpose of max pooling, and it is what non-overlapping unpooling gives anyway.
    """
    xp = backend.get_array_module(r)
    n, c, h, w = shape
    planes = xp.arange(n * c, dtype=xp.int64).reshape(n, c, 1, 1) * (h * w)  # (N, C, 1, 1)
    flat = (switches + planes).reshape(-1)  # (N*C*oh*ow,) index into the N*C*H*W output
    out = xp.bincount(flat, weights=r.reshape(-1), minlength=n * c * h * w)
    return out.astype(r.dtype, copy=False).reshape(shape)


def _down(m: nn.Module, r: Tensor, x: Tensor, switches: Any) -> Tensor:
    """One layer of the deconvnet: the signal r at m's output -> at m's input x."""
    if isinstance(m, nn.MaxPool2d):
        (kh, kw), (sh, sw) = pair(m.kernel_size, "k", "deconvnet"), pair(m.stride, "s", "d")
        if sh >= kh and sw >= kw:
            return F.max_unpool2d(r, switches, m.kernel_size, m.stride, m.padding,
                                  output_size=x.shape[2:])
        return Tensor(_unpool_sum(r.data, switches.data, x.shape))
    if isinstance(m, nn.ReLU):
        return F.relu(r)
    if isinstance(m, nn.Conv2d):
        (sh, sw), (ph, pw) = pair(m.stride, "stride", "deconvnet"), pair(m.padding, "p", "d")
        dh, dw = pair(getattr(m, "dilation", 1), "dilation", "deconvnet", 1)
        kh, kw = m.weight.shape[2:]
        # output_padding recovers input sizes that the strided convolution rounded down
        oph = x.shape[2] - ((r.shape[2] - 1) * sh - 2 * ph + dh * (kh - 1) + 1)
        opw = x.shape[3] - ((r.shape[3] - 1) * sw - 2 * pw + dw * (kw - 1) + 1)
        return F.conv_transpose2d(r, m.weight.data, None, (sh, sw), (ph, pw), (oph, opw),
                                  getattr(m, "groups", 1), (dh, dw))
    if isinstance(m, nn.Linear):
        return F.matmul(r, m.weight.data)  # (N, out) @ (out, in) -> (N, in)
    if isinstance(m, nn.Flatten):
        return F.reshape(r, x.shape)
    if type(m).__name__ in _PASS:
        return r
    xg = Tensor(x.data, requires_grad=True)  # any other layer: its vector-Jacobian product
    with enable_grad():
        y = m(xg)
        (y[0] if isinstance(y, tuple) else y).backward(r.data)
    return Tensor(xg.grad)


def deconvnet(
    model: nn.Module,
    x: Any,
    layer: int | str,
    channel: Any,
    position: Any = "max",
    value: float | None = None,
) -> numpy.ndarray:
    """Project one activation per example of ``layer`` back to the input (Zeiler & Fergus).

    Args:
        model: the network, in eval mode.
        x: inputs (N, C, H, W) as the model takes them (a run's model: raw images).
        layer: index or dotted name of the layer whose unit is projected.
        channel: the feature map (int or (N,) ints); for a dense layer, the neuron.
        position: (i, j) or (N, 2) (one per example), "max" (each example's strongest
            activation in that map, as in the paper) or None (the whole map, nothing
            zeroed but the other channels).
        value: the value the kept activation starts from; None keeps the activation
            itself (the paper), 1.0 gives the unit's deconvnet "gradient" (as captum's
            ``NeuronDeconvolution``).

    Returns:
        NumPy array of x's shape: the reconstruction in pixel space.

    Example:
        >>> rec = deconvnet(net, x_test[:9], layer=3, channel=5)   # (9, 1, 28, 28)
    """
    layers = layer_list(model)
    stop, _ = resolve_layer(model, layer)
    y, record = _forward(layers, as_input(model, x), stop)
    mask = unit_seed(y.data, channel, position)
    r = Tensor(mask * (y.data if value is None else value))
    with no_grad():
        for (_, m), (xin, switches) in zip(reversed(layers[: stop + 1]), reversed(record)):
            r = _down(m, r, xin, switches)
    return backend.to_numpy(r.data)


def deconv_top_image(
    model: nn.Module,
    data: Any,
    top: TopInputs,
    channels: list[int],
    scale: int = 3,
) -> numpy.ndarray:
    """Zeiler & Fergus's figure 2: per channel, the deconvnet projections of its top-k
    activations (left) beside the input patches that caused them (right).

    Args:
        model: the network, in eval mode.
        data: the data set that ``top`` was computed on.
        top: from :func:`xpnet.viz.top_inputs.top_inputs`.
        channels: the channels to show, one row each.
        scale: pixel enlargement.

    Returns:
        RGB float array.
    """
    left, right = [], []
    k = top.indices.shape[0]
    for ch in channels:
        ok = top.indices[:, ch] >= 0
        images = get_images(data, top.indices[ok, ch])
        where = top.positions[ok, ch]  # (k, 2) each image's strongest unit
        rec = deconvnet(model, images, top.layer, ch, where if top.field is not None else None)
        pad = numpy.ones((k - len(images), images.shape[1]) + _patch_hw(top, images))
        # signed reconstructions: 0 is mid-grey; patches: their own contrast
        left += [normalize(crop(rec, top.field, where), symmetric=True), pad]
        right += [normalize(crop(images, top.field, where)), pad]
    return side_by_side(make_grid(numpy.concatenate(left), ncol=k, scale=scale),
                        make_grid(numpy.concatenate(right), ncol=k, scale=scale),
                        gap=4 * scale)


def _patch_hw(top: TopInputs, images: numpy.ndarray) -> tuple[int, int]:
    h, w = images.shape[2:]
    if top.field is None:
        return h, w
    return min(top.field.size[0], h), min(top.field.size[1], w)
