"""The batch-oriented data set protocol and the in-memory (or memory-mapped) array set."""

from __future__ import annotations

from collections.abc import Sequence

import numpy

from xpnet.data.datasets import limits


class Dataset:
    """A data set read a batch at a time.

    Subclasses set ``classes``, ``num_classes`` and ``shape`` and implement ``__len__``
    and ``get_batch``. A batch, not an item, is the unit: decoding and conversion are
    vectorised and a loader thread reads a whole batch at once.

    Attributes:
        classes: class names, ``classes[k]`` is the name of label ``k``.
        num_classes: ``len(classes)``.
        shape: ``(C, H, W)`` of one image.

    Example:
        >>> ds = ArrayDataset(numpy.zeros((4, 1, 2, 2), numpy.float32), [0, 1, 1, 0])
        >>> x, y = ds.get_batch(numpy.array([3, 1]))
        >>> x.shape, y.tolist()
        ((2, 1, 2, 2), [0, 1])
    """

    classes: list[str]
    num_classes: int
    shape: tuple[int, int, int]

    def __len__(self) -> int:
        raise NotImplementedError

    def get_batch(self, indices: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
        """Return the examples at ``indices``, in that order.

        Args:
            indices: int64 array of example indices in ``[0, len(self))``.

        Returns:
            ``(x, y)``: x float32 ``(B, C, H, W)``, y int64 ``(B,)``.
        """
        raise NotImplementedError

    def arrays(self) -> tuple[numpy.ndarray, numpy.ndarray]:
        """All examples as two in-memory arrays (only for sets that fit in memory)."""
        return self.get_batch(numpy.arange(len(self), dtype=numpy.int64))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n={len(self)}, shape={self.shape}, "
            f"num_classes={self.num_classes})"
        )


def check_indices(indices, n: int, name: str) -> numpy.ndarray:
    """Validate batch indices: a 1-D integer array within ``[0, n)``; return it as int64."""
    indices = numpy.asarray(indices)
    if indices.ndim != 1 or not numpy.issubdtype(indices.dtype, numpy.integer):
        raise TypeError(
            f"{name}.get_batch: expected a 1-D integer index array, got shape "
            f"{indices.shape} dtype {indices.dtype}"
        )
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise IndexError(
            f"{name}.get_batch: indices must be in [0, {n}), got min {indices.min()} "
            f"max {indices.max()}"
        )
    return indices.astype(numpy.int64, copy=False)


def gather_sorted(array: numpy.ndarray, indices: numpy.ndarray) -> numpy.ndarray:
    """``array[indices]`` read in increasing index order (sequential I/O on a memory map)."""
    if not isinstance(array, numpy.memmap) or indices.size < 2:
        return array[indices]
    order = numpy.argsort(indices, kind="stable")
    out = numpy.empty((indices.size,) + array.shape[1:], dtype=array.dtype)
    out[order] = array[indices[order]]
    return out


def to_float_images(x: numpy.ndarray, channels_last: bool = False) -> numpy.ndarray:
    """Convert a batch to float32 ``(B, C, H, W)``: uint8 is scaled by 1/255."""
    if channels_last:
        x = x.transpose(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W)
    if x.dtype == numpy.uint8:
        out = x.astype(numpy.float32)
        out *= numpy.float32(1.0 / 255.0)
        return out
    return numpy.ascontiguousarray(x, dtype=numpy.float32)


class ArrayDataset(Dataset):
    """A data set held in arrays (in memory or memory-mapped).

    uint8 images are kept as they are (4x smaller) and scaled to [0, 1] float32 per batch;
    float images are cast to float32 per batch. A ``(N, H, W)`` array gets one channel.

    Args:
        x: images ``(N, C, H, W)``, ``(N, H, W)``, or ``(N, H, W, C)`` with
            ``channels_last=True``.
        y: integer labels ``(N,)`` in ``[0, num_classes)``.
        classes: class names; default ``["0", ..., str(max(y))]``.
        channels_last: x is ``(N, H, W, C)`` (Keras / TensorFlow layout).

    Example:
        >>> ds = ArrayDataset(numpy.full((3, 8, 8), 255, numpy.uint8), [0, 2, 1])
        >>> ds.shape, ds.num_classes, float(ds.get_batch(numpy.array([0]))[0].max())
        ((1, 8, 8), 3, 1.0)
    """

    def __init__(self, x, y, classes: Sequence[str] | None = None,
                 channels_last: bool = False) -> None:
        if not isinstance(x, numpy.ndarray):
            x = numpy.asarray(x)
        y = numpy.asarray(y)
        if x.ndim == 3 and not channels_last:
            x = x[:, None]  # (N, H, W) -> (N, 1, H, W): a view, memory maps stay mapped
        if x.ndim != 4:
            raise ValueError(f"ArrayDataset: expected x of shape (N, C, H, W), got {x.shape}")
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(
                f"ArrayDataset: expected y of shape ({len(x)},) to match x {x.shape}, "
                f"got {y.shape}"
            )
        if y.size and not numpy.issubdtype(y.dtype, numpy.integer):
            raise TypeError(f"ArrayDataset: labels must be integers, got dtype {y.dtype}")
        n_classes = int(y.max()) + 1 if y.size else 0
        if classes is None:
            if n_classes > limits.MAX_CLASSES:
                raise ValueError(f"ArrayDataset: the largest label, {n_classes - 1}, announces "
                                 f"{n_classes:,} classes, more than the "
                                 f"{limits.MAX_CLASSES:,} xpnet accepts; give classes")
            classes = [str(k) for k in range(n_classes)]
        if y.size and (y.min() < 0 or y.max() >= len(classes)):
            raise ValueError(
                f"ArrayDataset: labels must be in [0, {len(classes)}), got "
                f"min {y.min()} max {y.max()}"
            )
        self.x = x
        self.y = y.astype(numpy.int64, copy=False)
        self.channels_last = channels_last
        self.classes = list(classes)
        self.num_classes = len(self.classes)
        c, h, w = (x.shape[3], x.shape[1], x.shape[2]) if channels_last else x.shape[1:]
        self.shape = (int(c), int(h), int(w))

    def __len__(self) -> int:
        return len(self.y)

    def get_batch(self, indices) -> tuple[numpy.ndarray, numpy.ndarray]:
        """Return ``(x, y)`` at ``indices``: x float32 ``(B, C, H, W)``, y int64 ``(B,)``."""
        indices = check_indices(indices, len(self), type(self).__name__)
        x = to_float_images(gather_sorted(self.x, indices), self.channels_last)
        return x, self.y[indices]


class Subset(Dataset):
    """The examples of ``dataset`` at ``indices``, read lazily (nothing is copied up front).

    Args:
        dataset: any Dataset.
        indices: int64 indices into ``dataset``.

    Example:
        >>> base = ArrayDataset(numpy.zeros((5, 1, 2, 2), numpy.float32), [0, 1, 2, 3, 4])
        >>> Subset(base, numpy.array([4, 0])).get_batch(numpy.array([0, 1]))[1].tolist()
        [4, 0]
    """

    def __init__(self, dataset: Dataset, indices) -> None:
        self.dataset = dataset
        self.indices = check_indices(indices, len(dataset), "Subset")
        self.classes = dataset.classes
        self.num_classes = dataset.num_classes
        self.shape = dataset.shape

    def __len__(self) -> int:
        return len(self.indices)

    def get_batch(self, indices) -> tuple[numpy.ndarray, numpy.ndarray]:
        """Return ``(x, y)`` at ``indices`` of the subset."""
        indices = check_indices(indices, len(self), "Subset")
        return self.dataset.get_batch(self.indices[indices])


def holdout_split(dataset: Dataset, split: str, seed: int, test_fraction: float = 0.2):
    """Seeded train/test split of a set that has no split of its own.

    The order is ``numpy.random.default_rng(seed).permutation(n)``; the last
    ``round(test_fraction * n)`` examples of it are the test set.

    Args:
        dataset: the whole set.
        split: ``"train"`` or ``"test"``.
        seed: seed of the permutation.
        test_fraction: share held out for testing.

    Returns:
        A :class:`Subset`.
    """
    n = len(dataset)
    order = numpy.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    return Subset(dataset, order[: n - n_test] if split == "train" else order[n - n_test:])
