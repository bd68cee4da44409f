"""A folder of images with one sub-folder per class (ImageNet style), decoded lazily.

``root/<class>/<image>``; classes are the sub-folder names in sorted order. Images are
decoded by Pillow only when a batch asks for them, resized so the shorter side is
``size`` and centre-cropped to ``size x size``, so a tree larger than memory trains.
Pillow is optional (``pip install pillow``); it is imported on first use.

What is a class: a sub-folder that is not hidden (``.ipynb_checkpoints``, ``.git``),
holds at least one image file (not hidden either: macOS's ``._x.jpg``), and is not a
link back to the tree itself or above it (a symlink loop). Splits kept in sub-trees
(``train/``, ``val/``) are numbered by the training tree's classes
(:func:`class_folders` of it, given as ``classes``): a class missing from a split is
fine, a class the training tree does not have is an error, never a silent renumbering.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy

from xpnet.data.datasets import limits
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


def image_files(folder: Path) -> list[Path]:
    """The image files of ``folder`` (by extension; hidden ones skipped), sorted by name."""
    try:
        entries = list(folder.iterdir())
    except OSError:  # unreadable, or a link that leads nowhere
        return []
    return sorted(f for f in entries if not f.name.startswith(".")
                  and f.suffix.lower() in IMAGE_EXTENSIONS and f.is_file())


def _has_image(folder: Path) -> bool:
    """Whether ``folder`` holds an image file: stops at the first (a class of ImageNet
    holds 1,300), where :func:`image_files` lists them all."""
    try:
        with os.scandir(folder) as entries:
            return any(not e.name.startswith(".") and
                       os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS and
                       e.is_file() for e in entries)
    except OSError:
        return False


def class_folders(root: str | Path) -> list[str]:
    """The class sub-folders of ``root`` (see the module notes), sorted by name.

    Example:
        >>> class_folders("~/data/bees/train")  # doctest: +SKIP
        ['ant', 'bee', 'cat']
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        return []
    real_root = os.path.realpath(root)
    found = []
    for d in root.iterdir():
        if d.name.startswith(".") or not d.is_dir():  # is_dir() is False for a link loop
            continue
        real = os.path.realpath(d)
        if real == real_root or real_root.startswith(real.rstrip(os.sep) + os.sep):
            continue  # a link to the tree or above it: its images are not a class
        if _has_image(d):
            found.append(d.name)
    return sorted(found)


def is_image_tree(root: str | Path) -> bool:
    """True when ``root`` has at least one class sub-folder holding an image file."""
    return bool(class_folders(root))


def _too_many_pixels(path: Path, w: int, h: int) -> DataFormatError:
    return DataFormatError(f"{path}: an image of {w}x{h} = {w * h:,} pixels, more than the "
                           f"{limits.MAX_IMAGE_PIXELS:,} xpnet decodes (a decompression "
                           "bomb?); refused before decoding")


def open_image(path: Path):
    """``PIL.Image.open(path)``, refused before decoding when it has too many pixels.

    Raises:
        DataFormatError: more than :data:`limits.MAX_IMAGE_PIXELS` pixels (Pillow's own
            DecompressionBombError included), or not an image Pillow can read.
    """
    Image, UnidentifiedImageError = _pillow()
    try:
        with warnings.catch_warnings():  # the limit is checked below, with xpnet's message
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise DataFormatError(f"{path}: refused before decoding, a decompression bomb? "
                              f"({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataFormatError(f"{path}: corrupt image: {exc}") from exc
    w, h = img.size
    if w * h > limits.MAX_IMAGE_PIXELS:
        img.close()
        raise _too_many_pixels(path, w, h)
    return img


def decode_image(path: Path, size: int, channels: int) -> numpy.ndarray:
    """Decode one image to uint8 ``(channels, size, size)``: the centre square of side
    min(W, H), resized to ``size x size`` (the shorter side to ``size``, then the centre).

    Only the centre square is resampled, so a long thin image (1 x 100,000) costs no more
    memory than a square one.

    Raises:
        DataFormatError: the file is not a readable image (corrupt or truncated), or has
            more pixels than :data:`limits.MAX_IMAGE_PIXELS`.
    """
    Image, UnidentifiedImageError = _pillow()
    try:
        with open_image(path) as img:
            img = img.convert("RGB" if channels == 3 else "L")
            w, h = img.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            box = (left, top, left + side, top + side)  # the centre square
            if side == size:  # no resampling: the centre crop exactly
                img = img.crop(box)
            else:  # resampled straight to size x size
                img = img.resize((size, size), Image.BILINEAR, box=box)
            array = numpy.asarray(img, dtype=numpy.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, DataFormatError):
            raise
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
        classes: the class names and their order (a validation or test tree gets the
            training tree's); None: this tree's own :func:`class_folders`.

    Attributes:
        paths: the image files, sorted by class then name.
        y: int64 labels ``(N,)``, indices into ``classes``.

    Raises:
        FileNotFoundError: ``root`` has no class sub-folder with images.
        DataFormatError: ``root`` has a class folder that is not among ``classes``.
        ImportError: Pillow is not installed (the message says how to install it).

    Example:
        >>> ds = ImageFolder("~/data/imagenet/train", size=256)  # doctest: +SKIP
        >>> x, y = ds.get_batch(numpy.arange(4))  # doctest: +SKIP
        >>> x.shape  # doctest: +SKIP
        (4, 3, 256, 256)
    """

    def __init__(self, root: str | Path, size: int = 224, channels: int = 3,
                 classes: Sequence[str] | None = None) -> None:
        root = Path(root).expanduser()
        if channels not in (1, 3):
            raise ValueError(f"ImageFolder: channels must be 1 or 3, got {channels}")
        if size < 1:
            raise ValueError(f"ImageFolder: size must be positive, got {size}")
        _pillow()  # fail early with the install hint
        found = class_folders(root)
        classes = found if classes is None else [str(c) for c in classes]
        unknown = sorted(set(found) - set(classes))
        if unknown:
            raise DataFormatError(
                f"{root}: class folder{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(unknown)} not among the {len(classes)} classes of the training "
                f"split ({_listing(classes)})")
        index = {name: k for k, name in enumerate(classes)}
        paths, labels = [], []
        for name in found:
            files = image_files(root / name)
            paths += files
            labels += [index[name]] * len(files)
        if not paths:
            raise FileNotFoundError(
                f"{root}: no images in class sub-folders (expected root/<class>/<image> with "
                f"extensions {', '.join(IMAGE_EXTENSIONS)})"
            )
        self.root = root
        self.paths = paths
        self.y = numpy.asarray(labels, dtype=numpy.int64)
        self.classes = list(classes)
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


def _listing(names: Sequence[str], most: int = 8) -> str:
    shown = ", ".join(names[:most])
    return shown + (f", ... ({len(names) - most} more)" if len(names) > most else "")
