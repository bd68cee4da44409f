"""Job: what :func:`xpnet.train.train_run` does differently when R > 1 processes share a run.

The recipe stays one function; where a step depends on the job it asks this object:
who writes (rank 0), what is shared (rank 0's run folder name and fitted pre-processing,
broadcast), which model each rank trains (a :class:`DataParallel` replica or a tower),
which examples it reads (its shard, or every batch for towers) and how numbers measured
on shards add up (sums of counts).
"""

from __future__ import annotations

from typing import Any

from xpnet.data import DataLoader, Dataset
from xpnet.distributed.comm import Communicator
from xpnet.distributed.data_parallel import DataParallel
from xpnet.distributed.sampler import DistributedLoader, evaluation_shard
from xpnet.distributed.towers import TowerModel
from xpnet.distributed.trainer import DistributedTrainer, TowerTrainer, reduce_counts
from xpnet.train.config import ConfigError

__all__ = ["Job"]


class Job:
    """One process's view of a run shared by R > 1 processes.

    Args:
        comm: the job's communicator (R > 1).
        config: the run's settings (``parallel`` says how the work is shared).
        resume: whether the run continues (pre-training then never runs again).

    Attributes:
        writer: True on rank 0, the only rank that writes the run folder and prints.

    Raises:
        ConfigError: towers on other than 2 processes or another model than alexnet, or
            layer-wise pre-training (it runs in one process: pre-train, then resume the
            run under mpiexec).
    """

    def __init__(self, comm: Communicator, config: Any, resume: bool = False) -> None:
        self.comm, self.parallel = comm, config.parallel
        self.writer = comm.rank == 0
        if config.pretrain != "none" and not resume:
            raise ConfigError(f"--pretrain {config.pretrain} runs in one process: start the run "
                              "without mpiexec, stop it after pre-training, then continue it "
                              "with mpiexec ... xpnet train --resume RUN")
        if self.parallel == "towers" and (comm.size != 2 or config.model != "alexnet"):
            raise ConfigError(f"--parallel towers splits alexnet's two towers over 2 "
                              f"processes; got model {config.model} on {comm.size}")

    def share(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""
        return self.comm.broadcast_object(value)

    def barrier(self) -> None:
        """Wait until every rank is here (after rank 0 wrote something the others read)."""
        self.comm.barrier()

    def describe(self, config: Any, model: Any) -> list[str]:
        """Lines for the run's header: how the work is shared (for towers, rank 0's
        :meth:`~xpnet.distributed.towers.TowerModel.summary`)."""
        size = self.comm.size
        if self.parallel == "towers":
            return [f"towers: {size} processes, one AlexNet tower each, every batch on both",
                    model.summary(config.batch_size)]
        return [f"data parallel: {size} processes x batch {config.batch_size} = global batch "
                f"{size * config.batch_size}; gradients averaged in buckets during backward"]

    def preprocessing(self, fit: Any, steps: Any) -> Any:
        """Rank 0's fitted pre-processing on every rank.

        Args:
            fit: () -> the fitted Pipeline (called on rank 0 only).
            steps: () -> the same steps unfitted (the other ranks load rank 0's statistics).
        """
        if self.writer:
            pipeline = fit()
            state = {k: _host(v) for k, v in pipeline.state_dict().items()}
        else:
            pipeline, state = steps(), None
        state = self.comm.broadcast_object(state)
        if not self.writer:
            pipeline.load_state_dict(state)
        return pipeline

    def model(self, model: Any, info: Any) -> Any:
        """This rank's model: a data-parallel replica, or its tower (then log the summary)."""
        if self.parallel == "towers":
            return TowerModel(model, self.comm, info.input_shape)
        return DataParallel(model, self.comm, broadcast=False)

    def train_loader(self, train: Dataset, config: Any, augment: Any) -> Any:
        """Each rank's share of every global batch, or (towers) every batch on every rank."""
        if self.parallel == "towers":
            return DataLoader(train, config.batch_size, seed=config.seed, transform=augment)
        return DistributedLoader(train, config.batch_size, self.comm, seed=config.seed,
                                 transform=augment)

    def validation_split(self, val: Dataset) -> Dataset:
        """What this rank validates on: its shard, or (towers) the whole set."""
        return val if self.parallel == "towers" else evaluation_shard(val, self.comm)

    def test_split(self, test: Dataset) -> Dataset:
        """What this rank tests the best checkpoint (a one-process model) on: its shard."""
        return evaluation_shard(test, self.comm)

    def reduce(self, result: dict[str, Any]) -> dict[str, Any]:
        """An evaluation of this rank's shard -> the whole set's numbers."""
        return reduce_counts(result, self.comm)

    def trainer_class(self) -> type:
        """The Trainer each rank runs."""
        return TowerTrainer if self.parallel == "towers" else DistributedTrainer


def _host(value: Any) -> Any:
    from xpnet import backend  # noqa: PLC0415

    return backend.to_numpy(value).copy()
