"""Channels-last compiled CPU kernels of local response normalisation (numba, lazy).

Why: on conv2d's channels-last output (NHWC memory) the NumPy path's shifted adds over
the channel axis run as millions of inner loops only C - d values long (2-3x slower than
on NCHW memory: docs/benchmarks.md, "Engine thresholds"). Here each pixel's C channels
are one contiguous row and its window sums are a few adds in registers.

The kernels compute exactly what the NumPy path computes, in its order (the centre
square, then the channels before c nearest first, then those after; ``* scale`` then
``+ k``; s^-0.75 by two square roots), in the input's dtype, so both give the same bits
for beta = 0.75 (tested); other betas go through ``**``, which may differ in the last
bit from NumPy's ``power``.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy

from xpnet.cpu.spin_kernels import join, signal
from xpnet.cpu.threads import kernel_signal, parallel_slices, worth_splitting

_serial = numba.njit(cache=True, nogil=True)

#: Below this many window reads a split does not pay (see the pooling kernels).
PARALLEL_WORK = 1 << 18


@_serial
def _neg_power(s: Any, beta: Any, one: Any) -> Any:
    """s ** -beta; for beta = 0.75 by two square roots, as the NumPy path."""
    if beta == 0.75:
        r = numpy.sqrt(s)  # s^(1/2)
        r = r * numpy.sqrt(r)  # s^(3/4)
        return one / r
    return s ** -beta


@_serial
def _forward_rows(x: Any, before: int, after: int, scale: Any, k: Any, beta: Any, one: Any, y: Any,
                  s: Any, p: Any, r0: int, r1: int, flags: Any, index: int, seq: int) -> None:
    """Rows r0..r1-1 of x (P, C): s = k + scale * window sum of x^2, p = s^-beta, y = x p.

    The scalars come in x's dtype, so that the arithmetic stays in it.
    """
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    c_all = x.shape[1]
    for r in range(r0, r1):
        row = x[r]
        for c in range(c_all):
            v = row[c]
            acc = v * v
            for d in range(1, min(before, c) + 1):
                u = row[c - d]
                acc += u * u
            for d in range(1, min(after, c_all - 1 - c) + 1):
                u = row[c + d]
                acc += u * u
            acc = acc * scale + k
            pv = _neg_power(acc, beta, one)
            s[r, c] = acc
            p[r, c] = pv
            y[r, c] = v * pv
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


@_serial
def _window_sum(v: Any, before: int, after: int, pad: Any, out: Any) -> None:
    """out[c] = v[c] + v[c-1] + .. + v[c-before] + v[c+1] + .. + v[c+after], in that order.

    ``pad`` (before + C + after) holds v between zeros, so that each term is one pass
    over the C channels without bounds (adding a zero changes no bit).
    """
    c_all = v.shape[0]
    pad[before : before + c_all] = v
    out[:] = v
    for d in range(1, before + 1):
        out += pad[before - d : before - d + c_all]
    for d in range(1, after + 1):
        out += pad[before + d : before + d + c_all]


@_serial
def _backward_rows(gy: Any, x: Any, s: Any, p: Any, before: int, after: int, coef: Any,
                   gx: Any, r0: int, r1: int, flags: Any, index: int, seq: int) -> None:
    """gx = (window sum of t) x coef + gy p, t = gy x p / s, for rows r0..r1-1.

    ``before``/``after`` are those of the transposed window (the forward's swapped).
    The window sum runs over a zero-padded copy of t, without bounds (a quarter faster
    than the bounded loops of the forward).
    """
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    c_all = x.shape[1]
    t = numpy.empty(c_all, dtype=x.dtype)  # this call's own scratch rows
    back = numpy.empty(c_all, dtype=x.dtype)
    pad = numpy.zeros(before + c_all + after, dtype=x.dtype)
    for r in range(r0, r1):
        for c in range(c_all):
            t[c] = gy[r, c] * x[r, c] * p[r, c] / s[r, c]
        _window_sum(t, before, after, pad, back)
        for c in range(c_all):
            gx[r, c] = back[c] * x[r, c] * coef + gy[r, c] * p[r, c]
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


def _run(rows: int, work: int, kernel: Any) -> None:
    """``kernel(r0, r1)`` over all rows, in slices on xpnet's threads when it pays."""
    if worth_splitting(work, PARALLEL_WORK):
        parallel_slices(rows, kernel, signalled=True)
    else:
        kernel(0, rows)


def forward(x: Any, size: int, alpha: float, beta: float, k: float) -> tuple[Any, Any, Any]:
    """(y, s, p) of x (P, C) C-contiguous: the layer's output, base and s^-beta."""
    t = x.dtype.type
    y, s, p = (numpy.empty_like(x) for _ in range(3))
    before, after = size // 2, (size - 1) // 2
    _run(x.shape[0], x.size * size, lambda r0, r1: _forward_rows(
        x, before, after, t(alpha / size), t(k), t(beta), t(1), y, s, p, r0, r1,
        *kernel_signal()))
    return y, s, p


def backward(gy: Any, x: Any, s: Any, p: Any, size: int, alpha: float,
             beta: float) -> Any:
    """dE/dx (P, C) from dE/dy, x, s and p (P, C), all C-contiguous."""
    coef = x.dtype.type(-2.0 * alpha * beta / size)
    gx = numpy.empty_like(x)
    before, after = (size - 1) // 2, size // 2  # the transposed window
    _run(x.shape[0], x.size * size,
         lambda r0, r1: _backward_rows(gy, x, s, p, before, after, coef, gx, r0, r1,
                                       *kernel_signal()))
    return gx
