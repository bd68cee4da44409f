"""Reading one image file, or a .npy array, as a model's input."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy

__all__ = ["read_image"]


def read_image(path: str | os.PathLike, shape: Sequence[int]) -> numpy.ndarray:
    """Read an image file or a .npy array as float32 (C, H, W) of the model's ``shape``.

    PNG/JPEG/... (Pillow) are converted to grey (C = 1) or RGB (C = 3), resized to H x W
    and scaled to [0, 1], as the data sets deliver images. A ``.npy`` array of shape
    (H, W), (C, H, W) or (H, W, C) must already have the size; uint8 is scaled by 1/255.
    A .npy file is read without pickles (no code runs).

    Args:
        path: the file.
        shape: the model's (C, H, W).

    Returns:
        float32 array (C, H, W).

    Raises:
        FileNotFoundError: no such file.
        ValueError: an array of the wrong shape or kind, or a file Pillow cannot read.
        ImportError: an image file without Pillow installed.

    Example:
        >>> read_image("seven.png", (1, 28, 28)).shape
        (1, 28, 28)
    """
    c, h, w = (int(n) for n in shape)
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if p.suffix.lower() == ".npy":
        return _read_npy(p, (c, h, w))
    try:
        from PIL import Image, UnidentifiedImageError  # noqa: PLC0415
    except ImportError:
        raise ImportError("reading images needs Pillow: pip install 'xpnet[images]'") from None
    if c not in (1, 3):
        raise ValueError(f"{path}: the model takes {c}-channel inputs; give a .npy array")
    try:
        with Image.open(p) as im:
            im = im.convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR)
            a = numpy.asarray(im, dtype=numpy.uint8)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise ValueError(f"{path}: not an image Pillow can read ({e})") from None
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)  # (H, W[, C]) -> (C, H, W)
    return a.astype(numpy.float32) / 255.0


def _read_npy(p: Path, shape: tuple[int, int, int]) -> numpy.ndarray:
    c = shape[0]
    try:
        a = numpy.load(p, allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"{p}: not a .npy array of numbers ({e})") from None
    if a.dtype.kind not in "uif" and a.dtype != numpy.bool_:
        raise ValueError(f"{p}: an array of {a.dtype}; expected numbers")
    if a.ndim == 2:
        a = a[None]  # (H, W) -> (1, H, W)
    elif a.ndim == 3 and a.shape[0] != c and a.shape[2] == c:
        a = a.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)
    if a.shape != shape:
        raise ValueError(f"{p}: an array of shape {a.shape}; the model takes {shape}")
    return (a.astype(numpy.float32) / 255.0 if a.dtype == numpy.uint8
            else a.astype(numpy.float32))
