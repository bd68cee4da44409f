"""Training on several processes and machines over MPI: data and tower parallelism.

Launch any script or ``xpnet train`` with ``mpiexec -n R``; :func:`init` gives the job's
:class:`Communicator` (a :class:`LocalCommunicator` of one process without MPI).

- :class:`DataParallel`, :class:`GradientBuckets`: one model on every rank, gradients
  averaged in buckets by non-blocking allreduce while backward runs.
- :class:`DistributedLoader`, :func:`evaluation_shard`: each rank's share of every
  global batch, and of an evaluation set.
- :class:`DistributedTrainer`: :class:`xpnet.train.Trainer` for a data-parallel job
  (broadcast and checked start, per-rank random streams, metrics summed over ranks,
  checkpoints written by rank 0 alone).
- :class:`TowerModel`, :class:`TowerTrainer`: AlexNet's two towers on two ranks, with
  the exchanges of :mod:`xpnet.distributed.exchange` (:func:`all_gather`,
  :func:`halo_exchange`) where the towers talk.

``xpnet train`` does all of this under ``mpiexec`` (``docs/distributed.md``).

Example:
    >>> from xpnet import distributed
    >>> comm = distributed.init()
    >>> model = distributed.DataParallel(model, comm)
"""

from xpnet.distributed.buckets import GradientBuckets, count_uses
from xpnet.distributed.comm import (
    Communicator,
    LocalCommunicator,
    MPICommunicator,
    Request,
    init,
)
from xpnet.distributed.data_parallel import (
    DataParallel,
    broadcast_module,
    broadcast_optimizer,
    check_identical,
)
from xpnet.distributed.exchange import ExchangeMeter, all_gather, halo_exchange
from xpnet.distributed.sampler import DistributedLoader, evaluation_shard, shard_sizes
from xpnet.distributed.towers import TowerModel
from xpnet.distributed.trainer import DistributedTrainer, TowerTrainer

__all__ = [
    "Communicator",
    "DataParallel",
    "DistributedLoader",
    "DistributedTrainer",
    "ExchangeMeter",
    "GradientBuckets",
    "LocalCommunicator",
    "MPICommunicator",
    "Request",
    "TowerModel",
    "TowerTrainer",
    "all_gather",
    "broadcast_module",
    "broadcast_optimizer",
    "check_identical",
    "count_uses",
    "evaluation_shard",
    "halo_exchange",
    "init",
    "shard_sizes",
]
