"""DistributedTrainer: :class:`xpnet.train.Trainer` on every rank of a data-parallel job.

What it adds to the loop, rank by rank:

- at the start of :meth:`~xpnet.train.Trainer.fit` (after a resume), rank 0's
  parameters, buffers (the fitted pre-processing among them) and optimiser state are
  broadcast, and every rank checks, by the SHA-256 of each array, that it now holds
  exactly rank 0's state, position and number of batches per epoch;
- the model is a :class:`~xpnet.distributed.DataParallel`: gradients averaged during
  backward;
- every random generator of the model (dropout, DropConnect) and the trainer's own are
  drawn from ``SeedSequence([seed, rank, ...])`` on ranks other than 0 (rank 0 keeps the
  ones the model was built with, so its masks are a one-process run's);
- the epoch's training and validation numbers are sums of counts over the ranks
  (examples, loss sums, correct answers), not averages of per-rank percentages;
- checkpoints: every rank sends its generators' states and running sums to rank 0,
  which alone writes the file; then all wait at a barrier, so no rank reads a file that
  is half written. Callbacks that write (history, TensorBoard, curves, progress) are
  given to rank 0 only.

Resuming under the same number of ranks restores each rank's generators exactly; under
another number, ranks the checkpoint has keep theirs and the others are derived again
from (seed, rank, step). A checkpoint saved within an epoch resumes only under the same
number of ranks, because the global batches of that epoch would differ.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy

from xpnet.distributed.comm import Communicator
from xpnet.distributed.data_parallel import (
    DataParallel,
    broadcast_module,
    broadcast_optimizer,
    check_identical,
)
from xpnet.distributed.towers import TowerModel
from xpnet.train.callbacks import Callback, Checkpoint
from xpnet.train.fit import Trainer
from xpnet.train.metrics import Accumulator

__all__ = ["DistributedTrainer", "TowerTrainer", "derive_generator"]

_SUMS = ("count", "loss_sum", "correct", "correct_k")


def derive_generator(generator: numpy.random.Generator, seed: int, rank: int, step: int,
                     index: int) -> None:
    """Re-seed ``generator`` in place from ``SeedSequence([seed, rank, step, index])``."""
    fresh = type(generator.bit_generator)(numpy.random.SeedSequence([seed, rank, step, index]))
    generator.bit_generator.state = fresh.state


class _SyncStart(Callback):
    """First of all callbacks: broadcast rank 0's state, then check it arrived whole."""

    order = -1000

    def __init__(self, comm: Communicator) -> None:
        self.comm = comm

    def on_train_begin(self, state: Any) -> None:
        trainer = state.trainer
        broadcast_module(trainer.model, self.comm)
        broadcast_optimizer(trainer.optimizer, self.comm)
        check_identical({"model": trainer.model.state_dict(),
                         "optimizer": trainer.optimizer.state_dict(),
                         "progress": [trainer.epoch, trainer.batch, trainer.step],
                         "batches_per_epoch": state.batches_per_epoch}, self.comm)


class _FollowerCheckpoint(Checkpoint):
    """The Checkpoint of a rank other than 0: takes part in each save, writes nothing.

    Its state (the best value so far) is rank 0's Checkpoint's, under the same key, so
    that after a resume every rank decides alike when to save ``best``.
    """

    state_key = "Checkpoint"

    def on_train_begin(self, state: Any) -> None:
        pass


class _RankTrainer(Trainer):
    """What both kinds of distributed trainer share: rank 0 alone writes the run folder.

    Rank 0 gets ``run_dir`` (and with it the History and Checkpoint callbacks); the other
    ranks get a Checkpoint that takes part in every save and writes nothing. A save is a
    collective: every rank calls :meth:`state_dict` once (a subclass may gather in it),
    rank 0 writes, and all wait at a barrier before going on.
    """

    def __init__(self, model: Any, optimizer: Any, train_loader: Any, *args: Any,
                 comm: Communicator, first: Callback, run_dir: str | os.PathLike | None = None,
                 callbacks: Any = (), **kwargs: Any) -> None:
        self.comm = comm
        extra: list[Callback] = [first]
        if comm.rank != 0 and run_dir is not None:
            extra.append(_FollowerCheckpoint(run_dir,
                                             every_steps=kwargs.get("checkpoint_every_steps"),
                                             monitor=kwargs.get("monitor", "val_loss")))
        super().__init__(model, optimizer, train_loader, *args, callbacks=[*extra, *callbacks],
                         run_dir=run_dir if comm.rank == 0 else None, **kwargs)
        if run_dir is not None:
            self.run_dir = Path(run_dir)  # read by every rank (resume), written by rank 0

    def save_checkpoint(self, path: str | os.PathLike) -> Path:
        """Every rank's part of the state goes to rank 0, which writes; then a barrier."""
        try:
            if self.comm.rank == 0:
                path = super().save_checkpoint(path)
            else:
                self.state_dict()  # its part of the collectives in it
        finally:
            self.comm.barrier()
        return Path(path)


class DistributedTrainer(_RankTrainer):
    """A :class:`~xpnet.train.Trainer` for one rank of a data-parallel job.

    Every rank builds one, with the same model architecture, optimiser and settings, a
    :class:`~xpnet.distributed.DistributedLoader` for training and its
    :func:`~xpnet.distributed.evaluation_shard` for validation.

    Args:
        model: the model, or a :class:`DataParallel` of it (wrapped here otherwise).
        optimizer: over the model's parameters.
        train_loader: this rank's loader (:class:`DistributedLoader`).
        *args: as :class:`~xpnet.train.Trainer`.
        comm: the job's communicator.
        run_dir: the run folder, the same path on every rank; only rank 0 writes in it.
        callbacks: this rank's callbacks (give writing ones to rank 0 only).
        bucket_mb: gradient bucket size in MiB.
        **kwargs: as :class:`~xpnet.train.Trainer`.

    Example:
        >>> comm = distributed.init()
        >>> trainer = distributed.DistributedTrainer(
        ...     model, optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
        ...     distributed.DistributedLoader(train_set, 32, comm), comm=comm,
        ...     run_dir="runs/dp")
        >>> trainer.fit(10)
    """

    def __init__(self, model: Any, optimizer: Any, train_loader: Any, *args: Any,
                 comm: Communicator, bucket_mb: float = 1.0, **kwargs: Any) -> None:
        if not isinstance(model, DataParallel):
            model = DataParallel(model, comm, bucket_mb, broadcast=False)
        super().__init__(model, optimizer, train_loader, *args, comm=comm,
                         first=_SyncStart(comm), **kwargs)
        if comm.rank != 0:
            self._derive_generators(range(len(self.generators())))

    def _derive_generators(self, which: Any) -> None:
        gens = list(self.generators().values())
        for i in which:
            derive_generator(gens[i], self.seed, self.comm.rank, self.step, i)

    # ------------------------------------------------------------------- metrics
    def train_metrics(self) -> dict[str, Any]:
        """The training numbers of the epoch over every rank's examples."""
        local = self.train_acc
        merged = Accumulator(local.num_classes, topk=local.topk)
        sums = self.comm.allreduce(numpy.array([getattr(local, k) for k in _SUMS], float))
        merged.count, merged.loss_sum, merged.correct, merged.correct_k = (
            int(sums[0]), float(sums[1]), int(sums[2]), int(sums[3]))
        self.train_acc = merged
        try:
            return super().train_metrics()
        finally:
            self.train_acc = local

    def validate(self) -> dict[str, Any]:
        """The validation numbers over every rank's shard (see :func:`reduce_counts`)."""
        return reduce_counts(super().validate(), self.comm)

    # --------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """As the Trainer's, plus every rank's generators and running sums under
        ``"ranks"`` (a collective: every rank calls it)."""
        state = super().state_dict()
        mine = {"rng": state["rng"], "train_acc": state["train_acc"]}
        gathered = self.comm.allgather_object(mine)
        state["ranks"] = {"size": self.comm.size, "rng": [g["rng"] for g in gathered],
                          "train_acc": [g["train_acc"] for g in gathered]}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint on this rank (see the module notes for other rank counts).

        Raises:
            ValueError: a checkpoint saved within an epoch by another number of ranks.
        """
        ranks = state.get("ranks") or {"size": 1, "rng": [state["rng"]],
                                       "train_acc": [state["train_acc"]]}
        check_resume(state, self.comm.size)
        super().load_state_dict(state)
        rank = self.comm.rank
        if rank < int(ranks["size"]):
            for name, g in self.generators().items():
                g.bit_generator.state = ranks["rng"][rank][name]
            self.train_acc.load_state_dict(ranks["train_acc"][rank])
        else:
            self._derive_generators(range(len(self.generators())))


def check_resume(state: dict[str, Any], size: int) -> None:
    """Refuse to resume, under ``size`` ranks, a checkpoint saved within an epoch by another
    number of ranks (the global batches of that epoch would not be the same).

    Raises:
        ValueError: naming the number of ranks to use.
    """
    saved = int((state.get("ranks") or {}).get("size", 1))
    if saved != size and state.get("progress", {}).get("batch"):
        raise ValueError(f"resume: this checkpoint was saved within an epoch by {saved} "
                         f"process(es); resume it with {saved} (mpiexec -n {saved}), or from "
                         "a checkpoint saved at the end of an epoch")


def reduce_counts(result: dict[str, Any], comm: Communicator) -> dict[str, Any]:
    """An :func:`~xpnet.train.evaluate` result of this rank's shard -> the whole set's.

    Each mean (loss, accuracy, top-5) times this rank's ``count`` is a sum (of losses,
    of correct answers); the sums and counts are added over the ranks, then divided.
    """
    keys = [k for k in result if k not in ("count", "confusion")]
    n = result["count"]
    sums = comm.allreduce(numpy.array([n, *(result[k] * n for k in keys)], float))
    total = max(1.0, sums[0])
    out: dict[str, Any] = {k: float(v / total) for k, v in zip(keys, sums[1:])}
    out["count"] = int(sums[0])
    return out


class _CheckTowers(Callback):
    """First of all callbacks: every rank must hold the same shared state and position."""

    order = -1000

    def __init__(self, comm: Communicator) -> None:
        self.comm = comm

    def on_train_begin(self, state: Any) -> None:
        trainer = state.trainer
        check_identical({"shared": trainer.model.replicated_state(),
                         "progress": [trainer.epoch, trainer.batch, trainer.step],
                         "lr": trainer.optimizer.lr, "rng": repr(trainer.rng.bit_generator.state),
                         "batches_per_epoch": state.batches_per_epoch}, self.comm)


class TowerTrainer(_RankTrainer):
    """A :class:`~xpnet.train.Trainer` for one rank of a tower-parallel job.

    Every rank sees the same batches (a plain DataLoader with the same seed) and holds
    one tower of the model; losses and metrics are the same on every rank. Checkpoints
    hold the GROUPED model and its optimiser state, gathered from the towers, so they
    load into the one-process model.

    Args:
        model: this rank's :class:`~xpnet.distributed.towers.TowerModel`.
        optimizer: over its parameters.
        train_loader: the same loader on every rank.
        *args, **kwargs: as :class:`~xpnet.train.Trainer`.
        comm: the job's communicator.
    """

    def __init__(self, model: TowerModel, optimizer: Any, train_loader: Any, *args: Any,
                 comm: Communicator, **kwargs: Any) -> None:
        if not isinstance(model, TowerModel):
            raise TypeError(f"TowerTrainer: expected a TowerModel, got {type(model).__name__}")
        super().__init__(model, optimizer, train_loader, *args, comm=comm,
                         first=_CheckTowers(comm), **kwargs)

    def state_dict(self) -> dict[str, Any]:
        """The grouped model's state and optimiser (gathered from the towers): a collective."""
        state = super().state_dict()
        opt = dict(state["optimizer"])
        opt["state"] = {k: {name: self.comm.allgather(a, 0) for name, a in sorted(v.items())}
                        for k, v in opt["state"].items()}
        state["optimizer"] = opt
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take this rank's rows of a grouped state (model and optimiser buffers)."""
        opt = dict(state["optimizer"])
        opt["state"] = {k: {name: self.model.own_rows(int(k), a) for name, a in v.items()}
                        for k, v in opt["state"].items()}
        super().load_state_dict({**state, "optimizer": opt})
