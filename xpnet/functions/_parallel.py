"""Split a batch over Python threads on the CPU, deterministically.

Why: NumPy's element-wise work (im2col copies, col2im adds, bias, padding) runs on one
core, while BLAS releases the GIL. Giving each of ``k`` threads a contiguous slice of the
batch, with BLAS limited to one thread inside the parallel region, keeps every core busy
for the whole op instead of only during the GEMMs (+35% on LeNet on a 2-core machine).

Rules that keep results independent of thread timing:

- the batch ``[0, n)`` is cut into the same ``k`` contiguous slices every time;
- each slice's work writes only its own part of the output;
- results that are reduced over the batch (a weight gradient) are returned per slice and
  summed by the caller in slice order, so the sum does not depend on which thread ended
  first (it depends only on :func:`get_num_threads`, like PyTorch's).

One threading model: while xpnet splits (more than one thread), every BLAS call in its
ops runs with one thread, dense layers included (:func:`matmul_split`), because a
multi-threaded BLAS call leaves OpenBLAS's worker spinning afterwards, on a core that
xpnet's next split needs.

Only NumPy work is split: CuPy arrays always run in the calling thread. BLAS is limited
to one thread through ``threadpoolctl`` when it is installed; without it nothing is
split (two threads each running a multi-threaded BLAS would oversubscribe the cores).

Example:
    >>> set_num_threads(2)
    >>> parallel_slices(128, lambda lo, hi: hi - lo, numpy)
    [64, 64]
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy

from xpnet import backend

__all__ = [
    "get_num_threads", "matmul_pair", "matmul_split", "one_blas_thread", "parallel_slices",
    "set_num_threads", "slices", "split_elementwise",
]

#: Default number of threads: the usable CPUs, at most 4 (beyond that, BLAS's own
#: threads scale better than Python threads sharing the GIL).
_DEFAULT_MAX = 4


class _Settings:
    """The one setting of this module, changed only through :func:`set_num_threads`."""

    num_threads: int | None = None  # None: decided on first use


_settings = _Settings()
_local = threading.local()  # .inside: True in a worker, so nested calls run serially
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


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
    Also ``xpnet.set_num_threads``.

    Example:
        >>> xpnet.set_num_threads(1)  # one core, e.g. one process per core

    Args:
        n: number of threads (>= 1), or None for the default (usable CPUs, at most 4).
    """
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ValueError(f"set_num_threads: expected an int >= 1 or None, got {n!r}")
    _settings.num_threads = n


def get_num_threads() -> int:
    """The number of threads a batch is split over on the CPU."""
    if _settings.num_threads is None:
        return max(1, min(_usable_cpus(), _DEFAULT_MAX))
    return _settings.num_threads


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    """A cached ``threadpoolctl.ThreadpoolController`` for BLAS, or None if unavailable."""
    try:
        from threadpoolctl import ThreadpoolController  # noqa: PLC0415  (optional)
    except ImportError:
        return None
    controller = ThreadpoolController().select(user_api="blas")
    return controller if controller.lib_controllers else None


class _OneBlasThread:
    """A context that holds every BLAS library of ``controller`` at one thread.

    What ``controller.limit(limits=1)`` does, for less (threadpoolctl builds a limiter
    and re-reads every library's state on each call; a training step enters this context
    once per product): it asks each library for its count, sets those not at 1 already,
    and restores them on exit. An empty ``with`` costs 5.4 us against threadpoolctl's
    13.5; the step of the MLP 16-8-8-10 at batch 4, where such overheads are all there
    is, went from 0.430 to 0.344 ms (two threads, alternating rounds in one process).
    """

    __slots__ = ("libs", "saved")

    def __init__(self, controller: Any) -> None:
        self.libs = controller.lib_controllers

    def __enter__(self) -> None:
        self.saved = [(lib, lib.get_num_threads()) for lib in self.libs]
        for lib, n in self.saved:
            if n != 1:
                lib.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        for lib, n in self.saved:
            if n != 1:
                lib.set_num_threads(n)


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < workers:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xpnet")
        return _pool


def slices(n: int, k: int) -> list[tuple[int, int]]:
    """Cut ``[0, n)`` into ``min(k, n)`` contiguous ``(lo, hi)`` slices of near-equal size."""
    k = max(1, min(k, n))
    bounds = [n * i // k for i in range(k + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(k)]


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
    """
    controller = _blas_controller() if get_num_threads() > 1 else None
    return contextlib.nullcontext() if controller is None else _OneBlasThread(controller)


#: Work (multiply-adds) below which a split does not pay: handing a slice to another
#: core (waking it, moving the operands to its cache) costs 0.1-0.15 ms. Measured on
#: float32 products: 64 x 784 x 256 (2^23.6) 199 us on one thread, 235 us split;
#: 128 x 784 x 256 (2^24.6) 352 against 326; 128 x 1024 x 1024 1907 against 1128.
SPLIT_MIN_WORK = 1 << 25


def parallel_slices(
    n: int, fn: Callable[[int, int], Any], xp: Any = numpy, work: int | None = None
) -> list[Any]:
    """Call ``fn(lo, hi)`` on contiguous slices of ``[0, n)``, in threads on the CPU.

    While xpnet splits work (more than one thread and threadpoolctl installed), BLAS
    runs with one thread inside every call, also when ``work`` is too small to split:
    a multi-threaded BLAS call leaves OpenBLAS's worker spinning for a while after it
    returns, and that worker then takes a core from xpnet's next split (measured: the
    CIFAR net's training step 151 -> 105 ms once no op called BLAS multi-threaded).

    Args:
        n: the batch size (or any axis the work is cut along).
        fn: work on items ``lo`` to ``hi - 1``; it must write only to its own slice of
            any shared output.
        xp: the array module of the data (``cupy`` never splits).
        work: the call's size in multiply-adds; below :data:`SPLIT_MIN_WORK` it runs in
            this thread. None: always split.

    Returns:
        The results of ``fn``, in slice order (whatever order the threads finished in).
    """
    workers = get_num_threads() if xp is numpy else 1
    controller = _blas_controller() if workers > 1 else None
    if workers <= 1 or n <= 1 or controller is None or getattr(_local, "inside", False):
        return [fn(0, n)]
    if work is not None and work < SPLIT_MIN_WORK:
        with _OneBlasThread(controller):
            return [fn(0, n)]
    parts = slices(n, workers)
    pool = _executor(len(parts) - 1)
    with _OneBlasThread(controller):
        futures = [pool.submit(_run_inside, fn, lo, hi) for lo, hi in parts[1:]]
        try:
            first = _run_inside(fn, *parts[0])  # the calling thread takes the first slice
        finally:
            rest = [f.result() for f in futures]  # wait for all, even when one failed
    return [first, *rest]


def matmul_split(a: Any, b: Any, out: Any, xp: Any = numpy) -> Any:
    """``out = a @ b`` for 2-d operands, cut over xpnet's threads with one BLAS thread each.

    The cut runs along the larger operand: by rows of ``a`` when ``a`` is the larger,
    else by columns of ``b``, so each slice packs half of the large operand and all of
    the small one, as BLAS's own threads do. Each slice writes its own rows or columns of
    ``out``. BLAS's own threads are faster on a large product alone (the MLP's
    128 x 1024 x 1024: 1.08 ms against 1.3-1.5 ms split; the whole MLP step 16% slower
    split) but leave a spinning worker that slows every split op after them (AlexNet-64's
    training step: 80.5 ms with its dense layers on BLAS's threads, 61.2 ms split), so
    xpnet keeps one threading model.

    Args:
        a: (M, K); b: (K, P); out: (M, P), written in place (any strides BLAS takes).
        xp: the array module (``cupy`` runs the product whole).

    Returns:
        ``out``.
    """
    M, K = a.shape
    P = b.shape[1]
    work = M * K * P
    if xp is not numpy:
        return xp.matmul(a, b, out=out)
    if _cut_rows(a, b):
        parallel_slices(M, lambda lo, hi: xp.matmul(a[lo:hi], b, out=out[lo:hi]), xp, work)
    else:
        parallel_slices(
            P, lambda lo, hi: xp.matmul(a, b[:, lo:hi], out=out[:, lo:hi]), xp, work
        )
    return out


def _cut_rows(a: Any, b: Any) -> bool:
    """Whether ``a @ b`` is cut by rows of ``a`` (the larger operand) or columns of ``b``."""
    return a.shape[0] * a.shape[1] >= a.shape[1] * b.shape[1]


def _matmul_slices(a: Any, b: Any, out: Any, k: int) -> list[Callable[[], Any]]:
    """``out = a @ b`` as ``k`` independent products, cut like :func:`matmul_split`."""
    if _cut_rows(a, b):
        return [functools.partial(numpy.matmul, a[lo:hi], b, out=out[lo:hi])
                for lo, hi in slices(a.shape[0], k)]
    return [functools.partial(numpy.matmul, a, b[:, lo:hi], out=out[:, lo:hi])
            for lo, hi in slices(b.shape[1], k)]


def matmul_pair(
    a1: Any, b1: Any, out1: Any, a2: Any, b2: Any, out2: Any, xp: Any = numpy
) -> tuple[Any, Any]:
    """``out1 = a1 @ b1`` and ``out2 = a2 @ b2`` at once: the threads share out the pair.

    For a dense layer's backward pass, whose two products dE/dx = dE/dy W (M, in) and
    dE/dW = (dE/dy)^T x (out, in) cost the same M in out multiply-adds. With ``k``
    threads the first product is cut over ``k // 2`` of them and the second over the
    other ``k - k // 2`` (with two threads each runs one whole product): one hand-off
    instead of two, and each BLAS call on whole operands, not on the halves of
    :func:`matmul_split`. Measured inside the MLP 784-1024-1024-10's training step (batch
    128, two threads, Zen 4; the two 128 x 1024 x 1024 products, alternating steps):
    3.79 ms against 3.94 ms as two split products. Each part writes its own rows or
    columns of one output and nothing is summed across parts, so the results do not
    depend on the thread timing. With one thread, less than :data:`SPLIT_MIN_WORK` in
    all or CuPy arrays, the two run one after the other through :func:`matmul_split`
    (and without threadpoolctl :func:`parallel_slices` runs the parts in turn).

    Args:
        a1, b1, out1: the first product's (M1, K1) and (K1, P1) operands and its
            (M1, P1) output, written in place (any strides BLAS takes).
        a2, b2, out2: the second product's, likewise.
        xp: the array module (``cupy`` runs each product whole).

    Returns:
        ``(out1, out2)``.

    Example:
        >>> matmul_pair(gy, w, gx, gy.T, x, gw)  # dE/dx and dE/dW of y = x w^T
    """
    k = get_num_threads() if xp is numpy else 1
    work = a1.shape[0] * a1.shape[1] * b1.shape[1] + a2.shape[0] * a2.shape[1] * b2.shape[1]
    if k < 2 or work < SPLIT_MIN_WORK:
        return matmul_split(a1, b1, out1, xp), matmul_split(a2, b2, out2, xp)
    tasks = _matmul_slices(a1, b1, out1, k // 2) + _matmul_slices(a2, b2, out2, k - k // 2)
    parallel_slices(len(tasks), lambda lo, hi: [task() for task in tasks[lo:hi]], xp)
    return out1, out2


#: Element-wise work is split over the threads from this many values on (~0.3 ms).
ELEMENTWISE_MIN_SIZE = 1 << 19


def split_elementwise(a: Any, fn: Callable[[int, int], Any]) -> None:
    """Run ``fn(lo, hi)`` on slices of ``a``'s first axis, in threads when ``a`` is large.

    For element-wise passes over big activations (NumPy runs them on one core); ``fn``
    writes only ``out[lo:hi]``. ``a`` has at least one axis; small arrays run whole.
    """
    rows = a.shape[0]
    if rows < 2 or a.size < ELEMENTWISE_MIN_SIZE:
        fn(0, rows)
        return
    parallel_slices(rows, fn, backend.get_array_module(a))
