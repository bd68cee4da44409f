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

A signalled run (``run_with(..., signalled=True)``, for tasks whose work is one compiled
kernel that calls :func:`xpnet.cpu.spin_kernels.signal` with :func:`kernel_signal`'s
arguments first): the caller, once it has stored the tasks, spins with the GIL released
until each spinning worker has entered its kernel, and only then runs its own slice.
Without it, the worker that sees its task wants the GIL while the caller still holds it
(setting up its own slice), sleeps on it, and is woken by the kernel once the caller's
kernel lets go. With it, the worker takes the free GIL at once, and the caller takes
it back free once the worker's kernel has released it: the worker's slice starts
11-15 us after the split's call instead of 34-45 (``python bench/bench_split.py``).
The same kernels end with :func:`xpnet.cpu.spin_kernels.join`: in the calling thread of
a signalled run (:func:`kernel_signal` there names the caller's line of counters) it
waits, the GIL still released, until every worker has stored its "done". Without it,
the caller's kernel often returned while the worker, its kernel over, held the GIL to
store its result; the caller then slept on the GIL until the kernel woke it. With it,
the worker takes the free GIL and lets go of it before the caller wants it (:data:`JOIN`;
a split of two 20 us slices, docs/benchmarks.md, "Engine thresholds").

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

__all__ = ["CALLER_SPINS", "JOIN", "START_SPINS", "SpinPool", "WORKER_SPINS", "kernel_signal"]

#: Reads of its counter a worker makes before sleeping (~0.5 ms at ~24 ns a read, the
#: yields included, on this Xeon): longer than the gaps between the splits of a step.
WORKER_SPINS = 20_000
#: Reads of a worker's "done" counter the caller makes before sleeping (~2.4 ms): its
#: own slice is done, so it has nothing else to run meanwhile.
CALLER_SPINS = 100_000
#: Reads of a worker's "started" counter the caller of a signalled run makes before it
#: runs its own slice anyway (~0.2 ms): a worker slower to enter its kernel (a loaded
#: machine) then costs what an unsignalled run costs.
START_SPINS = 4_000
#: Whether the calling thread's kernel in a signalled run waits for the workers before
#: it returns (:func:`xpnet.cpu.spin_kernels.join`; module docstring). False only to
#: measure what that wait is worth (bench/ab_race.py's variants).
JOIN = True
_PITCH = 8  # int64s per counter: one 64-byte cache line each, no false sharing

# outside a split's slices: a line of zeros (signal's store unread, join waits for none)
_NO_SIGNAL = (numpy.zeros(_PITCH, dtype=numpy.int64), 0, 0)


class _Signal(threading.local):
    """.now: this worker's (flags, started index, seq) in a task, else the class's
    default (read as an attribute: a ``getattr`` default on a missing attribute raises
    and catches an AttributeError, 0.55 us, at every kernel call)."""

    now = _NO_SIGNAL


_signal = _Signal()


def kernel_signal() -> tuple[Any, int, int]:
    """``(flags, index, seq)`` for :func:`xpnet.cpu.spin_kernels.signal` in a compiled
    kernel: in a worker's task of a :class:`SpinPool`, its "started" counter and the
    run's number; elsewhere a scratch counter that nobody reads."""
    return _signal.now


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
        # in Python under the GIL; yield_gil: None (no signalled runs) without them
        self._finish = spin.finish_and_wait if spin is not None else self._finish_py
        self._mark = spin.mark_asleep if spin is not None else _mark_py
        self._yield_gil = spin.yield_gil if spin is not None else None
        self._wait_go = spin.wait_go if spin is not None else self._wait_go_py
        # go and done per worker; the caller's "asleep", the number of the last
        # signalled run and the run whose GIL the caller released, each on its own line;
        # then "started" per worker
        # then the caller's line for spin_kernels.join: its "started" (unread), the
        # number of workers to wait for, the first "done" counter, their pitch, spins
        self._flags = numpy.zeros((3 * workers + 4) * _PITCH, dtype=numpy.int64)
        self._caller = (3 * workers + 3) * _PITCH
        self._flags[self._caller + 2:self._caller + 5] = (
            self._done_index(0), self._done_index(1) - self._done_index(0), CALLER_SPINS)
        self._asleep = 2 * workers * _PITCH
        self._sig = self._asleep + _PITCH
        self._released = self._sig + _PITCH
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

    def _started_index(self, w: int) -> int:
        return (2 * self.workers + 3 + w) * _PITCH

    def run_with(self, calls: list[Callable[[], Any]], own: Callable[[], Any],
                 signalled: bool = False) -> list[Any]:
        """Run ``calls[w]`` on worker w (at most ``workers`` calls) and ``own()`` in the
        calling thread meanwhile; return their results, ``own``'s first, once all have
        ended. Every worker is waited for, even when ``own`` raises; then the first
        exception is raised. ``signalled``: each call's kernel signals its start (module
        docstring); ``own`` runs once every spinning worker has, or has ended."""
        with self._lock:
            self._seq += 1
            seq = self._seq
            flags = self._flags
            signalled = signalled and self._yield_gil is not None
            if signalled:
                flags[self._sig] = seq  # before any "go": a worker that sees it waits
            for w, call in enumerate(calls):
                self._tasks[w] = call
                flags[self._go_index(w)] = seq
                if self._worker_asleep[w]:
                    with self._go[w]:
                        self._go[w].notify()
            if signalled:  # the GIL released till each spinning worker is in its kernel
                for w in range(len(calls)):
                    self._yield_gil(flags, self._released, self._started_index(w),
                                    self._done_index(w), seq,
                                    0 if self._worker_asleep[w] else START_SPINS)
            if signalled and JOIN:  # own's kernel waits for the workers before it returns
                flags[self._caller + 1] = len(calls)
                _signal.now = (flags, self._caller, seq)
            try:
                first = own()
            finally:
                _signal.now = _NO_SIGNAL
                flags[self._caller + 1] = 0
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
        started = self._started_index(w)
        ready = False  # whether the next task's "go" was seen already
        while True:  # a run that needs fewer workers skips w: wait for any later seq
            if not ready and not self._wait_go(flags, index, last + 1, WORKER_SPINS, self._sig,
                                               self._released):
                with go:
                    self._worker_asleep[w] = True
                    while flags[index] <= last:
                        go.wait()
                    self._worker_asleep[w] = False
            seq = last = int(flags[index])
            call = self._tasks[w]
            _signal.now = (flags, started, seq)
            try:
                self._results[w] = (True, call())
            except BaseException as exc:  # handed to the caller, which raises it
                self._results[w] = (False, exc)
            finally:
                _signal.now = _NO_SIGNAL
            state = self._finish(flags, done, seq, self._asleep, index, last + 1, WORKER_SPINS,
                                 self._sig, self._released)
            if state == 2:  # the caller sleeps: wake it
                with self._done:
                    self._done.notify()
            ready = state == 1

    def _wait_go_py(self, flags: Any, go: int, target: int, spins: int, sig: int,
                    released: int) -> bool:
        """:func:`~xpnet.cpu.spin_kernels.wait_go` without its wait for the GIL's release
        (no run is signalled without the compiled spins)."""
        return self._wait_for(flags, go, target, spins)

    def _finish_py(self, flags: Any, done: int, seq: int, asleep: int, go: int,
                   target: int, spins: int, sig: int, released: int) -> int:
        """:func:`~xpnet.cpu.spin_kernels.finish_and_wait` under the GIL."""
        flags[done] = seq
        if flags[asleep]:
            return 2
        return 1 if self._wait_for(flags, go, target, spins) else 0
