"""DataLoader: seeded orders, batch sizes, epochs and resume, prefetch thread behaviour."""

import threading
import traceback

import numpy
import pytest

from xpnet.data import ArrayDataset
from xpnet.data.loader import DataLoader


def dataset(n=10):
    x = numpy.arange(n * 4, dtype=numpy.float32).reshape(n, 1, 2, 2)
    return ArrayDataset(x, numpy.arange(n) % 3)


def indices_of(batches):
    return [(x[:, 0, 0, 0] / 4).astype(int).tolist() for x, _ in batches]


@pytest.mark.parametrize("prefetch", [0, 2])
def test_data_loader_order_is_the_seeded_permutation(prefetch):
    loader = DataLoader(dataset(), batch_size=4, seed=7, prefetch=prefetch)
    for epoch in range(3):
        expected = numpy.random.default_rng([7, epoch]).permutation(10)
        got = indices_of(loader)
        assert got == [expected[:4].tolist(), expected[4:8].tolist(), expected[8:].tolist()]
        assert loader.epoch == epoch + 1
    assert indices_of(DataLoader(dataset(), 4, shuffle=False)) == [[0, 1, 2, 3], [4, 5, 6, 7],
                                                                  [8, 9]]


def test_data_loader_batch_sizes_full_online_mini():
    ds = dataset(10)
    assert [len(y) for _, y in DataLoader(ds, batch_size=None)] == [10]  # full batch
    assert [len(y) for _, y in DataLoader(ds, batch_size=10)] == [10]
    online = DataLoader(ds, batch_size=1)
    assert len(online) == 10 and all(len(y) == 1 for _, y in online)
    assert [len(y) for _, y in DataLoader(ds, batch_size=4, drop_last=True)] == [4, 4]
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    assert len(DataLoader(ds, batch_size=4)) == 3
    x, y = next(iter(DataLoader(ds, 4)))
    assert x.dtype == numpy.float32 and y.dtype == numpy.int64


def test_data_loader_labels_follow_images():
    for x, y in DataLoader(dataset(), batch_size=3, seed=1):
        numpy.testing.assert_array_equal(y, (x[:, 0, 0, 0] / 4).astype(int) % 3)


def test_data_loader_augmentation_rng_per_batch_and_resume():
    seen = []

    def transform(x, rng):
        seen.append(rng.integers(1 << 30))
        return x + 0

    loader = DataLoader(dataset(), batch_size=4, seed=3, transform=transform)
    list(loader)
    list(loader)
    expected = [numpy.random.default_rng([3, e, b]).integers(1 << 30)
                for e in range(2) for b in range(3)]
    assert seen == expected
    # resume at epoch 1 from the state dict: same order, same augmentation
    first = DataLoader(dataset(), batch_size=4, seed=3)
    list(first)
    state = first.state_dict()
    assert state == {"epoch": 1, "seed": 3}
    resumed = DataLoader(dataset(), batch_size=4, seed=99)
    resumed.load_state_dict(state)
    assert indices_of(resumed) == indices_of(first)
    resumed.set_epoch(0)
    assert indices_of(resumed) == indices_of(DataLoader(dataset(), batch_size=4, seed=3))


def test_data_loader_same_batches_with_and_without_prefetch():
    def transform(x, rng):
        return x + rng.random(x.shape).astype(numpy.float32)

    a = [x for x, _ in DataLoader(dataset(), 3, seed=5, transform=transform, prefetch=0)]
    b = [x for x, _ in DataLoader(dataset(), 3, seed=5, transform=transform, prefetch=3)]
    for u, v in zip(a, b, strict=True):
        numpy.testing.assert_array_equal(u, v)


def test_data_loader_prefetch_prepares_the_next_batch_in_the_background():
    made = {}  # batch number -> name of the thread whose transform made it
    second = threading.Event()

    def transform(x, rng):
        made[len(made)] = threading.current_thread().name
        if len(made) == 2:
            second.set()
        return x

    batches = iter(DataLoader(dataset(12), batch_size=4, seed=0, transform=transform,
                              prefetch=2))
    next(batches)
    # the consumer is "training" on batch 0 and asks for nothing: batch 1 is made anyway
    assert second.wait(timeout=10), "the prefetch thread did not run ahead"
    assert set(made.values()) == {"xpnet-DataLoader"}
    assert len(list(batches)) == 2
    made.clear()
    list(DataLoader(dataset(12), batch_size=4, transform=transform, prefetch=0))
    assert set(made.values()) == {threading.current_thread().name}  # prefetch 0: inline


def test_data_loader_early_stop_joins_thread_and_keeps_epoch():
    before = threading.active_count()
    loader = DataLoader(dataset(100), batch_size=2, prefetch=2)
    for i, _ in enumerate(loader):
        if i == 3:
            break
    assert threading.active_count() == before
    assert loader.epoch == 0  # an unfinished pass does not count
    assert not any(t.name == "xpnet-DataLoader" for t in threading.enumerate())


def test_data_loader_worker_error_reraised_with_its_traceback():
    def broken(x, rng):
        raise RuntimeError("augmentation failed here")

    before = threading.active_count()
    with pytest.raises(RuntimeError, match="augmentation failed here") as info:
        list(DataLoader(dataset(), 4, transform=broken, prefetch=2))
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert "broken" in frames  # the worker's frames are kept
    assert threading.active_count() == before


def test_data_loader_argument_errors():
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DataLoader(dataset(), batch_size=0)
    with pytest.raises(ValueError, match="prefetch must be"):
        DataLoader(dataset(), prefetch=-1)
    with pytest.raises(TypeError, match="expected a Dataset"):
        DataLoader([1, 2, 3])
    pair = DataLoader((numpy.zeros((3, 1, 2, 2)), numpy.array([0, 1, 0])), batch_size=2)
    assert len(pair) == 2
