"""DataParallel: one model replicated on every rank, its gradients averaged at every step.

Each rank holds the whole model and runs forward and backward on its own share of the
global batch; :class:`~xpnet.distributed.buckets.GradientBuckets` averages the gradients
during backward, so every rank's optimiser takes the same step from the same weights and
the replicas never drift apart. The wrapper is transparent: its parameters, buffers,
state dict and module names are the wrapped model's (no ``module.`` prefix), so a
checkpoint written under data parallelism loads into the plain model and back.

Example:
    >>> comm = distributed.init()
    >>> model = distributed.DataParallel(models.lenet5(seed=0), comm)  # rank 0's weights
    >>> opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    >>> for x, y in distributed.DistributedLoader(train_set, 32, comm):
    ...     opt.zero_grad()
    ...     F.softmax_cross_entropy(model(Tensor(x)), y).backward()  # averaged here
    ...     opt.step()
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import numpy

from xpnet import backend
from xpnet.distributed.buckets import GradientBuckets
from xpnet.distributed.comm import Communicator
from xpnet.function import is_grad_enabled
from xpnet.nn import Module
from xpnet.tensor import Tensor

__all__ = ["DataParallel", "broadcast_module", "broadcast_optimizer", "check_identical",
           "state_digests"]


class DataParallel(Module):
    """Wrap ``module`` so that its gradients are averaged over the ranks of ``comm``.

    The forward pass is the module's; in training mode, with gradients recorded, it
    also prepares the gradient buckets for the backward pass that follows (see
    :mod:`xpnet.distributed.buckets`), with ``len(x)`` as this rank's example count.
    Zero the gradients before each forward pass (``optimizer.zero_grad()``).

    Args:
        module: the model (the same architecture on every rank).
        comm: the job's communicator.
        bucket_mb: bucket size in MiB.
        broadcast: copy rank 0's parameters and buffers to every rank now, and check.

    Attributes:
        module: the wrapped model.
        sync: its :class:`GradientBuckets`.

    Shape:
        The module's.
    """

    def __init__(self, module: Module, comm: Communicator, bucket_mb: float = 1.0,
                 broadcast: bool = True) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel: expected a Module, got {type(module).__name__}")
        self.module, self.comm = module, comm
        self.sync = GradientBuckets(list(module.parameters()), comm, bucket_mb)
        if broadcast:
            broadcast_module(module, comm)
            check_identical({"model": module.state_dict()}, comm)

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """The wrapped module's (the wrapper adds no name): parameters, buffers, state
        dicts, ``train()``/``eval()`` and ``to()`` all act on the model itself."""
        return self.module.named_modules(prefix)

    def forward(self, x: Any) -> Any:
        out = self.module(x)
        if (self.module.training and is_grad_enabled() and isinstance(out, Tensor)
                and out.requires_grad):
            self.sync.prepare(out, len(x))
        return out

    def __repr__(self) -> str:
        body = repr(self.module).replace("\n", "\n  ")
        return f"DataParallel(rank {self.comm.rank} of {self.comm.size},\n  {body}\n)"


def broadcast_module(module: Module, comm: Communicator, root: int = 0) -> None:
    """Overwrite every parameter and buffer of ``module`` with rank ``root``'s, in place."""
    for p in module.parameters():
        p.data = _broadcast_array(p.data, comm, root)
    for m in module.modules():
        for attr in m._buffers:
            value = getattr(m, attr)
            if value is not None:
                setattr(m, attr, _broadcast_array(value, comm, root))


def _broadcast_array(array: Any, comm: Communicator, root: int) -> Any:
    contiguous = array if array.flags.c_contiguous else array.copy()
    return comm.broadcast(contiguous, root)


def broadcast_optimizer(optimizer: Any, comm: Communicator, root: int = 0) -> None:
    """Give every rank rank ``root``'s optimiser state (hyper-parameters and buffers)."""
    state = _host(optimizer.state_dict()) if comm.rank == root else None
    state = comm.broadcast_object(state, root)
    if comm.rank != root:
        optimizer.load_state_dict(state)


def _host(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _host(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_host(v) for v in value)
    return backend.to_numpy(value).copy() if backend.is_array(value) else value


def state_digests(state: Any, prefix: str = "") -> dict[str, str]:
    """The SHA-256 of every array in a nested state (and of the JSON-like rest), by key."""
    out: dict[str, str] = {}
    if isinstance(state, dict):
        for k, v in state.items():
            out.update(state_digests(v, f"{prefix}{k}."))
        return out
    if backend.is_array(state):
        host = numpy.ascontiguousarray(backend.to_numpy(state))
        text = f"{host.dtype}{host.shape}".encode() + host.tobytes()
    else:
        text = repr(state).encode()
    out[prefix.rstrip(".")] = hashlib.sha256(text).hexdigest()
    return out


def check_identical(state: Any, comm: Communicator) -> None:
    """Check that ``state`` (nested dicts of arrays) is bit for bit rank 0's on every rank.

    Raises:
        RuntimeError: naming the first entry and the ranks where it differs (on every
            rank, so the job stops everywhere).
    """
    mine = state_digests(state)
    all_ranks = comm.allgather_object(mine)
    reference = all_ranks[0]
    for rank, digests in enumerate(all_ranks[1:], start=1):
        if digests.keys() != reference.keys():
            extra = sorted(set(digests) ^ set(reference))[:3]
            raise RuntimeError(f"rank {rank}'s state has other entries than rank 0's: {extra}")
        for key, value in digests.items():
            if value != reference[key]:
                raise RuntimeError(f"rank {rank} does not start from rank 0's state: "
                                   f"{key} differs")
