"""CIFAR-10 and CIFAR-100 in their binary format (not the pickled one: unpickling runs code).

Each record is the label byte(s) then 3,072 pixel bytes: 1,024 red, 1,024 green, 1,024 blue,
each a 32x32 image in row-major order. CIFAR-10 (``cifar-10-batches-bin``):
``data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin`` with one label byte,
class names in ``batches.meta.txt``. CIFAR-100 (``cifar-100-binary``): ``train.bin`` and
``test.bin`` with a coarse then a fine label byte, names in ``coarse_label_names.txt`` and
``fine_label_names.txt``. The files are memory-mapped: pixels stay on disk until a batch
reads them.
"""

from __future__ import annotations

from pathlib import Path

import numpy

from xpnet.data.datasets.base import Dataset, check_indices, to_float_images
from xpnet.data.errors import DataFormatError

IMAGE_BYTES = 3 * 32 * 32
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck"]
CIFAR10_FILES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)],
                 "test": ["test_batch.bin"]}
CIFAR100_FILES = {"train": ["train.bin"], "test": ["test.bin"]}


_NAMES_BYTES = 2**20  # a names file of 100 short lines is a few hundred bytes


def _read_names(path: Path, count: int) -> list[str]:
    """Class names from a UTF-8 text file (one per line), or numbers when it is absent.

    Raises:
        DataFormatError: the file is not UTF-8 text, or larger than 1 MiB.
    """
    if not path.is_file():
        return [str(k) for k in range(count)]
    if path.stat().st_size > _NAMES_BYTES:
        raise DataFormatError(f"{path}: {path.stat().st_size:,} bytes is not a list of "
                              f"{count} class names (at most {_NAMES_BYTES:,} bytes)")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not a UTF-8 text file of class names ({exc})") from None
    names = [line.strip() for line in text.splitlines() if line.strip()]
    return names if len(names) == count else [str(k) for k in range(count)]


def _map_records(path: Path, n_label_bytes: int) -> numpy.memmap:
    """Memory-map a CIFAR file as records of (labels, image)."""
    record = n_label_bytes + IMAGE_BYTES
    size = path.stat().st_size
    if size == 0 or size % record:
        raise DataFormatError(
            f"{path}: truncated file: {size} bytes is not a whole number of "
            f"{record}-byte records ({n_label_bytes} label byte(s) + 3072 pixel bytes)"
        )
    dtype = numpy.dtype([("labels", numpy.uint8, (n_label_bytes,)),
                         ("image", numpy.uint8, (3, 32, 32))])
    return numpy.memmap(path, dtype, mode="r")


def cifar_kind(folder: str | Path) -> str | None:
    """``"cifar10"``, ``"cifar100"`` or None: which CIFAR binary files ``folder`` holds."""
    folder = Path(folder)
    if (folder / "data_batch_1.bin").is_file() or (folder / "test_batch.bin").is_file():
        return "cifar10"
    if (folder / "train.bin").is_file() or (folder / "test.bin").is_file():
        return "cifar100"
    return None


class CIFARDataset(Dataset):
    """One split of CIFAR-10 or CIFAR-100 (binary version), memory-mapped.

    Args:
        folder: ``cifar-10-batches-bin`` or ``cifar-100-binary`` (unpacked).
        split: ``"train"`` or ``"test"``.
        label: CIFAR-100 only: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).

    Attributes:
        kind: ``"cifar10"`` or ``"cifar100"``.
        y: all labels, int64 ``(N,)`` (read once; they are small).

    Raises:
        DataFormatError: a file is truncated or a label is out of range.
        FileNotFoundError: a batch file of the split is missing.

    Example:
        >>> ds = CIFARDataset("~/data/cifar-10-batches-bin", "test")  # doctest: +SKIP
        >>> len(ds), ds.shape, ds.classes[0]  # doctest: +SKIP
        (10000, (3, 32, 32), 'airplane')
    """

    def __init__(self, folder: str | Path, split: str = "train", label: str = "fine") -> None:
        folder = Path(folder).expanduser()
        if split not in ("train", "test"):
            raise ValueError(f"CIFARDataset: split must be 'train' or 'test', got {split!r}")
        if label not in ("fine", "coarse"):
            raise ValueError(f"CIFARDataset: label must be 'fine' or 'coarse', got {label!r}")
        self.kind = cifar_kind(folder)
        if self.kind is None:
            raise FileNotFoundError(
                f"{folder}: no CIFAR binary files (data_batch_1.bin .. test_batch.bin for "
                "CIFAR-10, train.bin / test.bin for CIFAR-100)"
            )
        if self.kind == "cifar10":
            files, n_label_bytes, column = CIFAR10_FILES[split], 1, 0
            self.classes = _read_names(folder / "batches.meta.txt", 10)
            if self.classes[0] == "0":
                self.classes = list(CIFAR10_CLASSES)
        else:
            files, n_label_bytes = CIFAR100_FILES[split], 2
            column = 1 if label == "fine" else 0
            self.classes = _read_names(folder / f"{label}_label_names.txt",
                                       100 if label == "fine" else 20)
        self.num_classes = len(self.classes)
        self.shape = (3, 32, 32)
        self._maps = []
        labels = []
        for name in files:
            path = folder / name
            if not path.is_file():
                raise FileNotFoundError(f"{folder}: missing {name} of the {split} split")
            records = _map_records(path, n_label_bytes)
            y = numpy.asarray(records["labels"][:, column], dtype=numpy.int64)
            bad = numpy.flatnonzero(y >= self.num_classes)
            if bad.size:
                raise DataFormatError(
                    f"{path}: label out of range: label {y[bad[0]]} in record {bad[0]}, "
                    f"expected 0..{self.num_classes - 1}"
                )
            self._maps.append(records)
            labels.append(y)
        self.y = numpy.concatenate(labels)
        self._starts = numpy.cumsum([0] + [len(m) for m in self._maps])  # file of each index

    def __len__(self) -> int:
        return len(self.y)

    def get_batch(self, indices) -> tuple[numpy.ndarray, numpy.ndarray]:
        """Return ``(x, y)``: x float32 ``(B, 3, 32, 32)`` in [0, 1], y int64 ``(B,)``."""
        indices = check_indices(indices, len(self), "CIFARDataset")
        images = numpy.empty((len(indices), 3, 32, 32), numpy.uint8)
        which = numpy.searchsorted(self._starts, indices, side="right") - 1
        for f, records in enumerate(self._maps):
            rows = numpy.flatnonzero(which == f)
            if rows.size:
                local = indices[rows] - self._starts[f]
                order = numpy.argsort(local, kind="stable")  # sequential reads on disk
                images[rows[order]] = records["image"][local[order]]
        return to_float_images(images), self.y[indices]
