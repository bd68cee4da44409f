"""MNIST / Fashion-MNIST IDX files (plain or gzipped) and the standard four-file folder.

IDX layout (big-endian): two zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions ``d``, then ``d``
uint32 sizes, then the data in C order. MNIST images are ``idx3-ubyte`` (magic 2051 =
0x00000803), labels ``idx1-ubyte`` (magic 2049 = 0x00000801).

Plain files are memory-mapped, so a set larger than memory stays on disk; ``.gz`` files
are decompressed into memory, up to the size their header announces and at most
:data:`xpnet.data.datasets.limits.MAX_INFLATED_BYTES`.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy

from xpnet.data.datasets import limits
from xpnet.data.datasets.base import ArrayDataset
from xpnet.data.errors import DataFormatError

_IDX_TYPES = {
    0x08: numpy.dtype(numpy.uint8), 0x09: numpy.dtype(numpy.int8),
    0x0B: numpy.dtype(">i2"), 0x0C: numpy.dtype(">i4"),
    0x0D: numpy.dtype(">f4"), 0x0E: numpy.dtype(">f8"),
}
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}
MNIST_CLASSES = [str(k) for k in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]


def _parse_header(head: bytes, path: Path) -> tuple[numpy.dtype, tuple[int, ...], int]:
    """Return (dtype, shape, header size) from the first bytes of an IDX file."""
    if len(head) < 4:
        raise DataFormatError(f"{path}: truncated file: {len(head)} bytes, no IDX header")
    magic = int.from_bytes(head[:4], "big")
    if head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES or head[3] == 0:
        raise DataFormatError(
            f"{path}: wrong magic number 0x{magic:08X}: an IDX file starts with 0x0000, "
            "a type byte in 08/09/0B/0C/0D/0E and a dimension count (MNIST images 0x00000803, "
            "labels 0x00000801)"
        )
    ndim = head[3]
    if len(head) < 4 + 4 * ndim:
        raise DataFormatError(f"{path}: truncated file: header of {ndim} sizes cut short")
    shape = tuple(int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return _IDX_TYPES[head[2]], shape, 4 + 4 * ndim


def _read_gz(path: Path) -> tuple[bytes, bytes]:
    """(header bytes, the data the header announces) of a gzipped IDX file, streamed.

    The header is read first; the data is then read only up to the size it announces,
    which must be within :data:`limits.MAX_INFLATED_BYTES`: a small file that inflates
    to gigabytes is never inflated past what its header claims.
    """
    try:
        with gzip.open(path, "rb") as f:
            head = f.read(4)
            head += f.read(4 * head[3]) if len(head) == 4 else b""
            dtype, shape, offset = _parse_header(head, path)
            need = math.prod(shape) * dtype.itemsize
            if need > limits.MAX_INFLATED_BYTES:
                raise DataFormatError(
                    f"{path}: the header announces shape {shape} = "
                    f"{limits.fmt_bytes(need)}, more than the "
                    f"{limits.fmt_bytes(limits.MAX_INFLATED_BYTES)} xpnet inflates into "
                    "memory; gunzip it (plain files are memory-mapped)")
            body = f.read(need)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataFormatError(f"{path}: truncated or corrupt gzip stream ({exc})") from exc
    return head, body


def read_idx(path: str | Path, expect_ndim: int | None = None) -> numpy.ndarray:
    """Read an IDX file: memory-mapped when plain, decompressed when it ends in ``.gz``.

    Sizes are checked before anything is read: the header's dimensions (in Python's exact
    integers, so no product overflows) against the file's size, and a ``.gz`` against
    :data:`xpnet.data.datasets.limits.MAX_INFLATED_BYTES`.

    Args:
        path: the file.
        expect_ndim: if given, the number of dimensions the file must have (3 for images,
            1 for labels); another count is reported as a wrong magic number.

    Returns:
        The array in native byte order for uint8 / int8 data (a read-only memory map for
        plain files), else as stored.

    Raises:
        DataFormatError: wrong magic number, unexpected dimensions, truncated data, or a
            ``.gz`` that announces more than the limit.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte")
        >>> _ = open(p, "wb").write(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 3]))
        >>> read_idx(p).tolist()
        [7, 3]
    """
    path = Path(path)
    if path.suffix == ".gz":
        head, body = _read_gz(path)
    else:
        with open(path, "rb") as f:
            head = f.read(4 + 4 * 255)
    dtype, shape, offset = _parse_header(head, path)
    if expect_ndim is not None and len(shape) != expect_ndim:
        raise DataFormatError(
            f"{path}: wrong magic number 0x{int.from_bytes(head[:4], 'big'):08X}: expected "
            f"a {expect_ndim}-dimensional IDX file, got {len(shape)} dimensions"
        )
    count = math.prod(shape)  # exact: uint32 sizes can overflow an int64 product
    need = offset + count * dtype.itemsize
    size = offset + len(body) if path.suffix == ".gz" else path.stat().st_size
    if size < need:
        raise DataFormatError(
            f"{path}: truncated file: the header announces shape {shape} ({need:,} bytes), "
            f"the file has {size:,} bytes"
        )
    if path.suffix == ".gz":
        return numpy.frombuffer(body, dtype, count).reshape(shape)
    if count == 0:
        return numpy.zeros(shape, dtype)
    return numpy.memmap(path, dtype, mode="r", offset=offset, shape=shape)


def _find(folder: Path, prefix: str, kind: str) -> Path:
    """The file of one split and kind, under the standard names (with '-' or '.')."""
    for name in (f"{prefix}-{kind}", f"{prefix}-{kind}".replace("-idx", ".idx")):
        for candidate in (folder / name, folder / (name + ".gz")):
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(
        f"{folder}: no {prefix}-{kind}[.gz] (an IDX folder holds train-images-idx3-ubyte, "
        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, "
        "plain or .gz)"
    )


def is_idx_folder(folder: str | Path) -> bool:
    """True when ``folder`` holds the MNIST training images under a standard IDX name."""
    try:
        _find(Path(folder), "train", "images-idx3-ubyte")
    except FileNotFoundError:
        return False
    return True


def load_idx_folder(folder: str | Path, split: str = "train",
                    classes: list[str] | None = None) -> ArrayDataset:
    """Open one split of an MNIST-style IDX folder as a data set.

    Args:
        folder: holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
            ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each plain or ``.gz``).
        split: ``"train"`` or ``"test"``.
        classes: class names; default the digits, or Fashion-MNIST's names when the folder
            name contains "fashion".

    Returns:
        An :class:`ArrayDataset` whose images (uint8, memory-mapped when plain) become
        float32 in [0, 1] per batch.

    Raises:
        DataFormatError: a file is truncated, has a wrong magic number, image and label
            counts differ, or a label is out of range.

    Example:
        >>> ds = load_idx_folder("~/data/fashion-mnist", "test")  # doctest: +SKIP
        >>> ds.classes[9], ds.shape  # doctest: +SKIP
        ('Ankle boot', (1, 28, 28))
    """
    folder = Path(folder).expanduser()
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"load_idx_folder: split must be 'train' or 'test', got {split!r}")
    prefix = _SPLIT_PREFIX[split]
    image_path = _find(folder, prefix, "images-idx3-ubyte")
    label_path = _find(folder, prefix, "labels-idx1-ubyte")
    images = read_idx(image_path, expect_ndim=3)
    labels = read_idx(label_path, expect_ndim=1)
    if len(images) != len(labels):
        raise DataFormatError(
            f"{label_path}: {len(labels)} labels for {len(images)} images in {image_path.name}"
        )
    if classes is None:
        classes = FASHION_CLASSES if "fashion" in folder.name.lower() else MNIST_CLASSES
    labels = numpy.asarray(labels).astype(numpy.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        bad = int(numpy.flatnonzero((labels < 0) | (labels >= len(classes)))[0])
        raise DataFormatError(
            f"{label_path}: label out of range: label {labels[bad]} at index {bad}, "
            f"expected 0..{len(classes) - 1}"
        )
    return ArrayDataset(images, labels, classes)
