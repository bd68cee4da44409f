"""Communicator: the processes of a job and the collectives they run, over MPI.

A job is R processes (ranks 0..R-1) started together by ``mpiexec -n R``. They talk
through MPI, the message-passing standard that HPC clusters run, reached with mpi4py:
xpnet writes no sockets of its own. Every collective is called by every rank, in the
same order, with arrays of the same shape and dtype (MPI matches them by order only).

Arrays are NumPy or CuPy. A CuPy array is reduced by NCCL (``cupy.cuda.nccl``) when the
communicator has one (``nccl="auto"`` builds it on first use when the arrays live on a
GPU), else handed to MPI directly when the MPI library is CUDA-aware (``cuda_aware=True``),
else staged: copied to host memory, exchanged by MPI, copied back.

:class:`LocalCommunicator` is the job of one process (every collective is the identity);
:func:`init` returns an MPI communicator, or the local one where mpi4py is missing.

Example:
    >>> from xpnet import distributed
    >>> comm = distributed.init()             # under mpiexec -n 2: rank 0 or 1 of 2
    >>> x = numpy.full(3, comm.rank + 1.0)
    >>> comm.allreduce(x)                     # in place: the sum over the ranks
    array([3., 3., 3.])
"""

from __future__ import annotations

import os
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy

from xpnet import backend

__all__ = ["Communicator", "LocalCommunicator", "MPICommunicator", "Request", "init"]


class Request:
    """A non-blocking collective in flight; :meth:`wait` returns its result array.

    Args:
        wait: completes the operation (blocking) and returns the result.
        test: returns True once the operation has completed (and drives MPI's progress).
    """

    def __init__(self, wait: Callable[[], Any], test: Callable[[], bool] | None = None) -> None:
        self._wait, self._test = wait, test
        self._result: Any = None
        self.done = False

    def test(self) -> bool:
        """Whether the operation has completed; lets MPI progress without blocking."""
        if not self.done and self._test is not None and self._test():
            self.wait()
        return self.done

    def wait(self) -> Any:
        """Block until the operation completes; returns its result (once)."""
        if not self.done:
            self._result = self._wait()
            self.done = True
        return self._result


class Communicator:
    """The interface every communicator has; see :class:`MPICommunicator`.

    Attributes:
        rank: this process's number, 0..size-1.
        size: the number of processes R.
    """

    rank: int = 0
    size: int = 1

    def barrier(self) -> None:
        """Return once every rank has called it."""

    def allreduce(self, array: Any) -> Any:
        """Sum ``array`` over the ranks, in place; returns it."""
        raise NotImplementedError

    def iallreduce(self, array: Any) -> Request:
        """Start summing ``array`` over the ranks in place; ``wait()`` returns it."""
        raise NotImplementedError

    def broadcast(self, array: Any, root: int = 0) -> Any:
        """Overwrite ``array`` with rank ``root``'s, in place; returns it."""
        raise NotImplementedError

    def allgather(self, array: Any, axis: int = 0) -> Any:
        """Every rank's ``array`` joined along ``axis``, in rank order (sizes may differ)."""
        raise NotImplementedError

    def reduce_scatter(self, array: Any, counts: list[int], axis: int = 0) -> Any:
        """Sum ``array`` over the ranks, then keep this rank's part along ``axis``.

        Args:
            array: the same shape on every rank; ``sum(counts)`` long along ``axis``.
            counts: each rank's length along ``axis``, in rank order.
        """
        raise NotImplementedError

    def sendrecv(self, array: Any, dest: int | None, source: int | None) -> Any:
        """Send ``array`` to rank ``dest`` and return what rank ``source`` sent.

        What arrives has ``array``'s shape and dtype. None for ``dest`` sends nothing;
        None for ``source`` receives nothing and returns None (the ends of a line).
        """
        raise NotImplementedError

    def broadcast_object(self, obj: Any, root: int = 0) -> Any:
        """Rank ``root``'s ``obj`` on every rank (pickled; only between our own ranks)."""
        raise NotImplementedError

    def allgather_object(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order."""
        raise NotImplementedError

    def local_size(self) -> int:
        """How many ranks of the job run on this machine (they share its cores)."""
        return 1

    def abort(self, code: int = 1, message: str = "") -> None:
        """End every rank of the job now with exit status ``code``, after writing
        ``message`` (if any) to stderr."""
        _last_words(message)
        raise SystemExit(code)


class LocalCommunicator(Communicator):
    """The job of one process: every collective is the identity (results are copies).

    Example:
        >>> LocalCommunicator().allreduce(numpy.ones(2))
        array([1., 1.])
    """

    def allreduce(self, array: Any) -> Any:
        return array

    def iallreduce(self, array: Any) -> Request:
        return Request(lambda: array)

    def broadcast(self, array: Any, root: int = 0) -> Any:
        _check_root(root, 1)
        return array

    def allgather(self, array: Any, axis: int = 0) -> Any:
        return array.copy()

    def reduce_scatter(self, array: Any, counts: list[int], axis: int = 0) -> Any:
        _check_counts(array, counts, axis, 1)
        return array.copy()

    def sendrecv(self, array: Any, dest: int | None, source: int | None) -> Any:
        return None if source is None else array.copy()

    def broadcast_object(self, obj: Any, root: int = 0) -> Any:
        return obj

    def allgather_object(self, obj: Any) -> list[Any]:
        return [obj]


def _check_root(root: int, size: int) -> None:
    if not 0 <= root < size:
        raise ValueError(f"root must be a rank in [0, {size}), got {root}")


def _check_counts(array: Any, counts: list[int], axis: int, size: int) -> None:
    if len(counts) != size or sum(counts) != array.shape[axis]:
        raise ValueError(f"reduce_scatter: counts {counts} must be {size} lengths adding up "
                         f"to the array's {array.shape[axis]} along axis {axis}")


class MPICommunicator(Communicator):
    """The ranks of an MPI communicator (``MPI.COMM_WORLD`` by default), through mpi4py.

    Args:
        mpi_comm: an ``mpi4py.MPI.Comm``; None: ``COMM_WORLD``.
        cuda_aware: the MPI library takes GPU memory itself (an MPI built with CUDA);
            False stages CuPy arrays through host memory.
        nccl: ``"auto"`` uses ``cupy.cuda.nccl`` for CuPy arrays where it imports,
            ``"never"`` does not.
    """

    def __init__(self, mpi_comm: Any = None, *, cuda_aware: bool = False,
                 nccl: str = "auto") -> None:
        from mpi4py import MPI  # noqa: PLC0415 (MPI starts only when a job asks for it)

        if nccl not in ("auto", "never"):
            raise ValueError(f"MPICommunicator: nccl must be 'auto' or 'never', got {nccl!r}")
        self._MPI = MPI
        self.mpi = MPI.COMM_WORLD if mpi_comm is None else mpi_comm
        self.rank, self.size = self.mpi.Get_rank(), self.mpi.Get_size()
        self.cuda_aware, self.nccl_mode = bool(cuda_aware), nccl
        self._nccl: Any = None  # the NcclCommunicator, built at the first GPU collective

    # ------------------------------------------------------------------ helpers
    def _device(self, array: Any) -> bool:
        return not isinstance(array, numpy.ndarray) and backend.is_array(array)

    def _use_nccl(self, array: Any) -> bool:
        if not self._device(array) or self.nccl_mode == "never":
            return False
        if self._nccl is None:
            self._nccl = _NcclRing.create(self)
        return self._nccl is not False

    def _staged(self, array: Any, op: Callable[[numpy.ndarray], Any]) -> Any:
        """Run ``op`` on a host copy of a CuPy ``array`` (unless MPI takes GPU memory)."""
        if not self._device(array) or self.cuda_aware:
            return op(array)
        host = backend.to_numpy(array)
        result = op(host)
        return backend.to_device(result, backend.device_of(array))

    # --------------------------------------------------------------- collectives
    def barrier(self) -> None:
        self.mpi.Barrier()

    def allreduce(self, array: Any) -> Any:
        return self.iallreduce(array).wait()

    def iallreduce(self, array: Any) -> Request:
        _check_contiguous(array, "iallreduce")
        if self._use_nccl(array):
            return self._nccl.allreduce(array)
        if self._device(array) and not self.cuda_aware:
            host = backend.to_numpy(array)
            req = self.mpi.Iallreduce(self._MPI.IN_PLACE, host, op=self._MPI.SUM)

            def finish() -> Any:
                req.Wait()
                array[...] = backend.to_device(host, backend.device_of(array))
                return array

            return Request(finish, req.Test)
        req = self.mpi.Iallreduce(self._MPI.IN_PLACE, array, op=self._MPI.SUM)
        return Request(lambda: (req.Wait(), array)[1], req.Test)

    def broadcast(self, array: Any, root: int = 0) -> Any:
        _check_root(root, self.size)
        _check_contiguous(array, "broadcast")
        if self._use_nccl(array):
            return self._nccl.broadcast(array, root)

        def op(a: Any) -> Any:
            self.mpi.Bcast(a, root=root)
            return a

        result = self._staged(array, op)
        if result is not array:
            array[...] = result
        return array

    def allgather(self, array: Any, axis: int = 0) -> Any:
        def op(a: Any) -> Any:
            xp = backend.get_array_module(a)
            lead = xp.ascontiguousarray(xp.moveaxis(a, axis, 0))  # (n_r, ...) this rank's
            sizes = self.mpi.allgather(lead.shape[0])
            rest = lead.shape[1:]
            out = xp.empty((sum(sizes), *rest), a.dtype)  # (sum n_r, ...) rank order
            per = int(numpy.prod(rest, dtype=numpy.int64))
            self.mpi.Allgatherv(lead, [out, [n * per for n in sizes]])
            return xp.moveaxis(out, 0, axis)

        return self._staged(array, op)

    def reduce_scatter(self, array: Any, counts: list[int], axis: int = 0) -> Any:
        _check_counts(array, counts, axis, self.size)

        def op(a: Any) -> Any:
            xp = backend.get_array_module(a)
            lead = xp.ascontiguousarray(xp.moveaxis(a, axis, 0))  # (sum n_r, ...)
            rest = lead.shape[1:]
            per = int(numpy.prod(rest, dtype=numpy.int64))
            out = xp.empty((counts[self.rank], *rest), a.dtype)  # (n_rank, ...)
            self.mpi.Reduce_scatter(lead, out, [n * per for n in counts], op=self._MPI.SUM)
            return xp.moveaxis(out, 0, axis)

        return self._staged(array, op)

    def sendrecv(self, array: Any, dest: int | None, source: int | None) -> Any:
        null = self._MPI.PROC_NULL

        def op(a: Any) -> Any:
            xp = backend.get_array_module(a)
            send = xp.ascontiguousarray(a)
            out = xp.empty_like(send)
            self.mpi.Sendrecv(send, dest=null if dest is None else dest, recvbuf=out,
                              source=null if source is None else source)
            return out

        if dest is None and source is None:
            return None
        result = self._staged(array, op)
        return None if source is None else result

    def broadcast_object(self, obj: Any, root: int = 0) -> Any:
        _check_root(root, self.size)
        return self.mpi.bcast(obj, root=root)

    def allgather_object(self, obj: Any) -> list[Any]:
        return self.mpi.allgather(obj)

    def local_size(self) -> int:
        node = self.mpi.Split_type(self._MPI.COMM_TYPE_SHARED)  # the ranks sharing memory
        try:
            return node.Get_size()
        finally:
            node.Free()

    def abort(self, code: int = 1, message: str = "") -> None:
        _last_words(message)
        self.mpi.Abort(code)  # the launcher ends every rank
        os._exit(code)  # MPI_Abort may return before the launcher's signal arrives


def _last_words(message: str, patience: float = 3.0) -> None:
    """Write ``message`` to stderr in one piece and wait until the launcher has read it.

    Under ``mpiexec`` a rank's stdout and stderr are pipes that the launcher reads and
    copies to its own; once a rank calls MPI_Abort, the launcher kills the job and may
    exit before it has read what the rank wrote last. Measured with MPICH 5.0 on a
    shared 2-core machine (two ranks, rank 1 aborting while rank 0 waits in a barrier):
    a traceback written line by line (Python's unbuffered stderr) lost its end, or all of
    it, in 15 of 100 aborts; written in one piece, in 3 of 160 while two or three other
    processes kept the cores busy; written in one piece and awaited as below, in none of
    120 (and none of 15 ``xpnet train`` failures) with three busy. So the message
    goes out in one ``write``; then, while the pipes still hold bytes the launcher has not
    read (``FIONREAD``), this waits, at most ``patience`` seconds.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):  # None under pythonw, or closed
            pass
    data = message.encode("utf-8", "replace")
    try:
        while data:
            data = data[os.write(2, data):]
    except OSError:
        return
    try:
        import fcntl  # noqa: PLC0415 (POSIX only)
        import termios  # noqa: PLC0415
    except ImportError:
        return
    end = time.monotonic() + patience
    for fd in (1, 2):
        while time.monotonic() < end:
            try:
                left = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]
            except OSError:  # nothing FIONREAD can tell of: nothing to wait for
                break
            if left <= 0:
                break
            time.sleep(0.005)


def _check_contiguous(array: Any, what: str) -> None:
    if not array.flags.c_contiguous:
        raise ValueError(f"{what}: the array must be C-contiguous (it is reduced in place)")


class _NcclRing:
    """NCCL's collectives on CuPy arrays, on a stream of their own (GPU machines only)."""

    _TYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32",
              "float64": "NCCL_FLOAT64", "int32": "NCCL_INT32", "int64": "NCCL_INT64"}

    @classmethod
    def create(cls, comm: MPICommunicator) -> Any:
        """A ring over ``comm``'s ranks, or False where NCCL does not import (every rank
        must agree: the answer is reduced over the ranks)."""
        try:
            from cupy.cuda import nccl  # noqa: PLC0415
            ok = nccl.available if hasattr(nccl, "available") else True
        except ImportError:
            ok = False
        if not all(comm.allgather_object(bool(ok))):
            return False
        uid = nccl.get_unique_id() if comm.rank == 0 else None
        uid = comm.broadcast_object(uid)
        return cls(nccl, nccl.NcclCommunicator(comm.size, uid, comm.rank))

    def __init__(self, nccl: Any, ring: Any) -> None:
        import cupy  # noqa: PLC0415

        self._nccl, self._ring, self._cupy = nccl, ring, cupy
        self._stream = cupy.cuda.Stream(non_blocking=True)

    def _type(self, array: Any) -> Any:
        name = self._TYPES.get(str(array.dtype))
        if name is None:
            raise TypeError(f"NCCL: no collective for dtype {array.dtype}")
        return getattr(self._nccl, name)

    def _launch(self, array: Any, call: Callable[[int], None]) -> Request:
        ready = self._cupy.cuda.get_current_stream().record()
        self._stream.wait_event(ready)  # the array's producer has finished
        call(self._stream.ptr)
        done = self._stream.record()
        return Request(lambda: (done.synchronize(), array)[1], lambda: done.done)

    def allreduce(self, array: Any) -> Request:
        ptr, n, t = array.data.ptr, array.size, self._type(array)
        return self._launch(array, lambda s: self._ring.allReduce(
            ptr, ptr, n, t, self._nccl.NCCL_SUM, s))

    def broadcast(self, array: Any, root: int) -> Any:
        ptr, n, t = array.data.ptr, array.size, self._type(array)
        return self._launch(array, lambda s: self._ring.bcast(ptr, n, t, root, s)).wait()


def init(*, abort_on_error: bool = True, cuda_aware: bool = False,
         nccl: str = "auto") -> Communicator:
    """The communicator of this job: every rank of ``mpiexec -n R``, or this process alone.

    Imports mpi4py (which starts MPI) and wraps ``COMM_WORLD``; without mpi4py, or in a
    job of one process, returns a :class:`LocalCommunicator`, so a script runs unchanged
    without MPI.

    Args:
        abort_on_error: install a ``sys.excepthook`` that prints an uncaught exception
            with its rank and then aborts every rank (``MPI_Abort``): one failing rank
            ends the job instead of leaving the others waiting in a collective forever.
        cuda_aware, nccl: see :class:`MPICommunicator`.

    Returns:
        The communicator.

    Example:
        >>> comm = init()
        >>> comm.rank, comm.size        # (0, 1) without mpiexec
        (0, 1)
    """
    try:
        import mpi4py  # noqa: F401, PLC0415
    except ImportError:
        return LocalCommunicator()
    comm = MPICommunicator(cuda_aware=cuda_aware, nccl=nccl)
    if comm.size == 1:
        return LocalCommunicator()
    if abort_on_error:
        _install_abort_hook(comm)
    return comm


def _install_abort_hook(comm: MPICommunicator) -> None:
    """An uncaught exception on any rank prints its traceback, then ends the whole job."""
    previous = sys.excepthook
    if getattr(previous, "xpnet_abort", False):
        return  # init() called again: one hook is enough

    def hook(kind: type[BaseException], error: BaseException, tb: Any) -> None:
        import traceback  # noqa: PLC0415

        text = "".join(traceback.format_exception(kind, error, tb))
        comm.abort(1, f"xpnet: rank {comm.rank} of {comm.size} failed; aborting the job\n"
                      f"{text}")

    hook.xpnet_abort = True  # type: ignore[attr-defined]
    sys.excepthook = hook
