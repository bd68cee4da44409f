"""``.npz`` archives of arrays: ``x_train, y_train, x_test, y_test`` or ``x, y``.

Loaded with ``allow_pickle=False`` (no code runs). Members stored uncompressed
(``numpy.savez``) are memory-mapped straight from the archive, so a set larger than
memory stays on disk; compressed members (``numpy.savez_compressed``) are read into
memory. An optional ``classes`` member (strings) names the classes.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy

from xpnet.data.datasets.base import ArrayDataset, Dataset, holdout_split
from xpnet.data.errors import DataFormatError

_LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # zip local file header, 30 bytes


def _member_memmap(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo):
    """Memory-map an uncompressed ``.npy`` member in place, or None if that is not possible."""
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        fields = _LOCAL_HEADER.unpack(f.read(_LOCAL_HEADER.size))
        if fields[0] != b"PK\x03\x04":
            return None
        f.seek(info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10])
        version = numpy.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = numpy.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = numpy.lib.format.read_array_header_2_0(f)
        else:
            return None
        offset = f.tell()
    if dtype.hasobject or int(numpy.prod(shape)) == 0:
        return None
    if offset + int(numpy.prod(shape)) * dtype.itemsize > path.stat().st_size:
        raise DataFormatError(f"{path}: truncated file: member {info.filename} is cut short")
    return numpy.memmap(path, dtype, mode="r", offset=offset, shape=shape,
                        order="F" if fortran else "C")


def read_npz(path: str | Path) -> dict[str, numpy.ndarray]:
    """All arrays of an ``.npz``, memory-mapped where stored uncompressed.

    Args:
        path: the archive.

    Returns:
        ``{name: array}`` (names without ``.npy``).

    Raises:
        DataFormatError: not a zip archive, truncated, or holding pickled objects.

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
                    with archive.open(info) as member:
                        array = numpy.lib.format.read_array(member, allow_pickle=False)
                arrays[info.filename[:-4]] = array
    except zipfile.BadZipFile as exc:
        raise DataFormatError(f"{path}: not an .npz archive or truncated ({exc})") from exc
    except (ValueError, EOFError, OSError) as exc:
        raise DataFormatError(f"{path}: cannot read arrays: {exc}") from exc
    return arrays


def _channels_last(x: numpy.ndarray) -> bool:
    """Guess the layout of a 4-D image array: (N, H, W, C) when C is last and small."""
    return x.ndim == 4 and x.shape[3] in (1, 3, 4) and x.shape[1] not in (1, 3, 4)


def _dataset(path: Path, x, y, classes, name: str) -> ArrayDataset:
    if x.ndim not in (3, 4):
        raise DataFormatError(f"{path}: {name} must be (N, H, W), (N, C, H, W) or (N, H, W, C), "
                              f"got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise DataFormatError(f"{path}: {len(y) if y.ndim else y.shape} labels for "
                              f"{len(x)} images")
    if not numpy.issubdtype(y.dtype, numpy.integer):
        raise DataFormatError(f"{path}: labels must be integers, got dtype {y.dtype}")
    y = numpy.asarray(y, dtype=numpy.int64)
    top = len(classes) if classes is not None else numpy.iinfo(numpy.int64).max
    bad = numpy.flatnonzero((y < 0) | (y >= top))
    if bad.size:
        expected = f"0..{top - 1}" if classes is not None else "non-negative labels"
        raise DataFormatError(f"{path}: label out of range: label {y[bad[0]]} at index "
                              f"{bad[0]}, expected {expected}")
    return ArrayDataset(x, y, classes, channels_last=_channels_last(x))


def load_npz(path: str | Path, split: str = "train", seed: int = 0) -> Dataset:
    """Open one split of an ``.npz`` data set.

    With ``x_train, y_train, x_test, y_test`` the split picks the pair; with ``x, y`` the
    examples are split 80/20 by ``numpy.random.default_rng(seed)`` (see
    :func:`~xpnet.data.datasets.base.holdout_split`). uint8 images become [0, 1] float32 per
    batch; ``(N, H, W)`` images get one channel; ``(N, H, W, C)`` with C in 1, 3, 4 is
    recognised and transposed per batch.

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
    classes = [str(c) for c in arrays["classes"]] if "classes" in arrays else None
    if f"x_{split}" in arrays and f"y_{split}" in arrays:
        return _dataset(path, arrays[f"x_{split}"], arrays[f"y_{split}"], classes, f"x_{split}")
    if "x" in arrays and "y" in arrays:
        whole = _dataset(path, arrays["x"], arrays["y"], classes, "x")
        return holdout_split(whole, split, seed)
    raise DataFormatError(
        f"{path}: expected arrays x_train, y_train, x_test, y_test (or x, y), found "
        f"{sorted(arrays)}"
    )
