"""A folder of images with one sub-folder per class (ImageNet style), decoded lazily.

``root/<class>/<image>``; classes are the sub-folder names in sorted order. Images are
decoded by Pillow only when a batch asks for them, resized so the shorter side is
``size`` and centre-cropped to ``size x size``, so a tree larger than memory trains.
Pillow is optional (``pip install pillow``); it is imported on first use.
"""

from __future__ import annotations

from pathlib import Path

import numpy

from xpnet.data.datasets.base import Dataset, check_indices
from xpnet.data.errors import DataFormatError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff",
                    ".webp")


def _pillow():
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:
        raise ImportError(
            "reading a folder of images needs Pillow: pip install pillow "
            "(or pip install 'xpnet[images]')"
        ) from exc
    return Image, UnidentifiedImageError


def is_image_tree(root: str | Path) -> bool:
    """True when ``root`` has at least one sub-folder holding an image file."""
    root = Path(root)
    if not root.is_dir():
        return False
    return any(
        d.is_dir() and any(f.suffix.lower() in IMAGE_EXTENSIONS for f in d.iterdir())
        for d in root.iterdir()
    )


def decode_image(path: Path, size: int, channels: int) -> numpy.ndarray:
    """Decode one image to uint8 ``(channels, size, size)``: shorter side to ``size``, then
    the centre ``size x size``.

    Raises:
        DataFormatError: the file is not a readable image (corrupt or truncated).
    """
    Image, UnidentifiedImageError = _pillow()
    try:
        with Image.open(path) as img:
            img = img.convert("RGB" if channels == 3 else "L")
            w, h = img.size
            scale = size / min(w, h)
            new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
            if (new_w, new_h) != (w, h):
                img = img.resize((new_w, new_h), Image.BILINEAR)
            left, top = (new_w - size) // 2, (new_h - size) // 2
            img = img.crop((left, top, left + size, top + size))
            array = numpy.asarray(img, dtype=numpy.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataFormatError(f"{path}: corrupt image: {exc}") from exc
    if channels == 1:
        return array[None]  # (H, W) -> (1, H, W)
    return array.transpose(2, 0, 1)  # (H, W, 3) -> (3, H, W)


class ImageFolder(Dataset):
    """Images in ``root/<class>/`` decoded per batch (nothing is held in memory but paths).

    Args:
        root: the folder whose sub-folders are the classes.
        size: side of the square images returned (shorter side resized, centre crop).
        channels: 3 (RGB) or 1 (grey).

    Attributes:
        paths: the image files, sorted by class then name.
        y: int64 labels ``(N,)``.

    Raises:
        FileNotFoundError: ``root`` has no class sub-folder with images.
        ImportError: Pillow is not installed (the message says how to install it).

    Example:
        >>> ds = ImageFolder("~/data/imagenet/train", size=256)  # doctest: +SKIP
        >>> x, y = ds.get_batch(numpy.arange(4))  # doctest: +SKIP
        >>> x.shape  # doctest: +SKIP
        (4, 3, 256, 256)
    """

    def __init__(self, root: str | Path, size: int = 224, channels: int = 3) -> None:
        root = Path(root).expanduser()
        if channels not in (1, 3):
            raise ValueError(f"ImageFolder: channels must be 1 or 3, got {channels}")
        if size < 1:
            raise ValueError(f"ImageFolder: size must be positive, got {size}")
        _pillow()  # fail early with the install hint
        classes = sorted(d.name for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
        paths, labels = [], []
        for k, name in enumerate(classes):
            files = sorted(f for f in (root / name).iterdir()
                           if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
            paths += files
            labels += [k] * len(files)
        if not paths:
            raise FileNotFoundError(
                f"{root}: no images in class sub-folders (expected root/<class>/<image> with "
                f"extensions {', '.join(IMAGE_EXTENSIONS)})"
            )
        self.root = root
        self.paths = paths
        self.y = numpy.asarray(labels, dtype=numpy.int64)
        self.classes = classes
        self.num_classes = len(classes)
        self.size = size
        self.channels = channels
        self.shape = (channels, size, size)

    def __len__(self) -> int:
        return len(self.paths)

    def get_batch(self, indices) -> tuple[numpy.ndarray, numpy.ndarray]:
        """Decode the images at ``indices``: x float32 ``(B, C, size, size)`` in [0, 1]."""
        indices = check_indices(indices, len(self), "ImageFolder")
        x = numpy.empty((len(indices),) + self.shape, numpy.float32)
        for row, i in enumerate(indices):
            x[row] = decode_image(self.paths[i], self.size, self.channels)
        x *= numpy.float32(1.0 / 255.0)
        return x, self.y[indices]
