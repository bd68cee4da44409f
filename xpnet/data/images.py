"""Reading one image file, or a .npy array, as a model's input."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy

from xpnet.data.datasets.image_folder import open_image
from xpnet.data.datasets.npz import read_npy_header
from xpnet.data.errors import DataFormatError

__all__ = ["read_image"]


def read_image(path: str | os.PathLike, shape: Sequence[int]) -> numpy.ndarray:
    """Read an image file or a .npy array as float32 (C, H, W) of the model's ``shape``.

    PNG/JPEG/... (Pillow) are converted to grey (C = 1) or RGB (C = 3), resized to H x W
    and scaled to [0, 1], as the data sets deliver images; one of more than
    :data:`xpnet.data.datasets.limits.MAX_IMAGE_PIXELS` pixels is refused before it is
    decoded. A ``.npy`` array of shape (H, W), (C, H, W) or (H, W, C) must already have
    the size; uint8 is scaled by 1/255. A .npy file is read without pickles (no code
    runs), and its header is checked against the model's shape and the file's size
    before its data is read.

    Args:
        path: the file.
        shape: the model's (C, H, W).

    Returns:
        float32 array (C, H, W).

    Raises:
        FileNotFoundError: no such file.
        ValueError: an array of the wrong shape or kind, a damaged .npy, an .npz named
            .npy, an image over the pixel limit, or a file Pillow cannot read.
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
        from PIL import Image  # noqa: PLC0415
    except ImportError:
        raise ImportError("reading images needs Pillow: pip install 'xpnet[images]'") from None
    if c not in (1, 3):
        raise ValueError(f"{path}: the model takes {c}-channel inputs; give a .npy array")
    try:
        with open_image(p) as im:
            im = im.convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR)
            a = numpy.asarray(im, dtype=numpy.uint8)
    except DataFormatError as e:
        raise ValueError(str(e).replace(": corrupt image: ", ": not an image Pillow can "
                                        "read: ", 1)) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"{path}: not an image Pillow can read: {e}") from None
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)  # (H, W[, C]) -> (C, H, W)
    return a.astype(numpy.float32) / 255.0


def _read_npy(p: Path, shape: tuple[int, int, int]) -> numpy.ndarray:
    """A .npy input: its header is checked (numbers, an accepted shape, the file's exact
    size) before its data is read, so no header can make it allocate more than one input."""
    c = shape[0]
    size = p.stat().st_size
    if size == 0:
        raise ValueError(f"{p}: an empty file, not a .npy array")
    with open(p, "rb") as f:
        if f.read(4) == b"PK\x03\x04":
            raise ValueError(f"{p}: an .npz archive named .npy; give each input as one .npy "
                             "array (numpy.save)")
        f.seek(0)
        announced, fortran, dtype = read_npy_header(f, str(p))
        if dtype.kind not in "uifb":
            raise ValueError(f"{p}: an array of {dtype}; expected numbers")
        if math.prod(announced) != math.prod(shape):
            seen = (1, *announced) if len(announced) == 2 else announced  # as (C, H, W)
            raise ValueError(f"{p}: an array of shape {seen}; the model takes {shape}")
        data = f.read(math.prod(announced) * dtype.itemsize + 1)
    if len(data) != math.prod(announced) * dtype.itemsize:
        raise ValueError(f"{p}: truncated or padded: {size:,} bytes do not hold the "
                         f"{announced} array its header announces")
    a = numpy.frombuffer(data, dtype).reshape(announced, order="F" if fortran else "C")
    if a.ndim == 2:
        a = a[None]  # (H, W) -> (1, H, W)
    elif a.ndim == 3 and a.shape[0] != c and a.shape[2] == c:
        a = a.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)
    if a.shape != shape:
        raise ValueError(f"{p}: an array of shape {a.shape}; the model takes {shape}")
    if a.dtype.kind == "f" and not numpy.isfinite(a).all():
        raise ValueError(f"{p}: the array holds NaN or inf values")
    return (a.astype(numpy.float32) / 255.0 if a.dtype == numpy.uint8
            else a.astype(numpy.float32))
