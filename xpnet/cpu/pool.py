"""Worker threads that wait by spinning a short while before they sleep.

Why: :func:`xpnet.cpu.threads.parallel_slices` hands slices to other threads about ten
times per training step of a small network. Through ``concurrent.futures`` every
hand-off and every "done" is a lock the kernel wakes a sleeping thread from, which on
this kind of virtual machine costs tens of microseconds each (docs/benchmarks.md,
"Against PyTorch's better layout"). Here each worker, once its slice is done, watches
its own counter for the next one for a while (:data:`WORKER_SPINS`, the GIL released:
:func:`xpnet.cpu.spin_kernels.wait_for`), and the caller, once its own slice is done,
watches the workers' "done" counters the same way (:data:`CALLER_SPINS`); only past
those spins does either sleep on a condition, as an idle pool should.

The protocol, per worker w: the caller stores the task, then ``go[w] = seq``; the worker
runs the task, stores its result, then ``done[w] = seq``. Each side that gives up
spinning marks itself asleep under its condition's lock and checks the counter again
before it waits, and the other side notifies after its store when it sees that mark, so
no wake-up is lost. The worker's "done" store, its look at the caller's mark and its
spin for the next task are one call with the GIL released
(``spin_kernels.finish_and_wait``; the mark and the check are sequentially consistent
atomics, ``spin_kernels.mark_asleep``): stored under the GIL, the caller saw "done"
while the worker still held the GIL and slept on it until the kernel woke it (an empty
split 57 against 31 us; 0.88-1.01x the step time of the bench networks).

One caller at a time (a lock): a second thread that splits work
meanwhile runs its slices in turn after the first.

Example:
    >>> pool = SpinPool(1, spin_kernels.wait_for)
    >>> pool.run_with([lambda: 1 + 1], lambda: 0)
    [0, 2]
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy

__all__ = ["CALLER_SPINS", "SpinPool", "WORKER_SPINS"]

#: Reads of its counter a worker makes before sleeping (~0.5 ms at ~24 ns a read, the
#: yields included, on this Xeon): longer than the gaps between the splits of a step.
WORKER_SPINS = 20_000
#: Reads of a worker's "done" counter the caller makes before sleeping (~2.4 ms): its
#: own slice is done, so it has nothing else to run meanwhile.
CALLER_SPINS = 100_000
_PITCH = 8  # int64s per counter: one 64-byte cache line each, no false sharing


def _mark_py(flags: Any, asleep: int, done: int, seq: int) -> bool:
    """:func:`~xpnet.cpu.spin_kernels.mark_asleep` under the GIL."""
    flags[asleep] = 1
    return bool(flags[done] >= seq)


class SpinPool:
    """``workers`` daemon threads that run one callable each per :meth:`run`."""

    def __init__(self, workers: int, wait_for: Callable[[Any, int, int, int], bool],
                 spin: Any = None) -> None:
        """``workers`` threads waiting by ``wait_for``; ``spin``: the
        :mod:`xpnet.cpu.spin_kernels` module (its ``finish_and_wait`` and
        ``mark_asleep``), or None for the same steps in Python under the GIL."""
        self.workers = workers
        self._wait_for = wait_for
        # finish_and_wait / mark_asleep of spin_kernels (the GIL released), or the same
        # in Python under the GIL
        self._finish = spin.finish_and_wait if spin is not None else self._finish_py
        self._mark = spin.mark_asleep if spin is not None else _mark_py
        # go and done per worker, then the caller's "asleep" on its own line
        self._flags = numpy.zeros((2 * workers + 1) * _PITCH, dtype=numpy.int64)
        self._asleep = 2 * workers * _PITCH
        self._tasks: list[Callable[[], Any] | None] = [None] * workers
        self._results: list[tuple[bool, Any]] = [(True, None)] * workers
        self._seq = 0
        self._go = [threading.Condition() for _ in range(workers)]
        self._worker_asleep = [False] * workers
        self._done = threading.Condition()
        self._lock = threading.Lock()  # one caller at a time
        for w in range(workers):
            threading.Thread(target=self._work, args=(w,), daemon=True,
                             name=f"xpnet-{w + 1}").start()

    def _go_index(self, w: int) -> int:
        return 2 * w * _PITCH

    def _done_index(self, w: int) -> int:
        return (2 * w + 1) * _PITCH

    def run_with(self, calls: list[Callable[[], Any]], own: Callable[[], Any]) -> list[Any]:
        """Run ``calls[w]`` on worker w (at most ``workers`` calls) and ``own()`` in the
        calling thread meanwhile; return their results, ``own``'s first, once all have
        ended. Every worker is waited for, even when ``own`` raises; then the first
        exception is raised."""
        with self._lock:
            self._seq += 1
            seq = self._seq
            for w, call in enumerate(calls):
                self._tasks[w] = call
                self._flags[self._go_index(w)] = seq
                if self._worker_asleep[w]:
                    with self._go[w]:
                        self._go[w].notify()
            try:
                first = own()
            finally:
                rest = self._collect(len(calls), seq)
            return [first, *rest]

    def _collect(self, count: int, seq: int) -> list[Any]:
        flags = self._flags
        for w in range(count):
            index = self._done_index(w)
            if not self._wait_for(flags, index, seq, CALLER_SPINS):
                with self._done:
                    while not self._mark(flags, self._asleep, index, seq):
                        self._done.wait()
                    flags[self._asleep] = 0
        results = self._results[:count]
        self._tasks[:count] = [None] * count
        for ok, value in results:
            if not ok:
                raise value
        return [value for _, value in results]

    def _work(self, w: int) -> None:
        flags, go, last = self._flags, self._go[w], 0
        index, done = self._go_index(w), self._done_index(w)
        ready = False  # whether the next task's "go" was seen already
        while True:  # a run that needs fewer workers skips w: wait for any later seq
            if not ready and not self._wait_for(flags, index, last + 1, WORKER_SPINS):
                with go:
                    self._worker_asleep[w] = True
                    while flags[index] <= last:
                        go.wait()
                    self._worker_asleep[w] = False
            seq = last = int(flags[index])
            call = self._tasks[w]
            try:
                self._results[w] = (True, call())
            except BaseException as exc:  # handed to the caller, which raises it
                self._results[w] = (False, exc)
            state = self._finish(flags, done, seq, self._asleep, index, last + 1, WORKER_SPINS)
            if state == 2:  # the caller sleeps: wake it
                with self._done:
                    self._done.notify()
            ready = state == 1

    def _finish_py(self, flags: Any, done: int, seq: int, asleep: int, go: int,
                   target: int, spins: int) -> int:
        """:func:`~xpnet.cpu.spin_kernels.finish_and_wait` under the GIL."""
        flags[done] = seq
        if flags[asleep]:
            return 2
        return 1 if self._wait_for(flags, go, target, spins) else 0
