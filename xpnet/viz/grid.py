"""Image grids, colour maps and PNG files, in NumPy only (no matplotlib needed).

Every picture of :mod:`xpnet.viz` is an 8-bit RGB array (H, W, 3) built here and written
by :func:`write_png`, a small PNG encoder on :mod:`zlib`, so filters, feature maps, top
inputs, deconvnet projections and gradient maps work without the optional ``viz``
extra. Only figures with axes and text (training curves, the confusion matrix) need
matplotlib, imported lazily through :func:`require_matplotlib`.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import numpy

from xpnet import backend

__all__ = [
    "colorize",
    "make_grid",
    "normalize",
    "png_bytes",
    "require_matplotlib",
    "side_by_side",
    "to_hwc",
    "upscale",
    "write_png",
]

# anchor colours of matplotlib's "inferno" (black -> purple -> orange -> yellow) and a
# diverging blue-white-red map, linearly interpolated between anchors
_CMAPS = {
    "inferno": [
        (0.0, (0, 0, 4)), (0.25, (87, 16, 110)), (0.5, (188, 55, 84)),
        (0.75, (249, 142, 9)), (1.0, (252, 255, 164)),
    ],
    "gray": [(0.0, (0, 0, 0)), (1.0, (255, 255, 255))],
    "bwr": [(0.0, (33, 102, 172)), (0.5, (247, 247, 247)), (1.0, (178, 24, 43))],
}


def require_matplotlib() -> Any:
    """Import matplotlib's ``Figure`` class, or say how to install matplotlib.

    Figures are drawn through the object API (``Figure(...).savefig``, rendered by Agg),
    never pyplot, so no global backend is switched and no window can open.

    Returns:
        ``matplotlib.figure.Figure``.

    Raises:
        ImportError: matplotlib is missing; the message names ``pip install "xpnet[viz]"``.
    """
    try:
        from matplotlib.figure import Figure  # noqa: PLC0415  (optional, imported on use)
    except ImportError as err:
        raise ImportError('this figure needs matplotlib: pip install "xpnet[viz]"') from err
    return Figure


def normalize(a: Any, per_image: bool = True, symmetric: bool = False) -> numpy.ndarray:
    """Scale values to [0, 1] for display: (a - min) / (max - min).

    Args:
        a: array (N, ...) (or one image when ``per_image`` is False), NumPy or CuPy.
        per_image: one min/max per leading index (each filter its own contrast).
        symmetric: map [-m, m] to [0, 1] with m = max |a|, so that 0 stays mid-grey
            (signed weights and gradients).

    Returns:
        float64 NumPy array of a's shape in [0, 1]; a constant image becomes 0.5.
    """
    a = backend.to_numpy(a).astype(numpy.float64)
    axes = tuple(range(1, a.ndim)) if per_image and a.ndim > 1 else None
    if symmetric:
        m = numpy.abs(a).max(axis=axes, keepdims=True)
        return numpy.where(m > 0, 0.5 + 0.5 * a / numpy.where(m > 0, m, 1.0), 0.5)
    lo = a.min(axis=axes, keepdims=True)
    span = a.max(axis=axes, keepdims=True) - lo
    return numpy.where(span > 0, (a - lo) / numpy.where(span > 0, span, 1.0), 0.5)


def colorize(values: Any, cmap: str = "inferno") -> numpy.ndarray:
    """Map values in [0, 1] to RGB through a colour map.

    Args:
        values: array (...), values in [0, 1] (clipped).
        cmap: "inferno" (heat maps), "gray" or "bwr" (signed, 0.5 = white).

    Returns:
        float64 array (..., 3) in [0, 1].
    """
    if cmap not in _CMAPS:
        raise ValueError(f"colorize: cmap must be one of {sorted(_CMAPS)}, got {cmap!r}")
    v = numpy.clip(backend.to_numpy(values).astype(numpy.float64), 0.0, 1.0)
    stops = numpy.array([s for s, _ in _CMAPS[cmap]])
    colours = numpy.array([c for _, c in _CMAPS[cmap]], dtype=numpy.float64) / 255.0
    return numpy.stack([numpy.interp(v, stops, colours[:, i]) for i in range(3)], axis=-1)


def to_hwc(image: Any) -> numpy.ndarray:
    """One image (C, H, W) with C in {1, 3}, or (H, W), as float (H, W, 3) for display."""
    a = backend.to_numpy(image).astype(numpy.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[0] not in (1, 3):
        raise ValueError(f"to_hwc: expected (C, H, W) with C 1 or 3, or (H, W); got {a.shape}")
    return numpy.repeat(a, 3, axis=0).transpose(1, 2, 0) if a.shape[0] == 1 else (
        a.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    )


def make_grid(
    images: Any,
    ncol: int | None = None,
    pad: int = 1,
    pad_value: float = 1.0,
    scale: int = 1,
    channels_last: bool = False,
) -> numpy.ndarray:
    """Tile images into one picture, row by row.

    Args:
        images: (N, C, H, W) with C 1 or 3 and values in [0, 1], or (N, H, W, 3) RGB
            with ``channels_last``.
        ncol: tiles per row (default: ceil(sqrt(N))).
        pad: pixels between tiles (before scaling).
        pad_value: grey level of the gaps (1 = white).
        scale: nearest-neighbour enlargement of each pixel (small kernels).
        channels_last: the images are already RGB (N, H, W, 3) (colour-mapped tiles).

    Returns:
        float64 RGB array (rows*(H+pad)-pad+..., 3) in [0, 1].

    Shape:
        (N, C, H, W) -> (r (H + pad) + pad, c (W + pad) + pad, 3), r = ceil(N / c),
        times ``scale``.

    Example:
        >>> make_grid(numpy.zeros((6, 1, 5, 5)), ncol=3).shape
        (13, 19, 3)
    """
    a = backend.to_numpy(images).astype(numpy.float64)
    if a.ndim != 4:
        raise ValueError(f"make_grid: expected 4-D images, got shape {a.shape}")
    if not channels_last:
        a = numpy.stack([to_hwc(im) for im in a])  # (N, C, H, W) -> (N, H, W, 3)
    elif a.shape[-1] != 3:
        raise ValueError(f"make_grid: channels_last images must be (N, H, W, 3), got {a.shape}")
    n, h, w, _ = a.shape
    ncol = max(1, min(n, ncol or int(numpy.ceil(numpy.sqrt(n)))))
    nrow = -(-n // ncol)
    out = numpy.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, 3), pad_value)
    for i in range(n):
        r, c = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        out[top : top + h, left : left + w] = a[i]
    return upscale(out, scale)


def upscale(image: numpy.ndarray, scale: int) -> numpy.ndarray:
    """Nearest-neighbour enlargement of an (H, W, ...) image by an integer factor."""
    if scale < 1:
        raise ValueError(f"upscale: scale must be >= 1, got {scale}")
    if scale == 1:
        return image
    return numpy.repeat(numpy.repeat(image, scale, axis=0), scale, axis=1)


def side_by_side(*images: numpy.ndarray, gap: int = 4, value: float = 1.0) -> numpy.ndarray:
    """Join RGB images (H_i, W_i, 3) left to right, top-aligned, with white gaps."""
    h = max(im.shape[0] for im in images)
    parts = []
    for i, im in enumerate(images):
        block = numpy.full((h, im.shape[1], 3), value)
        block[: im.shape[0]] = im
        parts.append(block)
        if i < len(images) - 1:
            parts.append(numpy.full((h, gap, 3), value))
    return numpy.concatenate(parts, axis=1)


def _to_uint8(image: Any) -> numpy.ndarray:
    a = numpy.asarray(image)
    if a.dtype != numpy.uint8:
        a = numpy.round(numpy.clip(a.astype(numpy.float64), 0.0, 1.0) * 255).astype(numpy.uint8)
    if a.ndim == 2:
        a = numpy.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"png: expected (H, W, 3) or (H, W), got shape {a.shape}")
    return a


def png_bytes(image: Any) -> bytes:
    """Encode an RGB image as PNG bytes (8-bit, no interlace, zlib level 6).

    Args:
        image: (H, W, 3) or (H, W) floats in [0, 1] (clipped) or uint8.

    Returns:
        The PNG file's bytes.
    """
    a = _to_uint8(image)
    h, w, _ = a.shape
    rows = numpy.concatenate([numpy.zeros((h, 1), numpy.uint8), a.reshape(h, w * 3)], axis=1)

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))


def write_png(image: Any, path: str | Path) -> Path:
    """Write an RGB image (see :func:`png_bytes`) to ``path``, creating its folder.

    Returns:
        The path written.

    Example:
        >>> write_png(make_grid(numpy.random.default_rng(0).random((4, 1, 5, 5))), "f.png")
        PosixPath('f.png')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(image))
    return path
