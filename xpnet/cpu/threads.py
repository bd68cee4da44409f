"""Split a batch over Python threads on the CPU, deterministically.

Why: NumPy's element-wise work (im2col copies, col2im adds, bias, padding) runs on one
core, while BLAS releases the GIL. Giving each of ``k`` threads a contiguous slice of the
batch, with BLAS limited to one thread inside the parallel region, keeps every core busy
for the whole op instead of only during the GEMMs (docs/benchmarks.md, "Engine
thresholds").

Rules that keep results independent of thread timing:

- the batch ``[0, n)`` is cut into the same ``k`` contiguous slices every time;
- each slice's work writes only its own part of the output;
- results that are reduced over the batch (a weight gradient) are returned per slice and
  summed by the caller in slice order, so the sum does not depend on which thread ended
  first (it depends only on :func:`get_num_threads`, like PyTorch's).

One threading model: while xpnet splits (more than one thread), every BLAS call in its
ops runs with one thread, dense layers included (:mod:`xpnet.cpu.dense`), because a
multi-threaded BLAS call leaves OpenBLAS's worker spinning afterwards, on a core that
xpnet's next split needs.

Only NumPy work is split: CuPy arrays always run in the calling thread. BLAS is limited
to one thread through ``threadpoolctl`` when it is installed; without it nothing is
split (two threads each running a multi-threaded BLAS would oversubscribe the cores).
The workers run in a copy of the caller's :mod:`contextvars` context, so they see the
:func:`xpnet.cpu.engines` settings of the thread that split the work. With numba they are
a :class:`~xpnet.cpu.pool.SpinPool`, whose threads spin a short while between splits
instead of sleeping on a lock (LeNet-5's step 1.07-1.3x faster); without it a
``ThreadPoolExecutor``.

Example:
    >>> set_num_threads(2)
    >>> parallel_slices(128, lambda lo, hi: hi - lo, numpy)
    [64, 64]
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy

from xpnet import backend
from xpnet.cpu.kernels import kernels_module
from xpnet.cpu.pool import SpinPool, kernel_signal
from xpnet.cpu.settings import current

__all__ = [
    "BlasThreads", "blas_knobs", "elementwise_whole", "get_num_threads", "kernel_signal",
    "one_blas_thread", "ordered_sum", "parallel_slices", "set_num_threads", "slices",
    "split_elementwise", "worth_splitting",
]

#: Default number of threads: the usable CPUs, at most 4 (beyond that, BLAS's own
#: threads scale better than Python threads sharing the GIL).
_DEFAULT_MAX = 4


class _Settings:
    """The one process-wide setting, changed only through :func:`set_num_threads`."""

    num_threads: int | None = None  # None: decided on first use
    # the default, read from the CPU affinity once (a system call, 0.43 us, that every
    # op's split decision would otherwise pay); set_num_threads(None) and a fork read
    # it again
    default: int | None = None


_settings = _Settings()


class _Local(threading.local):
    """.inside: True in a worker's slice, so nested calls run serially (a class default,
    not a ``getattr`` default, which costs an AttributeError at every call)."""

    inside = False


_local = _Local()
_pool_lock = threading.Lock()
_pool: Any = None  # SpinPool or ThreadPoolExecutor, made on first use (_executor)


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def set_num_threads(n: int | None) -> None:
    """Set how many threads xpnet's CPU ops use (like ``torch.set_num_threads``).

    With ``n > 1`` (and threadpoolctl installed), each op cuts its batch, or a dense
    layer's product, into ``n`` slices run by ``n`` threads, with NumPy's BLAS on one
    thread inside. ``n = 1`` turns splitting off; BLAS then keeps its own thread count.
    Also ``xpnet.set_num_threads``; ``xpnet.cpu.engines(threads=n)`` sets it for one
    block of code in one thread instead.

    Example:
        >>> xpnet.cpu.set_num_threads(1)  # one core, e.g. one process per core

    Args:
        n: number of threads (>= 1), or None for the default (the CPUs this process
            may run on, read again now, at most 4).
    """
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ValueError(f"set_num_threads: expected an int >= 1 or None, got {n!r}")
    _settings.num_threads = n
    _settings.default = None


def get_num_threads() -> int:
    """The number of threads a batch is split over on the CPU.

    That of the innermost ``xpnet.cpu.engines(threads=...)`` block, else the process's
    (:func:`set_num_threads`; by default the CPUs this process may run on as at first
    use, at most 4).
    """
    return current().threads or _process_threads()


def _process_threads() -> int:
    """The process's thread count: :func:`set_num_threads`'s, or the default."""
    n = _settings.num_threads
    if n is not None:
        return n
    if _settings.default is None:  # the CPUs usable at first use
        _settings.default = max(1, min(_usable_cpus(), _DEFAULT_MAX))
    return _settings.default


def splitting_here() -> bool:
    """Whether this thread runs a slice of a split (nested work then runs serially)."""
    return _local.inside


def blas_controller() -> Any:
    """The cached ``threadpoolctl`` controller of BLAS, or None without threadpoolctl."""
    return _blas_controller()


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    """A cached ``threadpoolctl.ThreadpoolController`` for BLAS, or None if unavailable."""
    try:
        ThreadpoolController = _import_threadpoolctl()
    except ImportError:
        return None
    controller = ThreadpoolController().select(user_api="blas")
    return controller if controller.lib_controllers else None


def _import_threadpoolctl() -> Any:
    """``threadpoolctl.ThreadpoolController``, imported without its side effect on the
    process: threadpoolctl's import sets ``KMP_DUPLICATE_LIB_OK=True`` in ``os.environ``
    (for its own tests of two OpenMP runtimes), which a library imported into someone
    else's program must not do; the variable is put back as it was."""
    had = os.environ.get("KMP_DUPLICATE_LIB_OK")
    try:
        from threadpoolctl import ThreadpoolController  # noqa: PLC0415  (optional)
    finally:
        if had is None:
            os.environ.pop("KMP_DUPLICATE_LIB_OK", None)
        else:
            os.environ["KMP_DUPLICATE_LIB_OK"] = had
    return ThreadpoolController


class BlasThreads:
    """A context that holds every BLAS library of ``controller`` at ``n`` threads and
    puts back on exit the counts it changed.

    What ``controller.limit(limits=n)`` does, for less (threadpoolctl builds a limiter
    and re-reads every library's state on each call; a training step enters this context
    once per product): it asks each library for its count, sets those not at ``n``
    already, and restores them on exit, through :func:`blas_knobs` (OpenBLAS's own
    functions on the main thread: 2.0 against 2.7-3.1 us per enter and exit at ``n`` = 1;
    docs/benchmarks.md, "Engine thresholds").
    """

    __slots__ = ("knobs", "n", "saved")

    def __init__(self, controller: Any, n: int) -> None:
        self.knobs, self.n = blas_knobs(controller), n

    def __enter__(self) -> None:
        self.saved = saved = []
        n = self.n
        for get, put in self.knobs[threading.get_ident() != threading.main_thread().ident]:
            had = get()
            if had != n:
                put(n)
                saved.append((put, had))

    def __exit__(self, *exc: object) -> None:
        for put, had in self.saved:
            put(had)


class _OneBlasThread(BlasThreads):
    """:class:`BlasThreads` at one thread: the scope of xpnet's splits."""

    __slots__ = ()

    def __init__(self, controller: Any) -> None:
        super().__init__(controller, 1)


Knob = tuple[Callable[[], int], Callable[[int], Any]]


@functools.lru_cache(maxsize=4)
def blas_knobs(controller: Any) -> tuple[tuple[Knob, ...], tuple[Knob, ...]]:
    """``(main, other)``: for each BLAS library of ``controller``, its thread count's
    (get, set) functions for the main thread and for any other one.

    On the main thread OpenBLAS's pthreads build (one pool for the process) is called
    through its own ``openblas_get_num_threads`` / ``openblas_set_num_threads`` (found
    with the symbol prefixes and suffixes its builds use), not through threadpoolctl's
    Python layers. On other threads, and for every other library or threading layer,
    threadpoolctl's methods, which let only one thread set OpenBLAS's process-wide
    count (threadpoolctl's rule; the main thread is the one that sets it here).
    """
    libs = controller.lib_controllers
    other = tuple((lib.get_num_threads, lib.set_num_threads) for lib in libs)  # bound now
    main = tuple(_openblas_functions(lib) or knob for lib, knob in zip(libs, other, strict=True))
    return main, other


def _openblas_functions(lib: Any) -> Knob | None:
    """OpenBLAS's own (get, set) of its thread count, for its pthreads build, else None."""
    if (getattr(lib, "internal_api", None) != "openblas"
            or getattr(lib, "threading_layer", None) != "pthreads"):
        return None
    dynlib = getattr(lib, "dynlib", None)
    for prefix in ("", "scipy_"):
        for suffix in ("", "64_", "_64"):
            try:  # item access: a function object of our own (its types set here only)
                get = dynlib[f"{prefix}openblas_get_num_threads{suffix}"]
                put = dynlib[f"{prefix}openblas_set_num_threads{suffix}"]
            except (AttributeError, TypeError):
                continue
            get.restype, get.argtypes = ctypes.c_int, []
            put.restype, put.argtypes = None, [ctypes.c_int]
            return get, put
    return None


def _executor(workers: int) -> Any:
    """The pool of at least ``workers`` threads: a :class:`~xpnet.cpu.pool.SpinPool` with
    numba (its workers spin a while between splits), else a ``ThreadPoolExecutor``."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool_size(_pool) < workers:
            spin = kernels_module("spin_kernels")
            _pool = (SpinPool(workers, spin.wait_for, spin) if spin is not None
                     else ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xpnet"))
        return _pool


def _pool_size(pool: Any) -> int:
    return pool.workers if isinstance(pool, SpinPool) else pool._max_workers


def _forget_pool() -> None:
    """In a forked child the parent's pool threads do not exist (and its lock may have
    been held at the fork): the child makes its own pool on first use, and reads its
    usable CPUs again (a launcher may pin it)."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()
    _settings.default = None


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_pool)


def slices(n: int, k: int) -> list[tuple[int, int]]:
    """Cut ``[0, n)`` into ``min(k, n)`` contiguous ``(lo, hi)`` slices of near-equal size."""
    k = max(1, min(k, n))
    bounds = [n * i // k for i in range(k + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(k)]


@functools.lru_cache(maxsize=256)
def _cut(n: int, k: int) -> tuple[tuple[int, int], ...]:
    """:func:`slices`, kept: every split of a step cuts the same few sizes (0.9 us
    each time otherwise)."""
    return tuple(slices(n, k))


def _run_on(pool: SpinPool, fn: Callable[[int, int], Any], parts: tuple, signalled: bool,
            ) -> list[Any]:
    """``fn`` on ``parts`` by ``pool``: the first slice in this thread, each other one on
    a worker, in a copy of this thread's context (its engines settings)."""
    return pool.run_with(
        [functools.partial(contextvars.copy_context().run, _run_inside, fn, lo, hi)
         for lo, hi in parts[1:]],
        functools.partial(_run_inside, fn, *parts[0]),  # the first slice: here
        signalled)


def ordered_sum(parts: list[Any]) -> Any:
    """Sum per-slice partial results in slice order (deterministic)."""
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


def _run_inside(fn: Callable[[int, int], Any], lo: int, hi: int) -> Any:
    _local.inside = True
    try:
        return fn(lo, hi)
    finally:
        _local.inside = False


def one_blas_thread() -> Any:
    """A context in which BLAS runs on one thread while xpnet splits work itself.

    For BLAS calls outside the ops (the training loop's NaN guard), so that no OpenBLAS
    worker is left spinning (see :func:`parallel_slices`); a no-op context when xpnet does
    not split (one thread, or threadpoolctl missing).

    Example:
        >>> with xpnet.cpu.one_blas_thread():
        ...     total = float(numpy.dot(g, g))
    """
    controller = _blas_controller() if get_num_threads() > 1 else None
    return contextlib.nullcontext() if controller is None else _OneBlasThread(controller)


#: Work (multiply-adds) below which a split does not pay: handing a slice to another
#: core (waking it, moving the operands to its cache) costs 0.1-0.15 ms.
SPLIT_MIN_WORK = 1 << 25


def worth_splitting(size: int, minimum: int) -> bool:
    """Whether work of ``size`` is cut over the threads: from ``minimum`` on, or always
    under ``xpnet.cpu.engines(split="always")``."""
    return size >= minimum or current().split == "always"


def parallel_slices(
    n: int, fn: Callable[[int, int], Any], xp: Any = numpy, work: int | None = None,
    signalled: bool = False,
) -> list[Any]:
    """Call ``fn(lo, hi)`` on contiguous slices of ``[0, n)``, in threads on the CPU.

    While xpnet splits work (more than one thread and threadpoolctl installed), BLAS
    runs with one thread inside every call, also when ``work`` is too small to split:
    a multi-threaded BLAS call leaves OpenBLAS's worker spinning for a while after it
    returns, and that worker then takes a core from xpnet's next split.

    Args:
        n: the batch size (or any axis the work is cut along).
        fn: work on items ``lo`` to ``hi - 1``; it must write only to its own slice of
            any shared output.
        xp: the array module of the data (``cupy`` never splits).
        work: the call's size in multiply-adds; below :data:`SPLIT_MIN_WORK` it runs in
            this thread. None: always split.
        signalled: ``fn``'s work is one compiled kernel, which makes no BLAS call,
            first calls :func:`xpnet.cpu.spin_kernels.signal` with
            :func:`kernel_signal`'s arguments and last
            :func:`xpnet.cpu.spin_kernels.join`; the calling thread then starts its own
            slice once the workers have entered theirs, and its kernel returns once
            they have ended (:class:`~xpnet.cpu.pool.SpinPool`: neither side waits for
            the GIL behind the other). BLAS's thread count is then left as it is.

    Returns:
        The results of ``fn``, in slice order (whatever order the threads finished in).
    """
    settings = current()  # read once: this runs for every product and every op
    workers = (settings.threads or _process_threads()) if xp is numpy else 1
    controller = _blas_controller() if workers > 1 else None
    if workers <= 1 or n <= 1 or controller is None or _local.inside:
        return [fn(0, n)]
    if work is not None and work < SPLIT_MIN_WORK and settings.split == "auto":
        if signalled:  # a compiled kernel: no BLAS call to hold at one thread
            return [fn(0, n)]
        with _OneBlasThread(controller):
            return [fn(0, n)]
    parts = _cut(n, workers)
    pool = _executor(len(parts) - 1)
    if signalled and isinstance(pool, SpinPool):  # as above (1.5 us saved per split)
        return _run_on(pool, fn, parts, True)
    with _OneBlasThread(controller):
        if isinstance(pool, SpinPool):
            return _run_on(pool, fn, parts, signalled)
        futures = [pool.submit(contextvars.copy_context().run, _run_inside, fn, lo, hi)
                   for lo, hi in parts[1:]]
        try:
            first = _run_inside(fn, *parts[0])  # the calling thread takes the first slice
        finally:
            rest = [f.result() for f in futures]  # wait for all, even when one failed
    return [first, *rest]


#: Element-wise work is split over the threads from this many values on (~0.3 ms).
ELEMENTWISE_MIN_SIZE = 1 << 19


def elementwise_whole(size: int) -> bool:
    """Whether element-wise work on ``size`` values runs whole in the calling thread:
    below ELEMENTWISE_MIN_SIZE, unless ``engines(split="always")``. A pass that takes
    that path can call its kernel on the whole array, without :func:`split_elementwise`'s
    closure and slices (a few us an op at one example)."""
    return size < ELEMENTWISE_MIN_SIZE and current().split == "auto"


def split_elementwise(a: Any, fn: Callable[[int, int], Any], signalled: bool = False) -> None:
    """Run ``fn(lo, hi)`` on slices of ``a``'s first axis, in threads when ``a`` is large.

    For element-wise passes over big activations (NumPy runs them on one core); ``fn``
    writes only ``out[lo:hi]``. ``a`` has at least one axis; small arrays run whole.
    ``signalled``: as :func:`parallel_slices`'.
    """
    rows = a.shape[0]
    if rows < 2 or elementwise_whole(a.size):
        fn(0, rows)
        return
    parallel_slices(rows, fn, backend.get_array_module(a), signalled=signalled)
