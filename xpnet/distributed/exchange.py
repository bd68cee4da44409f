"""Ops whose forward and backward cross ranks: the exchanges of tower (model) parallelism.

A model split over R ranks by channels (each rank computes some output channels of a
layer) needs two kinds of exchange:

- :func:`all_gather`: a layer that reads every channel (AlexNet's conv3 and dense
  layers) gets the ranks' parts joined. Forward: y = [x_0, ..., x_{R-1}] along ``axis``
  on every rank. Backward: each rank holds dE/dy for ITS use of y; when the ranks use y
  for different outputs (``backward="sum"``), dE/dx_r = sum over ranks q of the r-th part
  of their dE/dy (a reduce-scatter); when every rank computes the same thing from y
  (``backward="slice"``, the loss on the gathered scores), the ranks' dE/dy are equal
  and dE/dx_r is the r-th part of this rank's.
- :func:`halo_exchange`: a layer whose window over channels crosses the cut (local
  response normalisation over n channels) gets the neighbours' boundary channels.
  Forward: y = [the last ``before`` channels of rank r-1, x_r, the first ``after`` of
  rank r+1]. Backward: dE/dx_r = dE/dy's middle part, plus, on its first ``after``
  channels, rank r-1's gradient of the halo it received, and on its last ``before``,
  rank r+1's.

Both count the bytes this rank sends in an optional :class:`ExchangeMeter`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from xpnet import backend
from xpnet.distributed.comm import Communicator
from xpnet.function import Function

__all__ = ["AllGather", "ExchangeMeter", "HaloExchange", "all_gather", "halo_exchange"]


class ExchangeMeter:
    """Bytes this rank sent, per exchange name and direction (forward / backward).

    Attributes:
        sent: ``{(name, "forward" | "backward"): bytes}`` since the last :meth:`reset`.
    """

    def __init__(self) -> None:
        self.sent: dict[tuple[str, str], int] = defaultdict(int)

    def add(self, name: str, direction: str, nbytes: int) -> None:
        """Count ``nbytes`` sent by exchange ``name`` in ``direction``."""
        self.sent[(name, direction)] += int(nbytes)

    def reset(self) -> None:
        """Forget the counts."""
        self.sent.clear()

    def total(self) -> int:
        """All bytes counted."""
        return sum(self.sent.values())


class AllGather(Function):
    """y = [x_0, ..., x_{R-1}] along ``axis``; backward: reduce-scatter or own slice."""

    def __init__(self, comm: Communicator, counts: list[int], axis: int, mode: str,
                 meter: ExchangeMeter | None, name: str) -> None:
        self.comm, self.counts, self.axis, self.mode = comm, counts, axis, mode
        self.meter, self.label = meter, name

    def forward(self, x: Any) -> Any:
        if self.meter is not None:
            self.meter.add(self.label, "forward", x.nbytes * (self.comm.size - 1))
        return self.comm.allgather(x, self.axis)

    def backward(self, gy: Any) -> Any:
        start = sum(self.counts[: self.comm.rank])
        index = (slice(None),) * self.axis + (slice(start, start + self.counts[self.comm.rank]),)
        if self.mode == "slice":
            return backend.get_array_module(gy).ascontiguousarray(gy[index])
        if self.meter is not None:  # a reduce-scatter sends all but its own part
            self.meter.add(self.label, "backward", gy.nbytes - gy[index].nbytes)
        return self.comm.reduce_scatter(gy, self.counts, self.axis)


def all_gather(x: Any, comm: Communicator, counts: list[int], axis: int = 1,
               backward: str = "sum", meter: ExchangeMeter | None = None,
               name: str = "all_gather") -> Any:
    """Join every rank's ``x`` along ``axis``, differentiably (see the module notes).

    Args:
        x: this rank's part, ``counts[rank]`` long along ``axis``.
        comm: the communicator.
        counts: every rank's length along ``axis``, in rank order.
        axis: the axis to join (1: channels or features).
        backward: ``"sum"`` (ranks use y for different outputs) or ``"slice"`` (every
            rank computes the same from y).
        meter: counts the bytes sent.
        name: the exchange's name in the meter.

    Returns:
        Tensor, ``sum(counts)`` long along ``axis``.

    Shape:
        (N, C_r, ...) -> (N, C_0 + ... + C_{R-1}, ...).

    Example:
        >>> y = all_gather(x, comm, [48, 48])      # (N, 48, H, W) on 2 ranks -> (N, 96, H, W)
    """
    if backward not in ("sum", "slice"):
        raise ValueError(f"all_gather: backward must be 'sum' or 'slice', got {backward!r}")
    if len(counts) != comm.size or x.shape[axis] != counts[comm.rank]:
        raise ValueError(f"all_gather: rank {comm.rank}'s part has {x.shape[axis]} along axis "
                         f"{axis}, counts say {counts}")
    return AllGather(comm, list(counts), axis, backward, meter, name)(x)


class HaloExchange(Function):
    """y = [left halo, x, right halo] along channels; backward sends the halos' gradients."""

    def __init__(self, comm: Communicator, before: int, after: int,
                 meter: ExchangeMeter | None, name: str) -> None:
        self.comm, self.before, self.after, self.meter, self.label = (
            comm, before, after, meter, name)
        r, size = comm.rank, comm.size
        self.left = r - 1 if r > 0 else None
        self.right = r + 1 if r < size - 1 else None

    def _count(self, direction: str, *parts: tuple[Any, int | None]) -> None:
        if self.meter is not None:
            sent = sum(a.nbytes for a, dest in parts if dest is not None)
            self.meter.add(self.label, direction, sent)

    def forward(self, x: Any) -> Any:
        xp = backend.get_array_module(x)
        last = x[:, x.shape[1] - self.before:]  # (N, before, ...) for rank r+1
        first = x[:, : self.after]  # (N, after, ...) for rank r-1
        left = self.comm.sendrecv(last, self.right, self.left) if self.before else None
        right = self.comm.sendrecv(first, self.left, self.right) if self.after else None
        self._count("forward", (last, self.right if self.before else None),
                    (first, self.left if self.after else None))
        self.has = (left is not None, right is not None)  # which halos y carries
        parts = [p for p in (left, x, right) if p is not None]
        return xp.concatenate(parts, axis=1)  # (N, [b +] C_r [+ a], ...)

    def backward(self, gy: Any) -> Any:
        b = self.before if self.has[0] else 0
        a = self.after if self.has[1] else 0
        c = gy.shape[1] - b - a
        gx = gy[:, b:b + c].copy()  # (N, C_r, ...) the middle: this rank's own channels
        g_left, g_right = gy[:, :b], gy[:, b + c:]  # gradients of the halos received
        like_left = gx[:, c - self.before:] if self.before else None
        like_right = gx[:, : self.after] if self.after else None
        if self.before:  # my last channels were rank r+1's left halo
            back = self.comm.sendrecv(g_left if b else like_left, self.left if b else None,
                                      self.right)
            if back is not None:
                gx[:, c - self.before:] += back
        if self.after:  # my first channels were rank r-1's right halo
            back = self.comm.sendrecv(g_right if a else like_right, self.right if a else None,
                                      self.left)
            if back is not None:
                gx[:, : self.after] += back
        self._count("backward", (g_left, self.left if b else None),
                    (g_right, self.right if a else None))
        return gx


def halo_exchange(x: Any, comm: Communicator, before: int, after: int,
                  meter: ExchangeMeter | None = None, name: str = "halo") -> Any:
    """This rank's channels with its neighbours' boundary channels around them.

    Ranks hold consecutive blocks of channels in rank order. Rank r receives the last
    ``before`` channels of rank r-1 and the first ``after`` of rank r+1 (none at the
    ends), so that a window over channels is computed as on the whole tensor.

    Args:
        x: (N, C_r, ...) this rank's channels; C_r >= before and >= after.
        comm: the communicator.
        before, after: halo widths (n//2 and (n-1)//2 for an n-channel window).
        meter: counts the bytes sent.
        name: the exchange's name in the meter.

    Returns:
        Tensor (N, C_r + before [rank > 0] + after [rank < R-1], ...).
    """
    if min(before, after) < 0 or max(before, after) > x.shape[1]:
        raise ValueError(f"halo_exchange: halos {before}, {after} must be in [0, "
                         f"{x.shape[1]}] (this rank's channels)")
    return HaloExchange(comm, before, after, meter, name)(x)
