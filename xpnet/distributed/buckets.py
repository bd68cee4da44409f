"""Gradient buckets: one flat gradient buffer, reduced in pieces while backward still runs.

Data parallelism averages every gradient over the ranks at every step. Sending each
parameter's gradient on its own pays MPI's latency once per parameter; sending them all
after backward leaves the network idle while backward computes. Like PyTorch's
DistributedDataParallel (Li et al. 2020) and Horovod's fusion buffer (Sergeev and Del
Balso 2018), :class:`GradientBuckets` lays every gradient out in ONE contiguous buffer,
in reverse parameter order (the order backward produces them), cut into buckets of about
``bucket_mb`` megabytes, and starts a non-blocking allreduce (``MPI_Iallreduce``) on a
bucket as soon as the last gradient of it is ready, while backward computes the
gradients of the layers below.

How it knows a gradient is ready: :meth:`prepare`, called with the model's output after
the forward pass, walks the recorded graph once and counts, for each parameter, the ops
that will add to its gradient (a parameter used twice gets two). The parameters' hooks
(:meth:`xpnet.Tensor.register_post_accumulate_grad_hook`) count down; at zero the
gradient is final and is copied into its slot, scaled by this rank's example count n_r.
Parameters the graph does not reach are ready at once, with a zero gradient.

Buckets go out strictly in order, 0, 1, 2..., on every rank (a bucket that fills early
waits for the ones before it), because MPI matches collectives by their order. When the
last bucket is out, the ranks' sums are awaited, divided by N = sum_r n_r, and every
parameter's ``grad`` becomes its view of the buffer:

    g = (1/N) sum_r n_r g_r,   g_r the mean gradient over rank r's n_r examples,

the mean gradient over the N examples of the global batch: exactly the gradient one
process computes from the whole batch, also when the last batch is split unevenly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy

from xpnet import backend
from xpnet.distributed.comm import Communicator, Request
from xpnet.tensor import Tensor

__all__ = ["Bucket", "GradientBuckets", "count_uses"]


def count_uses(output: Tensor, params: dict[int, Any]) -> dict[int, int]:
    """How many gradient contributions each parameter gets when ``output`` is differentiated.

    Args:
        output: a Tensor of a recorded graph (the model's output).
        params: ``id(parameter) -> anything``: the parameters to count.

    Returns:
        ``id -> count`` for every parameter in ``params`` (0 for those not reached).
    """
    counts = dict.fromkeys(params, 0)
    stack = [output.creator] if output.creator is not None else []
    seen: set[int] = set()
    while stack:
        f = stack.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        for x, need in zip(f.inputs, f.needs_input_grad):
            if not need:
                continue
            if x.creator is None:
                if id(x) in counts:
                    counts[id(x)] += 1
            else:
                stack.append(x.creator)
    return counts


@dataclass
class Bucket:
    """A run of parameters whose gradients are one contiguous slice of the flat buffer.

    Attributes:
        index: its place in the send order.
        params: the parameters, in reverse model order.
        dtype: their dtype (a bucket never mixes dtypes).
        start, stop: the slice of the dtype's flat buffer.
    """

    index: int
    params: list[Tensor]
    dtype: Any
    start: int
    stop: int

    @property
    def nbytes(self) -> int:
        """Bytes sent by its allreduce."""
        return (self.stop - self.start) * numpy.dtype(self.dtype).itemsize


class GradientBuckets:
    """Average the gradients of ``params`` over the ranks of ``comm``, bucket by bucket.

    Args:
        params: the parameters to keep in sync (``model.parameters()``).
        comm: the job's communicator.
        bucket_mb: the size a bucket reaches before the next one starts, in MiB (a
            parameter is never split, so a bucket may be larger).

    Attributes:
        buckets: the :class:`Bucket` list, in send order.
        wait_seconds: time spent blocked waiting for allreduces since the last
            :meth:`reset_timers` (the communication that backward did not hide).

    Example:
        >>> sync = GradientBuckets(list(model.parameters()), comm, bucket_mb=1.0)
        >>> out = model(x)
        >>> sync.prepare(out, len(x))      # after forward, before backward
        >>> loss_fn(out, y).backward()     # buckets go out during backward
        >>> sync.finished                  # every p.grad is the global mean now
        True
    """

    def __init__(self, params: list[Tensor], comm: Communicator, bucket_mb: float = 1.0) -> None:
        if not params:
            raise ValueError("GradientBuckets: no parameters")
        if not bucket_mb > 0:
            raise ValueError(f"GradientBuckets: bucket_mb must be > 0, got {bucket_mb}")
        self.params, self.comm = list(params), comm
        self.buckets = _plan(self.params, int(bucket_mb * 2**20))
        self._where = {id(p): (b, _offset(b, p)) for b in self.buckets for p in b.params}
        self._flat: dict[str, Any] = {}  # dtype name -> the flat buffer
        self._device: str | None = None
        self._handles = [p.register_post_accumulate_grad_hook(self._ready) for p in self.params]
        self.wait_seconds = 0.0
        self.finished = True
        self._active = False

    def close(self) -> None:
        """Remove the hooks from the parameters."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def reset_timers(self) -> None:
        """Set :attr:`wait_seconds` to 0."""
        self.wait_seconds = 0.0

    def flat(self, dtype: Any) -> Any:
        """The flat buffer of ``dtype`` (every gradient of that dtype, bucket after bucket)."""
        return self._flat[numpy.dtype(dtype).name]

    # ------------------------------------------------------------------- a step
    def prepare(self, output: Tensor, count: int) -> None:
        """Get ready for the backward pass from ``output``, over ``count`` local examples.

        Raises:
            RuntimeError: the previous backward left a bucket unsent, or a parameter
                still has a gradient (zero them before each step: accumulating
                gradients over several backward passes is not supported).
        """
        if self._active and not self.finished:
            late = [i for i, n in enumerate(self._missing) if n]
            raise RuntimeError(f"data parallel: the previous backward never completed "
                               f"buckets {late}: some parameter got fewer gradients than "
                               "its forward pass promised")
        stale = [i for i, p in enumerate(self.params) if p.grad is not None]
        if stale:
            raise RuntimeError(f"data parallel: parameters {stale[:5]} still hold a gradient;"
                               " call optimizer.zero_grad() before each forward pass")
        self._allocate()
        self._uses = count_uses(output, self._where)
        self._missing = [len(b.params) for b in self.buckets]
        self._scale = float(count)
        self._count = numpy.array([float(count)])
        self._count_req = self.comm.iallreduce(self._count)
        self._inflight: list[tuple[Bucket, Request]] = []
        self._next = 0
        self._active, self.finished = True, False
        for p in self.params:
            if self._uses[id(p)] == 0:  # not reached by this graph: a zero gradient
                self._fill(p, None)

    def _allocate(self) -> None:
        device = backend.device_of(self.params[0].data)
        if device == self._device:
            return
        xp = backend.get_array_module(self.params[0].data)
        sizes: dict[str, int] = {}
        for b in self.buckets:
            name = numpy.dtype(b.dtype).name
            sizes[name] = max(sizes.get(name, 0), b.stop)
        self._flat = {name: xp.zeros(n, dtype=name) for name, n in sizes.items()}
        self._device = device

    def _ready(self, p: Tensor) -> None:
        """A parameter's hook: one more contribution arrived; at the last, fill its slot."""
        if not self._active or self.finished:
            raise RuntimeError("data parallel: a gradient arrived outside a prepared step "
                               "(did the loss use a parameter the model's output did not?)")
        left = self._uses[id(p)] - 1
        if left < 0:
            raise RuntimeError("data parallel: a parameter got more gradients than the "
                               "model's output graph holds; a loss that reads parameters "
                               "itself is not supported")
        self._uses[id(p)] = left
        if left == 0:
            self._fill(p, p.grad)
        for _, req in self._inflight:  # let MPI move the buckets already sent
            req.test()

    def _fill(self, p: Tensor, grad: Any) -> None:
        bucket, (start, stop) = self._where[id(p)]
        slot = self.flat(bucket.dtype)[start:stop].reshape(p.shape)  # (p.shape) view
        if grad is None:
            slot[...] = 0
        else:
            backend.get_array_module(slot).multiply(grad, self._scale, out=slot)
        p.grad = slot  # the local n_r g_r now; the global mean after finish()
        self._missing[bucket.index] -= 1
        while self._next < len(self.buckets) and self._missing[self._next] == 0:
            self._send(self.buckets[self._next])
            self._next += 1
        if self._next == len(self.buckets):
            self._finish()

    def _send(self, bucket: Bucket) -> None:
        piece = self.flat(bucket.dtype)[bucket.start:bucket.stop]
        self._inflight.append((bucket, self.comm.iallreduce(piece)))

    def _finish(self) -> None:
        begin = time.perf_counter()
        total = float(self._count_req.wait()[0])
        for _, req in self._inflight:
            piece = req.wait()
            piece *= piece.dtype.type(1.0 / total)
        self.wait_seconds += time.perf_counter() - begin
        self._inflight = []
        self.finished = True


def _plan(params: list[Tensor], cap: int) -> list[Bucket]:
    """Buckets of at least ``cap`` bytes in reverse parameter order, one dtype each."""
    buckets: list[Bucket] = []
    ends: dict[str, int] = {}  # dtype -> the next free offset of its flat buffer
    current: Bucket | None = None
    for p in reversed(params):
        dtype = numpy.dtype(p.data.dtype)
        if current is None or current.dtype != dtype or current.nbytes >= cap:
            start = ends.get(dtype.name, 0)
            current = Bucket(len(buckets), [], dtype, start, start)
            buckets.append(current)
        current.params.append(p)
        current.stop += p.numel()
        ends[dtype.name] = current.stop
    return buckets


def _offset(bucket: Bucket, p: Tensor) -> tuple[int, int]:
    start = bucket.start
    for q in bucket.params:
        if q is p:
            return start, start + p.numel()
        start += q.numel()
    raise AssertionError("parameter not in its bucket")
