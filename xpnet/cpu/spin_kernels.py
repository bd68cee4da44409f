"""A wait that spins without the GIL (numba, imported lazily; optional).

Why: a worker thread that blocks on a lock between two splits has to be woken by the
kernel, and on a virtual machine whose idle vCPU has halted that costs tens of
microseconds twice per split (the hand-off and the "done"): LeNet-5's training step
splits about ten times. Spinning for a short while on a counter in memory, the GIL
released, is how OpenMP runtimes wait too. :func:`wait_for` is that spin, for
:mod:`xpnet.cpu.pool`: an acquire load of the counter (an atomic load, so that the
compiler reads it anew every turn), on x86 the ``pause`` hint between reads, and every
:data:`YIELD_EVERY` reads ``sched_yield``, so that on a loaded machine the spin does not
hold a core that the caller or another process needs.
"""

from __future__ import annotations

import os
import platform
from typing import Any

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["YIELD_EVERY", "finish_and_wait", "join", "mark_asleep", "signal", "wait_either",
           "wait_for", "wait_go", "yield_gil"]

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
_POSIX = os.name == "posix"  # sched_yield is POSIX's

#: Reads between two ``sched_yield`` calls: a read and a pause take ~12 ns on this Xeon,
#: a yield ~170 ns. Measured in-process (bench/bench_cnn.py's race): on a quiet machine
#: the spin is as fast with the yield as without it, and under load it no longer lost
#: half the throughput that a pure spin lost (LeNet-5 training, batch 128, others taking
#: 60% of the machine: 0.99 against 0.53 of the speed of waiting on locks).
YIELD_EVERY = 16


def _call_void(builder: Any, name: str, returns: Any) -> None:
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(returns, []), name)
    builder.call(fn, [])


@intrinsic
def _load_acquire(typingctx: Any, flags: Any, index: Any) -> Any:
    """flags[index] (int64) by an atomic acquire load: read anew on every call."""
    sig = types.int64(flags, index)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        return builder.load_atomic(builder.gep(data, [args[1]]), "acquire", 8)

    return sig, codegen


@intrinsic
def _load_seq_cst(typingctx: Any, flags: Any, index: Any) -> Any:
    """flags[index] (int64) by a sequentially consistent atomic load."""
    sig = types.int64(flags, index)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        return builder.load_atomic(builder.gep(data, [args[1]]), "seq_cst", 8)

    return sig, codegen


@intrinsic
def _store_seq_cst(typingctx: Any, flags: Any, index: Any, value: Any) -> Any:
    """flags[index] = value (int64) by a sequentially consistent atomic store."""
    sig = types.void(flags, index, value)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        builder.store_atomic(args[2], builder.gep(data, [args[1]]), "seq_cst", 8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _pause(typingctx: Any) -> Any:
    """x86's ``pause`` (the spin-loop hint); nothing elsewhere."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        if _X86:
            _call_void(builder, "llvm.x86.sse2.pause", ir.VoidType())
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def _yield(typingctx: Any) -> Any:
    """libc's ``sched_yield()`` (its symbol resolved in the process) where POSIX has it;
    x86's ``pause`` or nothing elsewhere."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        if _POSIX:
            _call_void(builder, "sched_yield", ir.IntType(32))
        elif _X86:
            _call_void(builder, "llvm.x86.sse2.pause", ir.VoidType())
        return context.get_dummy_value()

    return types.void(), codegen


@numba.njit(cache=True, nogil=True)
def wait_for(flags: Any, index: int, target: int, spins: int) -> bool:
    """Whether ``flags[index] >= target`` within ``spins`` reads (int64 flags; the GIL
    is released meanwhile, so the thread that sets the counter runs)."""
    for i in range(spins):
        if _load_acquire(flags, index) >= target:
            return True
        if i % YIELD_EVERY == YIELD_EVERY - 1:
            _yield()
        else:
            _pause()
    return _load_acquire(flags, index) >= target


@numba.njit(cache=True, nogil=True)
def finish_and_wait(flags: Any, done: int, seq: int, asleep: int, go: int, target: int,
                    spins: int, sig: int, released: int) -> int:
    """A worker's end of a task and its wait for the next, the GIL released throughout:
    ``flags[done] = seq``, then 2 if the caller sleeps (``flags[asleep]``: the worker
    must wake it), else 1 if ``flags[go] >= target`` within ``spins`` reads (for a
    signalled run, once the caller has let go of the GIL: :func:`wait_go`), else 0.

    Why in one call: a worker that stored its "done" under the GIL still held the GIL
    when the caller, spinning on that counter, saw it; the caller then slept on the GIL
    and was woken by the kernel (~50 us on this VM) once the worker went back to its
    spin. Both flags are sequentially consistent, as in :func:`mark_asleep`: one of the
    two sides sees the other's store, so no wake-up is lost.
    """
    _store_seq_cst(flags, done, seq)
    if _load_seq_cst(flags, asleep) != 0:
        return 2
    return 1 if wait_go(flags, go, target, spins, sig, released) else 0


@numba.njit(cache=True, nogil=True)
def wait_go(flags: Any, go: int, target: int, spins: int, sig: int, released: int) -> bool:
    """A worker's wait for its next task: whether ``flags[go] >= target`` within
    ``spins`` reads (:func:`wait_for`). When the run it sees is a signalled one
    (``flags[sig]`` at its number), it then spins on until the caller has released the
    GIL (``flags[released]`` at the run's number, stored by :func:`yield_gil`; at most
    ``spins`` more reads): taking the GIL while the caller still held it, the worker
    would sleep on it and be woken by the kernel tens of microseconds later."""
    if not wait_for(flags, go, target, spins):
        return False
    seq = _load_acquire(flags, go)
    if _load_acquire(flags, sig) == seq:
        wait_for(flags, released, seq, spins)
    return True


@numba.njit(cache=True, nogil=True)
def yield_gil(flags: Any, released: int, started: int, done: int, seq: int,
              spins: int) -> bool:
    """The caller's side of a signalled run, with the GIL released: ``flags[released] =
    seq``, then whether the worker has entered its kernel (``flags[started] >= seq``,
    :func:`signal`) or ended (``flags[done] >= seq``) within ``spins`` reads."""
    _store_seq_cst(flags, released, seq)
    return wait_either(flags, started, done, seq, spins)


@numba.njit(cache=True, nogil=True)
def mark_asleep(flags: Any, asleep: int, done: int, seq: int) -> bool:
    """The caller's side of :func:`finish_and_wait`: ``flags[asleep] = 1``, then whether
    ``flags[done] >= seq`` already (then it need not sleep)."""
    _store_seq_cst(flags, asleep, 1)
    return _load_seq_cst(flags, done) >= seq


@numba.njit(cache=True, nogil=True)
def wait_either(flags: Any, first: int, second: int, target: int, spins: int) -> bool:
    """Whether ``flags[first] >= target`` or ``flags[second] >= target`` within ``spins``
    reads of each, the GIL released meanwhile (:func:`wait_for`'s spin)."""
    for i in range(spins):
        if _load_acquire(flags, first) >= target or _load_acquire(flags, second) >= target:
            return True
        if i % YIELD_EVERY == YIELD_EVERY - 1:
            _yield()
        else:
            _pause()
    return _load_acquire(flags, first) >= target or _load_acquire(flags, second) >= target


@numba.njit(cache=True, nogil=True)
def signal(flags: Any, index: int, seq: int) -> None:
    """``flags[index] = seq`` (sequentially consistent): a compiled kernel's first act in
    a worker, telling the caller that the worker has let go of the GIL
    (:meth:`xpnet.cpu.pool.SpinPool.run_with`, ``signalled``). The kernels that call it
    live in other modules and numba caches them keyed on their own files: a change here
    must come with a change in each of them."""
    _store_seq_cst(flags, index, seq)


@numba.njit(cache=True, nogil=True)
def join(flags: Any, index: int, seq: int) -> None:
    """A compiled kernel's last act: in the calling thread of a signalled split, wait
    with the GIL released until every worker has ended its slice; elsewhere nothing.

    ``flags[index + 1]`` workers to wait for (0 outside a caller's slice), the first
    one's "done" counter at ``flags[index + 2]``, the next ones ``flags[index + 3]``
    apart, at most ``flags[index + 4]`` reads each (:func:`wait_for`); a worker not
    done by then is left to the caller's collect. Why: a caller whose kernel returned
    while the worker still held the GIL (storing its result) slept on the GIL until the
    kernel woke it, ~10 us on this VM; here the worker takes the free GIL and releases it
    before the caller wants it. Same caveat as :func:`signal` for numba's caches."""
    count = flags[index + 1]
    first = flags[index + 2]
    stride = flags[index + 3]
    spins = flags[index + 4]
    for w in range(count):
        if not wait_for(flags, first + w * stride, seq, spins):
            return
