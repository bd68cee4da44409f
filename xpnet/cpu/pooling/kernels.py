"""Compiled CPU kernels of the pooling ops (numba; this module is imported lazily).

numba is optional: :mod:`xpnet.cpu.pooling` imports this module only for NumPy arrays
and falls back to the op's NumPy/CuPy views path (the reference these kernels are tested
against) when numba is missing. Why compiled code: the views path makes kh*kw passes over
the whole batch (a compare, a select and an index update each for max pooling, all on
strided views), where one pass with the window in registers runs 3-4x faster
(docs/benchmarks.md, "Engine thresholds").

The planes kernels below take NCHW data; their channels-last twins (NHWC, for conv2d's
output, so that a network stays channels-last) are in ``kernels_nhwc.py``, with the
public wrappers ``*_cl`` here.

Every planes kernel takes C-contiguous planes (P = N*C, H, W) and the window as a tuple
``geo = (kh, kw, sh, sw, ph, pw)``, and bounds each window to the input instead of padding
a copy. Each is a serial loop over the planes p0 .. p1 - 1 that releases the GIL; the
public wrappers cut the planes into contiguous slices over the library's threads
(:func:`xpnet.cpu.threads.parallel_slices`, the same threads and setting as the
convolutions; each plane is written by one thread) when the work pays for it, and run
serially otherwise (small maps, the hundreds of tiny calls of a gradient check). Not
numba's own ``prange`` pool: a second pool would spin against the first and ignore
``set_num_threads``.

Max pooling is branch-free (a select, not an ``if``): with random data the branch is
mispredicted half the time, which made it 4x slower. PyTorch's NaN rule (a NaN is
selected) costs another 3x inside the loop, so the kernel uses strict > alone and the
caller checks for NaN first (:func:`has_nan`, one pass at memory speed) and sends the
rare input holding one to the views path, which follows the rule.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy

from xpnet.cpu.pooling.kernels_nhwc import (
    _avg_backward_cl,
    _avg_forward_cl,
    _max_backward_cl,
    _max_forward_cl,
    _max_forward_cl_few,
)
from xpnet.cpu.spin_kernels import join, signal
from xpnet.cpu.threads import kernel_signal, parallel_slices, worth_splitting

_serial = numba.njit(cache=True, nogil=True)

#: Below this many window reads (~0.3 ms of work), one thread beats handing work to the
#: pool, which costs ~0.1 ms a call (measured on the 2-core machine).
PARALLEL_WORK = 1 << 18


@_serial
def _max_forward(x: Any, geo: Any, y: Any, idx: Any, keep_idx: bool, p0: int, p1: int, flags: Any,
                 index: int, seq: int) -> None:
    """y[p, i, j] = max of window (i, j) of plane p; idx = its flat index h*W + w.

    ``idx`` is written only when ``keep_idx`` (inference passes a dummy and skips it).
    Ties go to the first maximum in row-major window order (strict >, PyTorch's choice).
    A NaN is never selected here: the caller sends inputs holding NaN to the views path.
    """
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    kh, kw, sh, sw, ph, pw = geo
    h, w = x.shape[1], x.shape[2]
    oh, ow = y.shape[1], y.shape[2]
    for p in range(p0, p1):
        plane = x[p]
        for i in range(oh):
            h0 = i * sh - ph
            r0, r1 = max(h0, 0), min(h0 + kh, h)  # window rows inside the input
            for j in range(ow):
                w0 = j * sw - pw
                c0, c1 = max(w0, 0), min(w0 + kw, w)  # window columns inside the input
                best = -numpy.inf
                best_at = r0 * w + c0
                for r in range(r0, r1):
                    row = plane[r]
                    for q in range(c0, c1):
                        v = row[q]
                        take = v > best  # a select, not a branch
                        best = v if take else best
                        best_at = r * w + q if take else best_at
                y[p, i, j] = best
                if keep_idx:
                    idx[p, i, j] = best_at
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


@numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
def _maybe_nan(x: Any) -> bool:
    """False when x certainly holds no NaN: the sum of v - v is 0 for every finite v and
    NaN for a NaN or an infinity. Reassociation only (never "no NaNs"), so the sum
    vectorises and v - v is not folded to 0: one pass at memory speed (14x faster than
    the exact test below)."""
    flat = x.reshape(-1)
    acc = flat.dtype.type(0)
    for k in range(flat.size):
        acc += flat[k] - flat[k]
    return acc != acc


@_serial
def _has_nan_exact(x: Any) -> bool:
    """Whether the array holds a NaN (chunked, so that the inner loop vectorises)."""
    flat = x.reshape(-1)
    for start in range(0, flat.size, 4096):
        found = False
        for k in range(start, min(start + 4096, flat.size)):
            found |= flat[k] != flat[k]
        if found:
            return True
    return False


def has_nan(x: Any) -> bool:
    """Whether the C-contiguous float array x holds a NaN.

    The fast test first; only an input holding an infinity (or a NaN) pays the exact one.
    """
    return bool(_maybe_nan(x)) and bool(_has_nan_exact(x))


@_serial
def _max_backward(gy: Any, idx: Any, gx: Any, p0: int, p1: int, flags: Any, index: int,
                  seq: int) -> None:
    """gx (P, H*W) = 0, then gx[p, idx[p, i, j]] += gy[p, i, j]: the error goes to the max."""
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    oh, ow = gy.shape[1], gy.shape[2]
    for p in range(p0, p1):
        gx[p, :] = 0
        for i in range(oh):
            for j in range(ow):
                gx[p, idx[p, i, j]] += gy[p, i, j]
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)



@_serial
def _avg_forward(x: Any, geo: Any, div: Any, y: Any, p0: int, p1: int, flags: Any, index: int,
                 seq: int) -> None:
    """y[p, i, j] = (sum of window (i, j) inside the input) / div[i, j] (padding adds 0).

    Separable: for each output row, the window rows are summed column by column first
    (contiguous, vectorised), then each window adds its kw column sums.
    """
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    kh, kw, sh, sw, ph, pw = geo
    h, w = x.shape[1], x.shape[2]
    oh, ow = y.shape[1], y.shape[2]
    cols = numpy.empty(w, dtype=x.dtype)  # column sums of the current window rows
    for p in range(p0, p1):
        plane = x[p]
        for i in range(oh):
            h0 = i * sh - ph
            r0, r1 = max(h0, 0), min(h0 + kh, h)
            cols[:] = plane[r0]
            for r in range(r0 + 1, r1):
                row = plane[r]
                for q in range(w):
                    cols[q] += row[q]
            for j in range(ow):
                w0 = j * sw - pw
                c0, c1 = max(w0, 0), min(w0 + kw, w)
                total = cols[c0]
                for q in range(c0 + 1, c1):
                    total += cols[q]
                y[p, i, j] = total / div[i, j]
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


@_serial
def _avg_backward(gy: Any, geo: Any, div: Any, gx: Any, p0: int, p1: int, flags: Any, index: int,
                  seq: int) -> None:
    """gx (P, H, W) = 0, then each window's input positions get gy[p, i, j] / div[i, j].

    Separable, as the forward: for each output row, the shares of its windows are
    gathered per column, then added to every window row (contiguous, vectorised).
    """
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    kh, kw, sh, sw, ph, pw = geo
    h, w = gx.shape[1], gx.shape[2]
    oh, ow = gy.shape[1], gy.shape[2]
    cols = numpy.empty(w, dtype=gx.dtype)  # what each column of the window rows receives
    for p in range(p0, p1):
        plane = gx[p]
        plane[:, :] = 0
        for i in range(oh):
            h0 = i * sh - ph
            r0, r1 = max(h0, 0), min(h0 + kh, h)
            cols[:] = 0
            for j in range(ow):
                w0 = j * sw - pw
                g = gy[p, i, j] / div[i, j]
                for q in range(max(w0, 0), min(w0 + kw, w)):
                    cols[q] += g
            for r in range(r0, r1):
                row = plane[r]
                for q in range(w):
                    row[q] += cols[q]
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


def _split(work: int, n_planes: int, kernel: Any) -> None:
    """Run ``kernel(p0, p1)`` over all planes: in slices on the library's threads
    (:mod:`xpnet.cpu.threads`, the kernels release the GIL) when ``work`` window
    reads pay for it, in this thread otherwise."""
    if worth_splitting(work, PARALLEL_WORK):
        parallel_slices(n_planes, kernel, signalled=True)
    else:
        kernel(0, n_planes)


def max_forward(x: Any, geo: tuple[int, ...], y: Any, idx: Any, keep_idx: bool) -> None:
    """Max pooling of planes x (P, H, W) into y (P, oh, ow), switches into idx (int64)."""
    _split(y.size * geo[0] * geo[1], x.shape[0],
           lambda p0, p1: _max_forward(x, geo, y, idx, keep_idx, p0, p1,
                                       *kernel_signal()))  # fmt: skip


def max_backward(gy: Any, idx: Any, gx: Any) -> None:
    """Scatter gy (P, oh, ow) to the switches idx into gx (P, H*W), which it zeroes first."""
    _split(gx.size, gy.shape[0],
           lambda p0, p1: _max_backward(gy, idx, gx, p0, p1, *kernel_signal()))


def avg_forward(x: Any, geo: tuple[int, ...], div: Any, y: Any) -> None:
    """Window sums of planes x (P, H, W) divided by div (oh, ow), into y (P, oh, ow)."""
    _split(y.size * geo[0] * geo[1], x.shape[0],
           lambda p0, p1: _avg_forward(x, geo, div, y, p0, p1, *kernel_signal()))  # fmt: skip


def avg_backward(gy: Any, geo: tuple[int, ...], div: Any, gx: Any) -> None:
    """gx (P, H, W) = the window mean's backward of gy (P, oh, ow)."""
    _split(gy.size * geo[0] * geo[1], gy.shape[0],
           lambda p0, p1: _avg_backward(gy, geo, div, gx, p0, p1, *kernel_signal()))  # fmt: skip


#: Below this many channels the channels-last max pool runs channel by channel (C = 6:
#: 2x faster than vectorised over 6 lanes; C = 16: 4x slower). A 2 x 2 window with no
#: padding takes that kernel's unrolled path whatever C (its loop over the channels
#: vectorises): `python bench/bench_pool_ops.py --channels-last --net lenet_wide`, ratio
#: to PyTorch channels_last 1.24-1.35 with the vectorised kernel, 1.58-1.68 unrolled
#: (docs/benchmarks.md, "Engine thresholds").
FEW_CHANNELS = 8


def max_forward_cl(x: Any, geo: tuple[int, ...], y: Any, idx: Any, keep_idx: bool,
                   clip: bool = False) -> None:
    """Max pooling of x (N, H, W, C) into y (N, oh, ow, C), switches into idx (int64);
    ``clip``: y = max(y, 0) as it is stored (a ReLU after the pool, fused)."""
    unrolled = geo[0] == geo[1] == 2 and geo[4] == geo[5] == 0  # 2 x 2, no padding
    few = x.shape[3] < FEW_CHANNELS or unrolled
    kernel = _max_forward_cl_few if few else _max_forward_cl
    _split(y.size * geo[0] * geo[1], x.shape[0],
           lambda n0, n1: kernel(x, geo, y, idx, keep_idx, clip, n0, n1,
                                 *kernel_signal()))  # fmt: skip


def max_backward_cl(gy: Any, idx: Any, gx: Any) -> None:
    """Scatter gy (N, oh, ow, C) to the switches idx into gx (N, H*W, C), zeroed first."""
    _split(gx.size, gy.shape[0],
           lambda n0, n1: _max_backward_cl(gy, idx, gx, n0, n1, *kernel_signal()))


def avg_forward_cl(x: Any, geo: tuple[int, ...], div: Any, y: Any) -> None:
    """Window sums of x (N, H, W, C) divided by div (oh, ow), into y (N, oh, ow, C)."""
    _split(y.size * geo[0] * geo[1], x.shape[0],
           lambda n0, n1: _avg_forward_cl(x, geo, div, y, n0, n1, *kernel_signal()))  # fmt: skip


def avg_backward_cl(gy: Any, geo: tuple[int, ...], div: Any, gx: Any) -> None:
    """gx (N, H, W, C) = the window mean's backward of gy (N, oh, ow, C)."""
    _split(gy.size * geo[0] * geo[1], gy.shape[0],
           lambda n0, n1: _avg_backward_cl(gy, geo, div, gx, n0, n1, *kernel_signal()))  # fmt: skip
