"""Occlusion sensitivity (Zeiler & Fergus 2013, section 4.2).

A grey square slides over the image; at each position the network classifies the
occluded copy, and the probability of the class is recorded. Where the probability
drops, the network was looking: the map localises the object without any gradient.
All occluded copies are built and classified in a few batches, not one at a time.
"""

from __future__ import annotations

from typing import Any

import numpy

from xpnet import backend, nn
from xpnet import functions as F
from xpnet.function import no_grad
from xpnet.viz.feature_maps import as_input
from xpnet.viz.grid import colorize, normalize, side_by_side, to_hwc, upscale

__all__ = ["occlusion", "occlusion_image", "occlusion_positions"]


def occlusion_positions(size: int, extent: int, stride: int) -> numpy.ndarray:
    """Top-left corners 0, s, 2s, ... of a square of ``size`` inside ``extent`` pixels.

    The last corner is ``extent - size`` even when the stride skips it, so the square
    reaches the far edge: n = ceil((extent - size) / stride) + 1 positions.
    """
    if not 1 <= size <= extent or stride < 1:
        raise ValueError(
            f"occlusion: need 1 <= size <= image side and stride >= 1, got size {size}, "
            f"side {extent}, stride {stride}"
        )
    last = extent - size
    return numpy.unique(numpy.append(numpy.arange(0, last + 1, stride), last))


def occlusion(
    model: nn.Module,
    image: Any,
    target: int | None = None,
    size: int = 8,
    stride: int = 2,
    fill: Any = None,
    batch_size: int = 256,
) -> numpy.ndarray:
    """The probability of ``target`` with a square of ``fill`` at each position.

    p[a, b] = softmax(f(x with x[:, r_a : r_a + size, c_b : c_b + size] = fill))[target]
    for the corners r_a, c_b of :func:`occlusion_positions`.

    Args:
        model: the network, in eval mode; its output is class scores.
        image: one image (C, H, W) as the data set gives it.
        target: the class; None takes the class predicted for the whole image.
        size: side of the square, pixels.
        stride: step between positions.
        fill: the square's value per channel (scalar or (C,)); None uses the image's
            own mean per channel, the neutral grey of a mean-subtracted input.
        batch_size: occluded copies per forward pass.

    Returns:
        NumPy float64 (n_rows, n_cols) of probabilities.

    Example:
        >>> p = occlusion(net, x_test[0], size=8, stride=2)     # (11, 11) for 28x28
    """
    img = backend.to_numpy(image)
    if img.ndim != 3:
        raise ValueError(f"occlusion: expected one image (C, H, W), got shape {img.shape}")
    c, h, w = img.shape
    rows, cols = occlusion_positions(size, h, stride), occlusion_positions(size, w, stride)
    fill_c = img.mean(axis=(1, 2)) if fill is None else numpy.broadcast_to(
        numpy.asarray(fill, dtype=img.dtype), (c,))
    fill_c = fill_c.astype(img.dtype)[:, None, None]  # (C, 1, 1)
    if target is None:
        target = int(_probabilities(model, img[None])[0].argmax())
    corners = [(r, q) for r in rows for q in cols]
    out = numpy.empty(len(corners))
    for first in range(0, len(corners), batch_size):
        chunk = corners[first : first + batch_size]
        batch = numpy.repeat(img[None], len(chunk), axis=0)  # (B, C, H, W)
        for t, (r, q) in enumerate(chunk):
            batch[t, :, r : r + size, q : q + size] = fill_c
        out[first : first + len(chunk)] = _probabilities(model, batch)[:, target]
    return out.reshape(len(rows), len(cols))


def _probabilities(model: nn.Module, x: numpy.ndarray) -> Any:
    with no_grad():
        p = F.softmax(model(as_input(model, x)), axis=1)
    return backend.to_numpy(p.data).astype(numpy.float64)


def occlusion_image(image: Any, probs: numpy.ndarray, scale: int = 4) -> numpy.ndarray:
    """The image beside its occlusion map (probability 0 black ... 1 yellow), same height.

    Args:
        image: (C, H, W) in any range (shown normalised).
        probs: from :func:`occlusion`.
        scale: pixel enlargement of the image.

    Returns:
        RGB float array.
    """
    pic = upscale(to_hwc(normalize(numpy.asarray(image)[None])[0]), scale)
    heat = colorize(probs)
    rep = max(1, pic.shape[0] // heat.shape[0])
    return side_by_side(pic, upscale(heat, rep), gap=2 * scale)
