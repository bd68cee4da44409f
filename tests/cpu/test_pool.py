"""The spinning worker pool behind the batch split: order, errors, sleep and wake-up."""

import threading
import time

import numpy
import pytest

from xpnet.cpu import pool as _pool
from xpnet.cpu import threads as _threads

spin_kernels = pytest.importorskip("xpnet.cpu.spin_kernels")

# The worker's end of a task: spin_kernels.finish_and_wait (the GIL released), or the
# pool's Python fallback under the GIL
_BOTH = pytest.mark.parametrize("finish", [spin_kernels, None], ids=["nogil", "python"])


def test_wait_for_sees_a_store_from_another_thread():
    flags = numpy.zeros(8, dtype=numpy.int64)
    assert not spin_kernels.wait_for(flags, 0, 1, 100)
    assert spin_kernels.wait_for(flags, 0, 0, 1)
    timer = threading.Timer(0.02, flags.__setitem__, (0, 3))  # needs the GIL the spin frees
    timer.start()
    assert spin_kernels.wait_for(flags, 0, 3, 1 << 40)
    timer.join()


@_BOTH
def test_results_in_order_and_every_worker_used(finish):
    pool = _pool.SpinPool(3, spin_kernels.wait_for, finish)
    names = pool.run_with([threading.current_thread] * 3, threading.current_thread)
    assert names[0] is threading.current_thread()
    assert len({t.name for t in names[1:]}) == 3
    for k in range(1, 4):  # fewer calls than workers, then all of them again
        assert pool.run_with([lambda i=i: i for i in range(k)], lambda: -1) == [-1, *range(k)]


@_BOTH
def test_an_error_is_raised_after_every_slice_ended(finish):
    pool = _pool.SpinPool(2, spin_kernels.wait_for, finish)
    ended = []

    def slow():
        time.sleep(0.02)
        ended.append(1)

    def bad():
        raise ValueError("slice failed")

    with pytest.raises(ValueError, match="slice failed"):
        pool.run_with([bad, slow], lambda: None)
    assert ended == [1]
    assert pool.run_with([lambda: 2, lambda: 3], lambda: 1) == [1, 2, 3]  # still works


@_BOTH
def test_sleeping_workers_and_caller_are_woken(monkeypatch, finish):
    monkeypatch.setattr(_pool, "WORKER_SPINS", 1)
    monkeypatch.setattr(_pool, "CALLER_SPINS", 1)
    pool = _pool.SpinPool(2, spin_kernels.wait_for, finish)
    for _ in range(20):
        time.sleep(0.002)  # the workers have given up spinning: they wait on a condition
        slow = [lambda: time.sleep(0.003) or 1, lambda: 2]  # the caller sleeps too
        assert pool.run_with(slow, lambda: 0) == [0, 1, 2]


@_BOTH
def test_two_callers_share_the_pool(finish):
    pool = _pool.SpinPool(1, spin_kernels.wait_for, finish)
    out = {}

    def caller(k):
        out[k] = [pool.run_with([lambda i=i: k * 10 + i], lambda i=i: i) for i in range(200)]

    threads = [threading.Thread(target=caller, args=(k,)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {k: [[i, k * 10 + i] for i in range(200)] for k in (1, 2)}


def test_the_batch_split_runs_on_the_spin_pool():
    pytest.importorskip("threadpoolctl")
    from xpnet import cpu

    with cpu.engines(threads=2, split="always"):
        assert _threads.parallel_slices(7, lambda lo, hi: (lo, hi)) == [(0, 3), (3, 7)]
    assert isinstance(_threads._pool, _pool.SpinPool)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="POSIX fork")
def test_a_forked_child_splits_on_its_own_pool():
    import os
    import signal

    pytest.importorskip("threadpoolctl")
    from xpnet import cpu

    with cpu.engines(threads=2, split="always"):
        _threads.parallel_slices(4, lambda lo, hi: hi)  # the parent's pool exists
        pid = os.fork()
        if pid == 0:  # the child: a hang would be killed by the alarm, a failure exits 1
            signal.alarm(20)
            ok = _threads.parallel_slices(4, lambda lo, hi: (lo, hi)) == [(0, 2), (2, 4)]
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_finish_and_wait_reports_a_sleeping_caller_and_a_next_task():
    flags = numpy.zeros(6 * 8, dtype=numpy.int64)  # done 0, asleep 8, go 16, sig 24, released 32
    assert spin_kernels.finish_and_wait(flags, 0, 5, 8, 16, 1, 10, 24, 32) == 0  # no next task
    assert flags[0] == 5
    flags[16] = 1
    assert spin_kernels.finish_and_wait(flags, 0, 6, 8, 16, 1, 10, 24, 32) == 1
    assert not spin_kernels.mark_asleep(flags, 8, 0, 7)  # done is 6: the caller sleeps
    assert spin_kernels.finish_and_wait(flags, 0, 7, 8, 16, 1, 10, 24, 32) == 2  # so wake it
    assert spin_kernels.mark_asleep(flags, 8, 0, 7)


def test_wait_go_waits_for_the_callers_release_in_a_signalled_run_only():
    flags = numpy.zeros(4 * 8, dtype=numpy.int64)  # go 0, sig 8, released 16
    flags[0] = 3
    assert spin_kernels.wait_go(flags, 0, 3, 1 << 40, 8, 16)  # run 3 not signalled: at once
    flags[8] = 3  # run 3 signalled: the worker waits for the caller's release of the GIL
    timer = threading.Timer(0.05, flags.__setitem__, (16, 3))
    start = time.perf_counter()
    timer.start()
    assert spin_kernels.wait_go(flags, 0, 3, 1 << 40, 8, 16)
    assert time.perf_counter() - start >= 0.04
    timer.join()
    assert not spin_kernels.wait_go(flags, 0, 4, 100, 8, 16)  # no run 4 yet


def test_yield_gil_releases_then_waits_for_started_or_done():
    flags = numpy.zeros(4 * 8, dtype=numpy.int64)  # released 0, started 8, done 16
    assert not spin_kernels.yield_gil(flags, 0, 8, 16, 2, 100)
    assert flags[0] == 2
    flags[16] = 2  # a task that ended (or failed) before its kernel: no wait
    assert spin_kernels.yield_gil(flags, 0, 8, 16, 2, 1 << 40)
    timer = threading.Timer(0.02, spin_kernels.signal, (flags, 8, 3))
    timer.start()
    assert spin_kernels.yield_gil(flags, 0, 8, 16, 3, 1 << 40)
    timer.join()


def test_a_signalled_run_starts_its_own_slice_after_the_workers_kernel(monkeypatch):
    """The worker's kernel signals (kernel_signal's counter) before the caller's own
    slice runs; a task that fails before signalling does not hang the caller; outside a
    task, kernel_signal is a scratch counter."""
    monkeypatch.setattr(_pool, "WORKER_SPINS", 2_000_000)  # spinning, not asleep, here
    monkeypatch.setattr(_pool, "START_SPINS", 1 << 40)
    pool = _pool.SpinPool(1, spin_kernels.wait_for, spin_kernels)
    seen = []

    def task():
        flags, index, seq = _pool.kernel_signal()
        spin_kernels.signal(flags, index, seq)
        return index, seq

    def own():
        seen.append(int(pool._flags[pool._started_index(0)]))
        return pool._seq

    pool.run_with([lambda: None], lambda: None)  # the worker now spins for the next run
    for _ in range(20):
        seq, (index, wseq) = pool.run_with([task], own, signalled=True)
        assert (index, wseq) == (pool._started_index(0), seq) and seen[-1] == seq

    def bad():
        raise ValueError("before the kernel")

    with pytest.raises(ValueError, match="before the kernel"):
        pool.run_with([bad], lambda: None, signalled=True)
    flags, index, seq = _pool.kernel_signal()
    assert (index, seq) == (0, 0) and flags is not pool._flags


def test_join_waits_for_each_workers_done_within_its_spins():
    # a caller's line at 0: count 2, first "done" at 8, the next 16 further, 1 << 40 spins
    flags = numpy.zeros(4 * 8, dtype=numpy.int64)
    flags[1:5] = (2, 8, 16, 1 << 40)
    flags[8] = 4
    timer = threading.Timer(0.03, flags.__setitem__, (24, 4))
    start = time.perf_counter()
    timer.start()
    spin_kernels.join(flags, 0, 4)  # worker 0 is done, worker 1 only after the timer
    assert time.perf_counter() - start >= 0.02 and flags[24] == 4
    timer.join()
    flags[4] = 10  # a worker never done: back after the spins, not a hang
    spin_kernels.join(flags, 0, 5)
    flags[1] = 0  # no worker to wait for (a worker's own line, or outside a split)
    spin_kernels.join(flags, 0, 6)
    spin_kernels.join(*_pool.kernel_signal())


@pytest.mark.parametrize("join", [True, False])
def test_a_signalled_runs_own_kernel_returns_after_the_workers_ended(monkeypatch, join):
    """In a signalled run, the calling thread's kernel ends with spin_kernels.join,
    which waits there (the GIL released) for each worker's "done"; with JOIN off it
    returns at once and the collect waits instead. A worker's join waits for nothing."""
    monkeypatch.setattr(_pool, "JOIN", join)
    monkeypatch.setattr(_pool, "CALLER_SPINS", 1 << 40)  # read by the pool when made
    pool = _pool.SpinPool(2, spin_kernels.wait_for, spin_kernels)
    seen = []

    def task():
        flags, index, seq = _pool.kernel_signal()
        spin_kernels.signal(flags, index, seq)
        spin_kernels.join(flags, index, seq)  # a worker's: returns at once
        time.sleep(0.02)  # the rest of its slice, after its kernel
        return seq

    def own():
        spin_kernels.join(*_pool.kernel_signal())
        seen.append([int(pool._flags[pool._done_index(w)]) for w in range(2)])
        return pool._seq

    for _ in range(3):
        seq, *rest = pool.run_with([task, task], own, signalled=True)
        assert rest == [seq, seq]
        assert (seen[-1] == [seq, seq]) == join  # without the join: not ended yet
    assert pool.run_with([task, task], own) == [pool._seq] * 3 and seen[-1] != [pool._seq] * 2
