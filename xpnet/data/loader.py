"""DataLoader: seeded mini-batches with augmentation, prefetched on a background thread.

Reproducibility does not depend on threads: epoch ``e`` visits the examples in the order
``numpy.random.default_rng([seed, e]).permutation(n)`` and batch ``b`` of it is augmented
with ``numpy.random.default_rng([seed, e, b])``, so a run resumed at epoch ``e`` (through
``load_state_dict``) sees exactly the batches it would have seen.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

import numpy

from xpnet.data.datasets.base import ArrayDataset, Dataset

_DONE = object()  # end-of-epoch marker put by the worker


class DataLoader:
    """Iterate over a Dataset in batches: ``for x, y in loader: ...``.

    Batch size N (the whole set), 1 and B give full-batch, online and mini-batch descent
    with the same optimiser. Decoding and augmentation of the next ``prefetch`` batches run
    on a background thread while the caller trains on the current one (NumPy, Pillow and
    BLAS release the GIL, so the overlap is real).

    Args:
        dataset: a :class:`~xpnet.data.datasets.base.Dataset`, or a pair ``(x, y)`` of
            arrays (wrapped in an ArrayDataset).
        batch_size: examples per batch; None means the whole set (full-batch).
        shuffle: visit examples in a seeded random order; else in index order.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        seed: the seed of the orders and of the augmentation.
        transform: ``fn(x, rng) -> x`` applied to each batch (float32 ``(B, C, H, W)``) with
            the batch's own Generator; see :mod:`xpnet.data.transforms`.
        prefetch: batches prepared ahead on a background thread; 0 prepares each batch in
            the caller's thread.

    Attributes:
        epoch: the epoch the next full pass will be; advances after each full pass.

    Example:
        >>> import numpy
        >>> ds = ArrayDataset(numpy.zeros((10, 1, 2, 2), numpy.float32), numpy.arange(10))
        >>> loader = DataLoader(ds, batch_size=4, seed=0)
        >>> [y.tolist() for _, y in loader]
        [[4, 6, 2, 7], [3, 5, 9, 0], [8, 1]]
        >>> len(loader), loader.epoch
        (3, 1)
    """

    def __init__(self, dataset, batch_size: int | None = 128, shuffle: bool = True,
                 drop_last: bool = False, seed: int = 0,
                 transform: Callable[[numpy.ndarray, numpy.random.Generator],
                                     numpy.ndarray] | None = None,
                 prefetch: int = 2) -> None:
        if isinstance(dataset, tuple) and len(dataset) == 2:
            dataset = ArrayDataset(*dataset)
        if not isinstance(dataset, Dataset):
            raise TypeError(f"DataLoader: expected a Dataset or an (x, y) pair, got "
                            f"{type(dataset).__name__}")
        if batch_size is None:
            batch_size = len(dataset)
        if not isinstance(batch_size, int | numpy.integer) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(prefetch, int | numpy.integer) or prefetch < 0:
            raise ValueError(f"DataLoader: prefetch must be an int >= 0, got {prefetch!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform must be callable, got {transform!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = int(seed)
        self.transform = transform
        self.prefetch = int(prefetch)
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch ``epoch`` (its order and augmentation)."""
        if epoch < 0:
            raise ValueError(f"DataLoader.set_epoch: epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def state_dict(self) -> dict:
        """``{"epoch", "seed"}``: all a resumed run needs to see the same batches."""
        return {"epoch": self.epoch, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.epoch = int(state["epoch"])
        self.seed = int(state["seed"])

    def order(self, epoch: int) -> numpy.ndarray:
        """The example order of ``epoch``: int64 ``(n,)``."""
        n = len(self.dataset)
        if not self.shuffle:
            return numpy.arange(n, dtype=numpy.int64)
        return numpy.random.default_rng([self.seed, epoch]).permutation(n).astype(numpy.int64)

    def _batch(self, epoch: int, b: int, indices: numpy.ndarray):
        x, y = self.dataset.get_batch(indices)
        if self.transform is not None:
            x = self.transform(x, numpy.random.default_rng([self.seed, epoch, b]))
        return x, y

    def _batches(self, epoch: int) -> Iterator[tuple[int, numpy.ndarray]]:
        order = self.order(epoch)
        for b in range(len(self)):
            yield b, order[b * self.batch_size:(b + 1) * self.batch_size]

    def __iter__(self) -> Iterator[tuple[numpy.ndarray, numpy.ndarray]]:
        epoch = self.epoch
        if self.prefetch == 0:
            for b, indices in self._batches(epoch):
                yield self._batch(epoch, b, indices)
        else:
            yield from self._prefetched(epoch)
        self.epoch = epoch + 1  # reached only after a full pass

    def _prefetched(self, epoch: int):
        """Yield batches made by a worker thread; stop and join it however iteration ends."""
        slots: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    slots.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def work() -> None:
            try:
                for b, indices in self._batches(epoch):
                    if stop.is_set() or not put(("batch", self._batch(epoch, b, indices))):
                        return
                put(("done", _DONE))
            except BaseException as exc:  # handed to the consumer, raised there
                put(("error", exc))

        worker = threading.Thread(target=work, name="xpnet-DataLoader", daemon=True)
        worker.start()
        try:
            while True:
                kind, item = slots.get()
                if kind == "batch":
                    yield item
                elif kind == "error":
                    raise item  # keeps the worker's traceback (item.__traceback__)
                else:
                    return
        finally:
            stop.set()
            worker.join()

    def __repr__(self) -> str:
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed}, "
                f"prefetch={self.prefetch}, epoch={self.epoch})")
