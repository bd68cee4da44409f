"""``.npz`` archives of arrays: ``x_train, y_train, x_test, y_test`` or ``x, y``.

Loaded without pickles (no code runs). Members stored uncompressed (``numpy.savez``) are
memory-mapped straight from the archive, so a set larger than memory stays on disk;
their zip CRC-32 is checked first, in one streaming pass, so a flipped byte is found at
open and not trained on. Compressed members (``numpy.savez_compressed``) are read into
memory, at most :data:`xpnet.data.datasets.limits.MAX_INFLATED_BYTES` each, and zip
checks their CRC as they inflate. Every member's ``.npy`` header must announce exactly
the bytes the member holds. An optional ``classes`` member (strings) names the classes;
without it the classes are ``0 .. max label`` over all splits (at most
:data:`~xpnet.data.datasets.limits.MAX_CLASSES`).
"""

from __future__ import annotations

import math
import struct
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy

from xpnet.data.datasets import limits
from xpnet.data.datasets.base import ArrayDataset, Dataset, holdout_split
from xpnet.data.errors import DataFormatError

_LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # zip local file header, 30 bytes
_CHUNK = 16 * 2**20  # bytes per read of the CRC pass


def read_npy_header(f: BinaryIO, source: str) -> tuple[tuple[int, ...], bool, numpy.dtype]:
    """``(shape, fortran_order, dtype)`` from the ``.npy`` header at ``f``'s position; the
    file is left at the first data byte.

    Raises:
        DataFormatError: not a ``.npy`` header (an ``.npz`` named ``.npy`` included), a
            version this reader does not know, or a dtype of Python objects (pickles).
    """
    try:
        version = numpy.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = numpy.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = numpy.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"format version {version} (this reader knows 1.0 and 2.0)")
    except (ValueError, EOFError, SyntaxError, RecursionError) as exc:
        raise DataFormatError(f"{source}: not a .npy array ({exc})") from None
    if dtype.hasobject:
        raise DataFormatError(f"{source}: holds Python objects (pickles), which xpnet never "
                              "loads; save numbers")
    return tuple(int(n) for n in shape), bool(fortran), dtype


def _check_size(source: str, shape: tuple[int, ...], dtype: numpy.dtype, have: int) -> int:
    """The data bytes ``shape`` announces, when they are exactly the ``have`` there are."""
    need = math.prod(shape) * dtype.itemsize
    if need != have:
        raise DataFormatError(f"{source}: the .npy header announces shape {shape} of "
                              f"{dtype} = {need:,} bytes, the member holds {have:,}")
    return need


def _check_crc(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Stream a stored member through zip's own CRC-32 check (nothing kept in memory)."""
    with archive.open(info) as member:
        while member.read(_CHUNK):
            pass


def _member_memmap(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo):
    """Memory-map an uncompressed ``.npy`` member in place, or None if that is not possible."""
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    source = f"{path}: member {info.filename}"
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        fields = _LOCAL_HEADER.unpack(f.read(_LOCAL_HEADER.size))
        if fields[0] != b"PK\x03\x04":
            return None
        start = info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10]
        f.seek(start)
        shape, fortran, dtype = read_npy_header(f, source)
        offset = f.tell()
    _check_size(source, shape, dtype, start + info.file_size - offset)
    if start + info.file_size > path.stat().st_size:
        raise DataFormatError(f"{path}: truncated file: member {info.filename} is cut short")
    _check_crc(archive, info)
    if math.prod(shape) == 0:
        return numpy.zeros(shape, dtype)
    return numpy.memmap(path, dtype, mode="r", offset=offset, shape=shape,
                        order="F" if fortran else "C")


def _member_read(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> numpy.ndarray:
    """Inflate a compressed ``.npy`` member into memory, within the limit; zip checks its
    CRC-32 as the last byte comes."""
    source = f"{path}: member {info.filename}"
    if info.file_size > limits.MAX_INFLATED_BYTES:
        raise DataFormatError(
            f"{source} announces {limits.fmt_bytes(info.file_size)} uncompressed, more than "
            f"the {limits.fmt_bytes(limits.MAX_INFLATED_BYTES)} xpnet inflates into memory; "
            "store it uncompressed (numpy.savez: memory-mapped)")
    with archive.open(info) as member:
        shape, fortran, dtype = read_npy_header(member, source)
        need = _check_size(source, shape, dtype, info.file_size - member.tell())
        data = bytearray(need)
        if member.readinto(data) != need or member.read(1):
            raise DataFormatError(f"{source}: the member's size differs from its header")
    return numpy.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")


def read_npz(path: str | Path) -> dict[str, numpy.ndarray]:
    """All arrays of an ``.npz``, memory-mapped where stored uncompressed.

    Args:
        path: the archive.

    Returns:
        ``{name: array}`` (names without ``.npy``).

    Raises:
        DataFormatError: not a zip archive, truncated, a CRC-32 that does not match (a
            damaged byte), a header that does not fit its member, a compressed member
            over the limit, or pickled objects.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "a.npz")
        >>> numpy.savez(p, x=numpy.arange(3))
        >>> read_npz(p)["x"].tolist()
        [0, 1, 2]
    """
    path = Path(path)
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [i for i in archive.infolist() if i.filename.endswith(".npy")]
            for info in infos:
                array = _member_memmap(path, archive, info)
                if array is None:
                    array = _member_read(path, archive, info)
                arrays[info.filename[:-4]] = array
    except zipfile.BadZipFile as exc:
        raise DataFormatError(f"{path}: not an .npz archive, truncated or damaged "
                              f"({exc})") from exc
    except (ValueError, EOFError, OSError, NotImplementedError) as exc:
        if isinstance(exc, DataFormatError):
            raise
        raise DataFormatError(f"{path}: cannot read arrays: {exc}") from exc
    return arrays


def _channels_last(x: numpy.ndarray) -> bool:
    """Guess the layout of a 4-D image array: (N, H, W, C) when C is last and small."""
    return x.ndim == 4 and x.shape[3] in (1, 3, 4) and x.shape[1] not in (1, 3, 4)


def _labels(path: Path, y: numpy.ndarray) -> numpy.ndarray:
    if not numpy.issubdtype(y.dtype, numpy.integer):
        raise DataFormatError(f"{path}: labels must be integers, got dtype {y.dtype}")
    return numpy.asarray(y, dtype=numpy.int64)


def _inferred_classes(path: Path, arrays: dict[str, numpy.ndarray]) -> list[str]:
    """``0 .. K-1`` with K one more than the largest label of every split, within the limit."""
    top = -1
    for name in ("y_train", "y_test", "y"):
        if name in arrays and arrays[name].size:
            top = max(top, int(_labels(path, arrays[name]).max()))
    if top >= limits.MAX_CLASSES:
        raise DataFormatError(
            f"{path}: the largest label, {top}, announces {top + 1:,} classes, more than "
            f"the {limits.MAX_CLASSES:,} xpnet accepts; name the classes in a 'classes' "
            "member or renumber the labels")
    return [str(k) for k in range(top + 1)]


def _dataset(path: Path, x, y, classes, name: str) -> ArrayDataset:
    if x.ndim not in (3, 4):
        raise DataFormatError(f"{path}: {name} must be (N, H, W), (N, C, H, W) or (N, H, W, C), "
                              f"got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise DataFormatError(f"{path}: {len(y) if y.ndim else y.shape} labels for "
                              f"{len(x)} images")
    y = _labels(path, y)
    bad = numpy.flatnonzero((y < 0) | (y >= len(classes)))
    if bad.size:
        raise DataFormatError(f"{path}: label out of range: label {y[bad[0]]} at index "
                              f"{bad[0]}, expected 0..{len(classes) - 1}")
    return ArrayDataset(x, y, classes, channels_last=_channels_last(x))


def load_npz(path: str | Path, split: str = "train", seed: int = 0) -> Dataset:
    """Open one split of an ``.npz`` data set.

    With ``x_train, y_train, x_test, y_test`` the split picks the pair; with ``x, y`` the
    examples are split 80/20 by ``numpy.random.default_rng(seed)`` (see
    :func:`~xpnet.data.datasets.base.holdout_split`). uint8 images become [0, 1] float32 per
    batch; ``(N, H, W)`` images get one channel; ``(N, H, W, C)`` with C in 1, 3, 4 is
    recognised and transposed per batch. Both splits have the same classes: the
    ``classes`` member, or ``0 .. K-1`` from the largest label of either split.

    Args:
        path: the archive.
        split: ``"train"`` or ``"test"``.
        seed: seed of the hold-out split for ``x, y`` archives.

    Returns:
        A Dataset.

    Raises:
        DataFormatError: missing arrays, label out of range, shape mismatch, unreadable file.

    Example:
        >>> ds = load_npz("mnist.npz", "test")  # doctest: +SKIP
        >>> ds.shape  # doctest: +SKIP
        (1, 28, 28)
    """
    path = Path(path).expanduser()
    if split not in ("train", "test"):
        raise ValueError(f"load_npz: split must be 'train' or 'test', got {split!r}")
    arrays = read_npz(path)
    if "classes" in arrays:
        classes = [str(c) for c in arrays["classes"]]
    else:
        classes = _inferred_classes(path, arrays)
    if f"x_{split}" in arrays and f"y_{split}" in arrays:
        return _dataset(path, arrays[f"x_{split}"], arrays[f"y_{split}"], classes, f"x_{split}")
    if "x" in arrays and "y" in arrays:
        whole = _dataset(path, arrays["x"], arrays["y"], classes, "x")
        return holdout_split(whole, split, seed)
    raise DataFormatError(
        f"{path}: expected arrays x_train, y_train, x_test, y_test (or x, y), found "
        f"{sorted(arrays)}"
    )
