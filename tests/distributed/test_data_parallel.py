"""Data parallelism on two processes (``mpiexec -n 2 python -m pytest tests/distributed``):
2 ranks x batch b take the steps 1 process x batch 2b takes; the replicas stay identical;
metrics are sums of counts; rank 0 alone writes; a resumed job continues exactly."""

import builtins
import os
from pathlib import Path

import numpy
import pytest

from xpnet import Tensor, nn, optim
from xpnet import functions as F
from xpnet.data import ArrayDataset, DataLoader
from xpnet.distributed import (
    DataParallel,
    DistributedLoader,
    DistributedTrainer,
    LocalCommunicator,
    check_identical,
    evaluation_shard,
)
from xpnet.distributed.trainer import derive_generator
from xpnet.train import RunConfig, evaluate, train_run


def _data(n=50, seed=0):
    rng = numpy.random.default_rng(seed)
    return ArrayDataset(rng.standard_normal((n, 1, 8, 8)), rng.integers(0, 3, n))


def _net(seed=1, dropout=0.0, dtype=numpy.float64):
    r = numpy.random.default_rng(seed)
    layers = [nn.Conv2d(1, 4, 3, rng=r), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
              nn.Linear(36, 16, rng=r), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout, rng=numpy.random.default_rng([seed, 9])))
    return nn.Sequential(*layers, nn.Linear(16, 3, rng=r)).astype(dtype)


def _steps(model, opt, loader, epochs):
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for x, y in loader:
            opt.zero_grad()
            F.softmax_cross_entropy(model(Tensor(numpy.asarray(x, numpy.float64))), y).backward()
            opt.step()


@pytest.mark.parametrize("bucket_mb", [1e-3, 4.0])
def test_two_ranks_of_batch_b_step_as_one_process_of_batch_2b(two_ranks, bucket_mb):
    comm, b, data = two_ranks, 4, _data()  # 50 = 6 x 8 + 2: an uneven last batch, 1 each
    reference = _net()
    ref_opt = optim.SGD(reference.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    _steps(reference, ref_opt, DataLoader(data, 2 * b, seed=3, prefetch=0), epochs=3)

    net = _net(seed=1 + comm.rank)  # different weights: the broadcast makes them rank 0's
    model = DataParallel(net, comm, bucket_mb=bucket_mb)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    _steps(model, opt, DistributedLoader(data, b, comm, seed=3, prefetch=0), epochs=3)

    for p, q in zip(model.parameters(), reference.parameters()):
        numpy.testing.assert_allclose(p.data, q.data, rtol=1e-12, atol=1e-13)
    check_identical({"model": model.state_dict(), "optimizer": opt.state_dict()}, comm)


def test_check_identical_names_what_differs(two_ranks):
    comm = two_ranks
    check_identical({"w": numpy.ones(3)}, comm)
    with pytest.raises(RuntimeError, match="w differs"):
        check_identical({"w": numpy.full(3, float(comm.rank))}, comm)


def _trainer(comm, run_dir, data, dropout=0.3, **options):
    model = _net(dropout=dropout, dtype=numpy.float32)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    val = DataLoader(evaluation_shard(_data(13, seed=5), comm), 4, shuffle=False)
    return DistributedTrainer(model, opt, DistributedLoader(data, 4, comm, seed=2), comm=comm,
                              val_loader=val, run_dir=run_dir, seed=4, **options)


def test_validation_numbers_are_sums_of_counts_over_the_ranks(two_ranks):
    comm = two_ranks
    trainer = _trainer(comm, None, _data())
    val = trainer.validate()
    whole = evaluate(trainer.model.module, DataLoader(_data(13, seed=5), 4, shuffle=False),
                     confusion=False)
    assert val["count"] == whole["count"] == 13  # 6 on rank 0, 7 on rank 1
    assert val["accuracy"] == pytest.approx(whole["accuracy"], abs=1e-12)
    assert val["loss"] == pytest.approx(whole["loss"], rel=1e-6)  # float32 batch means


def test_a_resumed_job_continues_exactly_with_each_ranks_random_streams(two_ranks,
                                                                         shared_tmp):
    comm, data = two_ranks, _data(40)
    full = _trainer(comm, shared_tmp / "full", data)
    full.fit(3)
    cut = _trainer(comm, shared_tmp / "cut", data, checkpoint_every_steps=3)
    cut.fit(2)
    again = _trainer(comm, shared_tmp / "cut", data, checkpoint_every_steps=3)
    again.fit(3, resume=True)
    for p, q in zip(again.model.parameters(), full.model.parameters()):
        assert numpy.array_equal(p.data, q.data)
    masks = comm.allgather_object(again.model.module[6].rng.bit_generator.state["state"])
    assert masks[0] != masks[1]  # dropout draws from seed + rank
    def numbers(history):
        return [{k: v for k, v in r.items() if k not in ("time", "images_per_sec")}
                for r in history]

    assert numbers(again.history) == numbers(full.history)


def test_a_run_of_one_process_resumes_on_two_with_rank_1s_streams_derived(two_ranks,
                                                                         shared_tmp):
    comm, data, run = two_ranks, _data(40), shared_tmp / "one"
    if comm.rank == 0:  # one process trains an epoch of 10 steps, alone
        _trainer(LocalCommunicator(), run, data).fit(1)
    comm.barrier()
    again = _trainer(comm, run, data)
    again.load_checkpoint(run / "last")
    saved = again.step
    assert saved == 10
    streams = {name: g.bit_generator.state for name, g in again.generators().items()}
    if comm.rank == 1:  # not in the checkpoint: derived again from (seed, rank, step)
        for i, (name, g) in enumerate(again.generators().items()):
            fresh = numpy.random.Generator(type(g.bit_generator)(0))
            derive_generator(fresh, 4, 1, saved, i)
            assert streams[name] == fresh.bit_generator.state
    ranks = comm.allgather_object(streams)
    assert ranks[0] != ranks[1]
    again = _trainer(comm, run, data)
    again.fit(2, resume=True)
    assert again.step == saved + 5  # 2 ranks x batch 4 = 8 a step: 5 steps an epoch
    assert [r["epoch"] for r in again.history] == [1, 2]
    check_identical({"model": again.model.state_dict(),
                     "optimizer": again.optimizer.state_dict()}, comm)


def test_rank_0_alone_writes_the_run_folder(two_ranks, shared_tmp, monkeypatch):
    comm = two_ranks
    data_file = shared_tmp / "tiny.npz"
    if comm.rank == 0:
        rng = numpy.random.default_rng(0)
        numpy.savez(data_file, x_train=rng.random((60, 1, 8, 8), numpy.float32),
                    y_train=numpy.arange(60) % 3, x_test=rng.random((11, 1, 8, 8),
                                                                    numpy.float32),
                    y_test=numpy.arange(11) % 3)
    comm.barrier()
    run_dir = shared_tmp / "run"
    writes = []
    if comm.rank == 1:  # rank 1 never fits the pre-processing: it gets rank 0's
        from xpnet.train import builders

        def no_fit(*args):
            raise AssertionError("rank 1 fitted the pre-processing")

        monkeypatch.setattr(builders, "build_preprocessing", no_fit)
    if comm.rank == 1:  # note every file rank 1 opens for writing in the run folder
        real_open, real_replace = builtins.open, os.replace

        def spy_open(file, mode="r", *args, **kwargs):
            if any(c in mode for c in "wax+") and str(run_dir) in str(file):
                writes.append(str(file))
            return real_open(file, mode, *args, **kwargs)

        def spy_replace(src, dst, *args, **kwargs):
            if str(run_dir) in str(dst):
                writes.append(str(dst))
            return real_replace(src, dst, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", spy_open)
        monkeypatch.setattr(os, "replace", spy_replace)
    config = RunConfig(model="mlp", data=str(data_file), epochs=2, batch_size=8,
                       checkpoint_every=3, curves=False, model_options={"hidden": [16]})
    result = train_run(config, run_dir, comm=comm)
    assert writes == []
    assert result.test["count"] == 11
    names = sorted(p.name for p in Path(run_dir).iterdir())
    assert {"config.json", "history.jsonl", "last.safetensors", "best.safetensors"} <= set(
        names)
    assert comm.allgather_object(result.test) == [result.test, result.test]
