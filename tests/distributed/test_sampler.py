"""Sharded sampling: the ranks' shares of each global batch are one process's batch of R b
examples, cut in rank order; the remainder is split evenly or sits out."""

from types import SimpleNamespace

import numpy
import pytest

from xpnet.data import ArrayDataset, DataLoader
from xpnet.distributed import DistributedLoader, evaluation_shard, shard_sizes


def _data(n):
    x = numpy.arange(n, dtype=numpy.float32).reshape(n, 1, 1, 1)
    return ArrayDataset(x, numpy.arange(n) % 3)


def _rank(r, size):
    return SimpleNamespace(rank=r, size=size)


@pytest.mark.parametrize("n, b, size, expected", [
    (10, 2, 2, [[2, 2], [2, 2], [1, 1]]),
    (9, 2, 2, [[2, 2], [2, 2]]),          # 1 left, fewer than 2 ranks: it sits out
    (11, 2, 2, [[2, 2], [2, 2], [2, 1]]),  # 3 left: the larger share first
    (7, 3, 1, [[3], [3], [1]]),           # one rank: the plain loader's batches
    (4, 8, 3, [[2, 1, 1]]),
])
def test_shard_sizes(n, b, size, expected):
    assert shard_sizes(n, b, size) == expected
    assert shard_sizes(n, b, size, drop_last=True) == [s for s in expected if s == [b] * size]


@pytest.mark.parametrize("n, size", [(50, 2), (53, 3), (20, 4)])
def test_the_ranks_shares_make_one_process_batches_of_size_r_times_b(n, size):
    b, data = 4, _data(n)
    single = DataLoader(data, b * size, seed=7, prefetch=0)
    loaders = [DistributedLoader(data, b, _rank(r, size), seed=7, prefetch=0)
               for r in range(size)]
    assert len({len(loader) for loader in loaders}) == 1  # the same number of steps
    for epoch in range(2):
        for loader in loaders:
            loader.set_epoch(epoch)
        single.set_epoch(epoch)
        parts = list(zip(*[list(loader) for loader in loaders]))
        whole = list(single)
        for k, shares in enumerate(parts):
            joined = numpy.concatenate([x for x, _ in shares]).ravel()
            assert numpy.array_equal(joined, whole[k][0].ravel())
            assert all(len(x) >= 1 for x, _ in shares)
        if n % (b * size) >= size:
            assert len(parts) == len(whole)
        else:  # the few left over sit out this epoch
            assert len(parts) == len(whole) - 1


def test_ranks_draw_their_own_augmentation():
    def noise(x, rng):
        return x + rng.random(x.shape, dtype=numpy.float32)

    data = _data(8)
    first = [next(iter(DistributedLoader(data, 2, _rank(r, 2), seed=1, transform=noise,
                                         prefetch=0, shuffle=False)))[0] for r in range(2)]
    plain = next(iter(DataLoader(data, 2, seed=1, transform=noise, prefetch=0, shuffle=False)))
    alone = next(iter(DistributedLoader(data, 2, _rank(0, 1), seed=1, transform=noise,
                                        prefetch=0, shuffle=False)))
    offsets = [x.ravel() - numpy.array([0, 1]) - 2 * r for r, x in enumerate(first)]
    assert not numpy.allclose(offsets[0], offsets[1])  # seed + rank: other draws
    assert numpy.array_equal(alone[0], plain[0])  # one rank: the plain loader's draws


@pytest.mark.parametrize("n, size", [(10, 3), (2, 4), (0, 2)])
def test_evaluation_shards_cover_every_example_once(n, size):
    data = _data(n)
    seen = [int(v) for r in range(size)
            for v in evaluation_shard(data, _rank(r, size)).get_batch(
                numpy.arange(len(evaluation_shard(data, _rank(r, size)))))[0].ravel()]
    assert sorted(seen) == list(range(n))
