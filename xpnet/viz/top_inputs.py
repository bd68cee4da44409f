"""Top inputs: the data-set images and patches that excite a unit most (Zeiler & Fergus).

One pass over the data set in batches: each batch runs forward to the chosen layer, each
channel's strongest response per image (its max over positions, and where) is merged into
a running top-k per channel, and the batch's activations are dropped. Memory is bounded
by one batch of activations plus a (k, C) table, whatever the size of the data set.

A unit at position (i, j) of a layer sees a window of the input, its receptive field,
computed from the geometry of the layers below: with jump J (input pixels between
neighbouring units), size R and start S of the layer below, a layer of kernel k
(dilated: d (k - 1) + 1), stride s and padding p gives

    R' = R + (k_eff - 1) J,    S' = S - p J,    J' = J s,

starting from R = 1, S = 0, J = 1 at the input. Unit (i, j) then sees rows
[S + i J, S + i J + R) and columns likewise (clipped to the image).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy

from xpnet import backend, nn
from xpnet.function import no_grad
from xpnet.functions.utils import pair
from xpnet.viz.feature_maps import as_input, layer_list, resolve_layer, run_layers
from xpnet.viz.grid import make_grid, normalize

__all__ = [
    "ReceptiveField",
    "TopInputs",
    "crop",
    "get_images",
    "iter_batches",
    "receptive_field",
    "top_inputs",
    "top_patches_image",
]

# layers that keep the spatial geometry (element-wise or across channels)
_POINTWISE = ("ReLU", "Tanh", "Sigmoid", "Step", "LocalResponseNorm", "Dropout", "Dropout2d",
              "Identity", "Maxout")


@dataclass(frozen=True)
class ReceptiveField:
    """The input window seen by the units of one layer.

    Attributes:
        size: (R_h, R_w) pixels.
        jump: (J_h, J_w) input pixels between neighbouring units.
        start: (S_h, S_w) top-left input pixel of unit (0, 0) (negative inside padding).
    """

    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[int, int]

    def window(self, i: int, j: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) of unit (i, j), bottom/right exclusive, unclipped."""
        top = self.start[0] + i * self.jump[0]
        left = self.start[1] + j * self.jump[1]
        return top, left, top + self.size[0], left + self.size[1]


def receptive_field(model: nn.Module, layer: int | str) -> ReceptiveField | None:
    """The receptive field of the units of ``layer``'s output.

    Convolutions, pooling and locally connected layers (anything with ``kernel_size``,
    ``stride`` and ``padding``) grow it; element-wise layers keep it; after a Flatten or
    a dense layer every unit sees the whole input, and None is returned.

    Example:
        >>> receptive_field(lenet5(seed=0), 3)      # conv2 of LeNet (5x5 after a 2x2 pool)
        ReceptiveField(size=(14, 14), jump=(2, 2), start=(-2, -2))
    """
    stop, _ = resolve_layer(model, layer)
    size, jump, start = [1, 1], [1, 1], [0, 0]
    for _, m in layer_list(model)[: stop + 1]:
        if type(m).__name__ in _POINTWISE:
            continue
        if not all(hasattr(m, a) for a in ("kernel_size", "stride", "padding")):
            return None  # Flatten, Linear, anything mixing all positions
        k = pair(m.kernel_size, "kernel_size", "receptive_field", 1)
        s = pair(m.stride if m.stride is not None else m.kernel_size, "stride",
                 "receptive_field", 1)
        p = pair(m.padding, "padding", "receptive_field", 0)
        d = pair(getattr(m, "dilation", 1), "dilation", "receptive_field", 1)
        for a in range(2):
            size[a] += (d[a] * (k[a] - 1)) * jump[a]
            start[a] -= p[a] * jump[a]
            jump[a] *= s[a]
    return ReceptiveField(tuple(size), tuple(jump), tuple(start))


@dataclass
class TopInputs:
    """The running top-k of every unit of a layer, after a pass over a data set.

    Attributes:
        layer: the layer's name.
        scores: (k, C) float64, the k highest activations of each channel, descending
            (-inf where the data set had fewer than k images).
        indices: (k, C) int64 data-set index of each (-1 where none).
        positions: (k, C, 2) int64 (row, column) of the maximum in the feature map
            (0, 0 for a dense layer).
        field: the layer's receptive field, None for a dense layer (whole image).
        count: number of images seen.
    """

    layer: str
    scores: numpy.ndarray
    indices: numpy.ndarray
    positions: numpy.ndarray
    field: ReceptiveField | None
    count: int


def iter_batches(
    data: Any, batch_size: int, limit: int | None = None
) -> Iterator[tuple[int, numpy.ndarray, numpy.ndarray | None]]:
    """Yield ``(first index, x batch, y batch)`` over a Dataset (``get_batch``), an array
    (y is None) or a pair ``(x, y)`` of arrays."""
    x_all, y_all = data if isinstance(data, tuple) else (data, None)
    n = len(x_all) if limit is None else min(limit, len(x_all))
    for first in range(0, n, batch_size):
        idx = numpy.arange(first, min(first + batch_size, n), dtype=numpy.int64)
        if backend.is_array(x_all):
            y = None if y_all is None else numpy.asarray(y_all)[idx]
            yield first, x_all[first : first + len(idx)], y
        else:
            yield (first, *x_all.get_batch(idx))


def get_images(data: Any, indices: numpy.ndarray) -> numpy.ndarray:
    """The raw images at ``indices`` of a Dataset or an array (as NumPy)."""
    indices = numpy.asarray(indices, dtype=numpy.int64)
    data = data[0] if isinstance(data, tuple) else data
    if backend.is_array(data):
        return backend.to_numpy(data[indices])
    return numpy.asarray(data.get_batch(indices)[0])


def _batch_maxima(y: Any, position: tuple[int, int] | None) -> tuple[Any, Any]:
    """Per image and channel: the strongest response and its flat position."""
    xp = backend.get_array_module(y)
    if y.ndim == 2:  # dense layer: each neuron is one unit
        return y, xp.zeros(y.shape, dtype=xp.int64)
    n, c, h, w = y.shape
    if position is not None:
        flat = position[0] * w + position[1]
        return y[:, :, position[0], position[1]], xp.full((n, c), flat, dtype=xp.int64)
    flat = y.reshape(n, c, h * w)  # (B, C, H*W)
    arg = flat.argmax(axis=2)  # (B, C)
    return xp.take_along_axis(flat, arg[:, :, None], axis=2)[:, :, 0], arg


def top_inputs(
    model: nn.Module,
    data: Any,
    layer: int | str,
    k: int = 9,
    batch_size: int = 256,
    limit: int | None = None,
    position: tuple[int, int] | None = None,
) -> TopInputs:
    """Find, for every channel of ``layer``, the k inputs that activate it most.

    Args:
        model: the network, in eval mode.
        data: a Dataset (``len``, ``get_batch``), an array (N, C, H, W) or (x, y).
        layer: index or dotted name.
        k: images per channel.
        batch_size: images per forward pass (bounds the memory).
        limit: look only at the first ``limit`` images.
        position: score one spatial unit (i, j) instead of each map's maximum.

    Returns:
        :class:`TopInputs`; ties are broken by the lower data-set index.

    Example:
        >>> top = top_inputs(net, x_test, layer=3, k=9)
        >>> top.indices[:, 5]          # the 9 test images that excite channel 5 most
    """
    if k < 1 or batch_size < 1:
        raise ValueError(f"top_inputs: k and batch_size must be >= 1, got {k}, {batch_size}")
    stop, name = resolve_layer(model, layer)
    layers = layer_list(model)
    scores = indices = positions = None
    width, count = 1, 0
    for first, x, _ in iter_batches(data, batch_size, limit):
        with no_grad():
            y = run_layers(layers, as_input(model, x), stop).data
        best, where = (backend.to_numpy(a) for a in _batch_maxima(y, position))
        best = best.astype(numpy.float64)  # (B, C)
        width = y.shape[-1] if y.ndim == 4 else 1
        idx = numpy.broadcast_to(numpy.arange(first, first + len(best))[:, None], best.shape)
        if scores is None:
            c = best.shape[1]
            scores = numpy.full((k, c), -numpy.inf)
            indices = numpy.full((k, c), -1, dtype=numpy.int64)
            positions = numpy.zeros((k, c), dtype=numpy.int64)
        s = numpy.concatenate([scores, best])  # (k + B, C)
        i = numpy.concatenate([indices, idx])
        p = numpy.concatenate([positions, where])
        # per column: descending score, then ascending index; empty slots (-1) sort last
        order = numpy.lexsort((numpy.where(i < 0, numpy.iinfo(numpy.int64).max, i), -s),
                              axis=0)[:k]  # (k, C)
        scores, indices, positions = (numpy.take_along_axis(a, order, axis=0) for a in (s, i, p))
        count += len(best)
        del y
    if scores is None:
        raise ValueError("top_inputs: the data set is empty")
    rc = numpy.stack([positions // width, positions % width], axis=-1)  # (k, C, 2)
    return TopInputs(name, scores, indices, rc, receptive_field(model, layer), count)


def crop(
    images: numpy.ndarray, field: ReceptiveField | None, rows_cols: numpy.ndarray
) -> numpy.ndarray:
    """Cut each image to the receptive field of its unit, zero-padded where it overhangs.

    Args:
        images: (N, C, H, W).
        field: from :func:`receptive_field`; None returns the images whole.
        rows_cols: (N, 2) unit position of each image.

    Returns:
        (N, C, R_h, R_w) patches, clipped to the image size when R exceeds it.
    """
    if field is None:
        return images
    n, c, h, w = images.shape
    rh, rw = min(field.size[0], h), min(field.size[1], w)
    out = numpy.zeros((n, c, rh, rw), dtype=images.dtype)
    for t in range(n):
        top, left, bottom, right = field.window(int(rows_cols[t, 0]), int(rows_cols[t, 1]))
        if field.size[0] > h:
            top, bottom = 0, h  # a field larger than the image: show the whole image
        if field.size[1] > w:
            left, right = 0, w
        t0, l0 = max(top, 0), max(left, 0)
        t1, l1 = min(bottom, h), min(right, w)
        if t1 > t0 and l1 > l0:
            out[t, :, t0 - top : t1 - top, l0 - left : l1 - left] = images[t, :, t0:t1, l0:l1]
    return out


def top_patches_image(
    data: Any, top: TopInputs, channels: list[int], scale: int = 3
) -> numpy.ndarray:
    """A grid with one row per channel: its k top patches, each normalised on its own."""
    rows = []
    for ch in channels:
        ok = top.indices[:, ch] >= 0
        imgs = get_images(data, top.indices[ok, ch])
        rows.append(normalize(crop(imgs, top.field, top.positions[ok, ch])))
    k = max(len(r) for r in rows)
    tiles = numpy.concatenate([
        numpy.concatenate([r, numpy.ones((k - len(r),) + r.shape[1:])]) for r in rows
    ])
    return make_grid(tiles, ncol=k, scale=scale)
