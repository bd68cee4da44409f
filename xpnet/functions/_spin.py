"""A low-latency hand-off of work to xpnet's CPU threads (numba, imported lazily).

Why: a batch split hands one slice to another thread and waits for it. Through a
``ThreadPoolExecutor`` both ends block in the kernel, and on a virtual machine an idle
vCPU takes 70-90 us to wake: measured on the MLP's 128 x 784 x 1024 product split in
two, the worker started 78 us after the hand-off and the caller resumed 82 us after the
last slice ended, so the split took 949 us for two 780 us halves. A training step makes
6 (MLP) to 16 (LeNet-5) such splits.

How: each worker thread, after a task, and the calling thread, while it waits, spin for
a bounded time (:data:`SPIN_SECONDS`) in compiled code that holds no GIL, polling an
atomic counter; only when the spin runs out do they block on a lock, through a
sleeping flag that the other side clears with an atomic exchange, so no wake-up is ever
lost and none is ever doubled. A spinning thread uses its core for at most
:data:`SPIN_SECONDS` after each task, as OpenMP runtimes do (for far longer: 200 ms by
default in Intel's).

The state of one worker is an int64 array ``s``:
``s[GO]`` the number of tasks handed to it; ``s[DONE]`` the number it finished;
``s[WORKER_SLEEPS]``, ``s[CALLER_SLEEPS]`` 1 while that side blocks (or is about to).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numba
import numpy
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

GO, DONE, WORKER_SLEEPS, CALLER_SLEEPS = 0, 8, 16, 24  # one 64-byte line per field

#: How long a thread spins for the next task (worker) or for its slices' end (caller)
#: before it blocks in the kernel.
SPIN_SECONDS = 3e-4


def _element_pointer(context: Any, builder: Any, aryty: Any, ary: Any, idx: Any) -> Any:
    array = context.make_array(aryty)(context, builder, ary)
    return cgutils.get_item_pointer(context, builder, aryty, array, [idx])


def _check_state(arr: Any) -> None:
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1):
        raise numba.errors.TypingError("the spin state must be a 1-d int64 array")


@intrinsic
def _load(typingctx: Any, arr: Any, idx: Any) -> Any:
    """s[idx] read with acquire ordering (never hoisted out of a loop)."""
    _check_state(arr)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1])
        return builder.load_atomic(ptr, "acquire", 8)

    return types.int64(arr, types.intp), codegen


@intrinsic
def _store(typingctx: Any, arr: Any, idx: Any, value: Any) -> Any:
    """s[idx] = value with release ordering."""
    _check_state(arr)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1])
        builder.store_atomic(args[2], ptr, "release", 8)
        return context.get_dummy_value()

    return types.void(arr, types.intp, types.int64), codegen


@intrinsic
def _exchange(typingctx: Any, arr: Any, idx: Any, value: Any) -> Any:
    """Atomically s[idx] = value; returns the old value (sequentially consistent)."""
    _check_state(arr)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1])
        return builder.atomic_rmw("xchg", ptr, args[2], "seq_cst")

    return types.int64(arr, types.intp, types.int64), codegen


_compiled = numba.njit(cache=True, nogil=True)


@_compiled
def load(s: Any, i: int) -> int:
    """s[i], atomically."""
    return _load(s, i)


@_compiled
def store(s: Any, i: int, value: int) -> None:
    """s[i] = value, atomically."""
    _store(s, i, value)


@_compiled
def exchange(s: Any, i: int, value: int) -> int:
    """s[i] = value, atomically; the old value."""
    return _exchange(s, i, value)


@_compiled
def spin_until(s: Any, i: int, target: int, polls: int) -> bool:
    """Poll s[i] (no GIL held) until it reaches ``target``, at most ``polls`` times."""
    for _ in range(polls):
        if _load(s, i) >= target:
            return True
    return _load(s, i) >= target


def _calibrate(seconds: float) -> int:
    """The number of polls of :func:`spin_until` that take about ``seconds``."""
    s = numpy.zeros(32, numpy.int64)
    spin_until(s, GO, 1, 1000)  # compile / load from the cache first
    polls = 1 << 16
    start = time.perf_counter()
    spin_until(s, GO, 1, polls)
    elapsed = max(time.perf_counter() - start, 1e-7)
    return max(1000, int(polls * seconds / elapsed))


class _Worker:
    """One thread that runs the tasks handed to it, spinning briefly between them."""

    def __init__(self, polls: int, name: str) -> None:
        self.s = numpy.zeros(32, numpy.int64)
        self.polls = polls
        self.wake = threading.Lock()
        self.wake.acquire()  # released only to wake a sleeping worker
        self.done = threading.Lock()
        self.done.acquire()  # released only to wake a sleeping caller
        self.task: Callable[[], Any] | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.handed = 0
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        s, seen = self.s, 0
        while True:
            if not spin_until(s, GO, seen + 1, self.polls):
                store(s, WORKER_SLEEPS, 1)
                if load(s, GO) < seen + 1 or exchange(s, WORKER_SLEEPS, 0) == 0:
                    self.wake.acquire()  # the caller clears the flag and releases us
            seen += 1
            task = self.task
            try:
                self.result, self.error = task(), None
            except BaseException as error:  # handed back to the caller, re-raised there
                self.result, self.error = None, error
            store(s, DONE, seen)
            if exchange(s, CALLER_SLEEPS, 0) == 1:
                self.done.release()

    def hand(self, task: Callable[[], Any]) -> None:
        """Start ``task`` on this worker (the caller must :meth:`wait` before the next)."""
        self.task = task
        self.handed += 1
        store(self.s, GO, self.handed)
        if exchange(self.s, WORKER_SLEEPS, 0) == 1:
            self.wake.release()

    def wait(self) -> Any:
        """The result of the task handed last; its exception is re-raised here."""
        s = self.s
        if not spin_until(s, DONE, self.handed, self.polls):
            store(s, CALLER_SLEEPS, 1)
            if load(s, DONE) < self.handed or exchange(s, CALLER_SLEEPS, 0) == 0:
                self.done.acquire()
        error, self.error = self.error, None
        if error is not None:
            raise error
        result, self.result, self.task = self.result, None, None
        return result


class Team:
    """``k - 1`` spinning workers; :meth:`run` runs ``k`` tasks, the first in the caller."""

    def __init__(self, workers: int, spin_seconds: float = SPIN_SECONDS) -> None:
        polls = _calibrate(spin_seconds)
        self.workers = [_Worker(polls, f"xpnet-spin-{i}") for i in range(workers)]

    def run(self, tasks: list[Callable[[], Any]]) -> list[Any]:
        """Run ``tasks`` at once (at most ``len(workers) + 1``); their results in order."""
        helpers = self.workers[: len(tasks) - 1]
        for worker, task in zip(helpers, tasks[1:], strict=True):
            worker.hand(task)
        try:
            first = tasks[0]()
        finally:
            rest = []
            failure = None
            for worker in helpers:  # wait for all, even when one failed
                try:
                    rest.append(worker.wait())
                except BaseException as error:  # noqa: BLE001  (re-raised below)
                    failure = failure or error
            if failure is not None:
                raise failure
        return [first, *rest]
