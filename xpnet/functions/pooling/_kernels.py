"""Compiled CPU kernels of the pooling ops (numba; this module is imported lazily).

numba is optional: ``_window.kernels`` imports this module only on the CPU and falls back
to the NumPy/CuPy views path (the reference these kernels are tested against) when numba
is missing. Why compiled code: the views path makes kh*kw passes over the whole batch
(a compare, a select and an index update each for max pooling), about 5x slower than
PyTorch on the CIFAR net's overlapping 3x3/2 pool; one pass with the window in registers
is as fast as PyTorch's. Measured with ``bench/bench_pool_ops.py``.

Every kernel takes C-contiguous planes (P = N*C, H, W) and the window as a tuple
``geo = (kh, kw, sh, sw, ph, pw)``, and bounds each window to the input instead of padding
a copy. Each is a serial loop over the planes p0 .. p1 - 1; the public wrappers run it
over all planes, split across numba's threads (``prange``, each plane written by one
thread) when the work is large enough to pay for waking them, serially otherwise (small
maps, and the hundreds of tiny calls of a gradient check). The kernels release the GIL.

Max pooling is branch-free (a select, not an ``if``): with random data the branch is
mispredicted half the time, which made it 4x slower.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy

_serial = numba.njit(cache=True, nogil=True)
_parallel = numba.njit(cache=True, nogil=True, parallel=True)

#: Below this many window reads, one thread is faster than waking numba's pool.
PARALLEL_WORK = 1 << 16


@_serial
def _max_forward(x: Any, geo: Any, y: Any, idx: Any, keep_idx: bool, p0: int, p1: int) -> None:
    """y[p, i, j] = max of window (i, j) of plane p; idx = its flat index h*W + w.

    ``idx`` is written only when ``keep_idx`` (inference passes a dummy and skips it).
    Ties go to the first maximum in row-major window order; NaN wins and propagates
    (PyTorch's CPU rule: take v when v > best or v is NaN).
    """
    kh, kw, sh, sw, ph, pw = geo
    h, w = x.shape[1], x.shape[2]
    oh, ow = y.shape[1], y.shape[2]
    for p in range(p0, p1):
        for i in range(oh):
            h0 = i * sh - ph
            a0, a1 = max(0, -h0), min(kh, h - h0)
            for j in range(ow):
                w0 = j * sw - pw
                b0, b1 = max(0, -w0), min(kw, w - w0)
                best = -numpy.inf
                best_at = (h0 + a0) * w + w0 + b0
                for a in range(a0, a1):
                    for b in range(b0, b1):
                        v = x[p, h0 + a, w0 + b]
                        take = (v > best) | (v != v)  # a select, not a branch
                        best = v if take else best
                        best_at = (h0 + a) * w + w0 + b if take else best_at
                y[p, i, j] = best
                if keep_idx:
                    idx[p, i, j] = best_at


@_parallel
def _max_forward_threads(x: Any, geo: Any, y: Any, idx: Any, keep_idx: bool) -> None:
    for p in numba.prange(x.shape[0]):
        _max_forward(x, geo, y, idx, keep_idx, p, p + 1)


@_serial
def _max_backward(gy: Any, idx: Any, gx: Any, p0: int, p1: int) -> None:
    """gx (P, H*W) = 0, then gx[p, idx[p, i, j]] += gy[p, i, j]: the error goes to the max."""
    oh, ow = gy.shape[1], gy.shape[2]
    for p in range(p0, p1):
        gx[p, :] = 0
        for i in range(oh):
            for j in range(ow):
                gx[p, idx[p, i, j]] += gy[p, i, j]


@_parallel
def _max_backward_threads(gy: Any, idx: Any, gx: Any) -> None:
    for p in numba.prange(gy.shape[0]):
        _max_backward(gy, idx, gx, p, p + 1)


@_serial
def _avg_forward(x: Any, geo: Any, div: Any, y: Any, p0: int, p1: int) -> None:
    """y[p, i, j] = (sum of window (i, j) inside the input) / div[i, j] (padding adds 0)."""
    kh, kw, sh, sw, ph, pw = geo
    h, w = x.shape[1], x.shape[2]
    oh, ow = y.shape[1], y.shape[2]
    zero = div[0, 0] * 0  # a zero of x's dtype (div is finite, cast to x's dtype)
    for p in range(p0, p1):
        for i in range(oh):
            h0 = i * sh - ph
            a0, a1 = max(0, -h0), min(kh, h - h0)
            for j in range(ow):
                w0 = j * sw - pw
                b0, b1 = max(0, -w0), min(kw, w - w0)
                total = zero
                for a in range(a0, a1):
                    for b in range(b0, b1):
                        total += x[p, h0 + a, w0 + b]
                y[p, i, j] = total / div[i, j]


@_parallel
def _avg_forward_threads(x: Any, geo: Any, div: Any, y: Any) -> None:
    for p in numba.prange(x.shape[0]):
        _avg_forward(x, geo, div, y, p, p + 1)


@_serial
def _avg_backward(gy: Any, geo: Any, div: Any, gx: Any, p0: int, p1: int) -> None:
    """gx (P, H, W) = 0, then each window's input positions get gy[p, i, j] / div[i, j]."""
    kh, kw, sh, sw, ph, pw = geo
    h, w = gx.shape[1], gx.shape[2]
    oh, ow = gy.shape[1], gy.shape[2]
    for p in range(p0, p1):
        gx[p, :, :] = 0
        for i in range(oh):
            h0 = i * sh - ph
            a0, a1 = max(0, -h0), min(kh, h - h0)
            for j in range(ow):
                w0 = j * sw - pw
                b0, b1 = max(0, -w0), min(kw, w - w0)
                g = gy[p, i, j] / div[i, j]
                for a in range(a0, a1):
                    for b in range(b0, b1):
                        gx[p, h0 + a, w0 + b] += g


@_parallel
def _avg_backward_threads(gy: Any, geo: Any, div: Any, gx: Any) -> None:
    for p in numba.prange(gy.shape[0]):
        _avg_backward(gy, geo, div, gx, p, p + 1)


def _threads(out: Any, geo: tuple[int, ...]) -> bool:
    """Whether a pass reading every window of ``out`` (P, oh, ow) is worth the threads."""
    return out.size * geo[0] * geo[1] >= PARALLEL_WORK


def max_forward(x: Any, geo: tuple[int, ...], y: Any, idx: Any, keep_idx: bool) -> None:
    """Max pooling of planes x (P, H, W) into y (P, oh, ow), switches into idx (int64)."""
    if _threads(y, geo):
        _max_forward_threads(x, geo, y, idx, keep_idx)
    else:
        _max_forward(x, geo, y, idx, keep_idx, 0, x.shape[0])


def max_backward(gy: Any, idx: Any, gx: Any, geo: tuple[int, ...]) -> None:
    """Scatter gy (P, oh, ow) to the switches idx into gx (P, H*W), which it zeroes first."""
    if _threads(gx, (1, 1)):
        _max_backward_threads(gy, idx, gx)
    else:
        _max_backward(gy, idx, gx, 0, gy.shape[0])


def avg_forward(x: Any, geo: tuple[int, ...], div: Any, y: Any) -> None:
    """Window sums of planes x (P, H, W) divided by div (oh, ow), into y (P, oh, ow)."""
    if _threads(y, geo):
        _avg_forward_threads(x, geo, div, y)
    else:
        _avg_forward(x, geo, div, y, 0, x.shape[0])


def avg_backward(gy: Any, geo: tuple[int, ...], div: Any, gx: Any) -> None:
    """gx (P, H, W) = the window mean's backward of gy (P, oh, ow)."""
    if _threads(gy, geo):
        _avg_backward_threads(gy, geo, div, gx)
    else:
        _avg_backward(gy, geo, div, gx, 0, gy.shape[0])
