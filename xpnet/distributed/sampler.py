"""Sharded sampling: each rank's equal share of every global batch, and of an evaluation.

Data parallelism on R ranks with a local batch b trains on global batches of B = R b
examples. Epoch e visits the examples in ONE order, ``default_rng([seed, e])``'s
permutation, the same on every rank and the same as :class:`xpnet.data.DataLoader`'s;
global batch k is positions [kB, (k+1)B) of it, and rank r takes the r-th run of b
positions. A step on R ranks is then the step one process takes with batch R b.

The remainder: the last m = n - B floor(n/B) positions (0 < m < B) form a smaller global
batch, split over the ranks as evenly as runs go (sizes floor(m/R) or one more, the larger
ones first), so every rank steps the same number of times and none waits on an uneven
last batch; the data-parallel step weighs each rank's gradient by its share (see
:class:`~xpnet.distributed.DataParallel`), which makes it the mean over the m examples,
as one process would take it. When m < R some rank would have none: those m examples
sit out this epoch (a new order next epoch draws others), and ``drop_last`` drops every
remainder.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy

from xpnet.data import DataLoader, Dataset, Subset
from xpnet.distributed.comm import Communicator

__all__ = ["DistributedLoader", "evaluation_shard", "shard_sizes"]


def shard_sizes(n: int, batch_size: int, size: int, drop_last: bool = False) -> list[list[int]]:
    """Each global batch's share per rank: ``sizes[k][r]`` examples for rank r in batch k.

    Args:
        n: examples in the epoch.
        batch_size: b, the local batch of a full global batch.
        size: R, the number of ranks.
        drop_last: drop a global batch smaller than R b.

    Returns:
        One list of R sizes per global batch, each size >= 1.

    Example:
        >>> shard_sizes(10, 2, 2)        # global batches of 4, then 2 left: one each
        [[2, 2], [2, 2], [1, 1]]
        >>> shard_sizes(9, 2, 2)         # 1 left over, fewer than R: it sits out
        [[2, 2], [2, 2]]
    """
    if batch_size < 1 or size < 1:
        raise ValueError(f"shard_sizes: batch_size and size must be >= 1, got {batch_size}, "
                         f"{size}")
    full, m = divmod(n, batch_size * size)
    sizes = [[batch_size] * size for _ in range(full)]
    if m >= size and not drop_last:
        sizes.append([m // size + (r < m % size) for r in range(size)])
    return sizes


class DistributedLoader(DataLoader):
    """A :class:`~xpnet.data.DataLoader` that yields this rank's share of each global batch.

    Every rank builds one with the same dataset, ``batch_size`` (the LOCAL batch b) and
    seed; they agree on the order without talking (see the module notes) and yield the
    same number of batches. Rank r's batch k is augmented with
    ``default_rng([seed, epoch, k, r])`` (rank 0 of one: ``[seed, epoch, k]``, the plain
    loader's), so the ranks draw different crops, flips and distortions.

    Args:
        dataset: a Dataset.
        batch_size: b, examples per rank and step (the global batch is R b).
        comm: the job's communicator (its ``rank`` and ``size``).
        shuffle, drop_last, seed, transform, prefetch: as :class:`~xpnet.data.DataLoader`.

    Example:
        >>> loader = DistributedLoader(train_set, 32, comm, seed=0)   # 2 ranks: 64 a step
        >>> len(loader)                                               # steps per epoch
        79
    """

    def __init__(self, dataset: Dataset, batch_size: int, comm: Communicator, *,
                 shuffle: bool = True, drop_last: bool = False, seed: int = 0,
                 transform: Any = None, prefetch: int = 2) -> None:
        super().__init__(dataset, batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed,
                         transform=transform, prefetch=prefetch)
        self.rank, self.size = comm.rank, comm.size

    def _plan(self) -> list[list[int]]:
        return shard_sizes(len(self.dataset), self.batch_size, self.size, self.drop_last)

    def __len__(self) -> int:
        return len(self._plan())

    def shares(self, epoch: int) -> list[numpy.ndarray]:
        """This rank's example indices for each global batch of ``epoch``."""
        order = self.order(epoch)
        out, start = [], 0
        for sizes in self._plan():
            first = start + sum(sizes[: self.rank])
            out.append(order[first:first + sizes[self.rank]])
            start += sum(sizes)
        return out

    def _batches(self, epoch: int) -> Iterator[tuple[int, numpy.ndarray]]:
        yield from enumerate(self.shares(epoch))

    def _batch(self, epoch: int, b: int, indices: numpy.ndarray) -> tuple[Any, Any]:
        x, y = self.dataset.get_batch(indices)
        if self.transform is not None:
            key = [self.seed, epoch, b] + ([self.rank] if self.size > 1 else [])
            x = self.transform(x, numpy.random.default_rng(key))
        return x, y


def evaluation_shard(dataset: Dataset, comm: Communicator) -> Dataset:
    """Rank r's contiguous part of ``dataset`` for evaluation: examples [r n/R, (r+1) n/R).

    Every example is in exactly one part (a rank may get none when n < R); sums of
    counts over the ranks give the metrics of the whole set.
    """
    n = len(dataset)
    start, stop = comm.rank * n // comm.size, (comm.rank + 1) * n // comm.size
    if comm.size == 1:
        return dataset
    return Subset(dataset, numpy.arange(start, stop, dtype=numpy.int64))
