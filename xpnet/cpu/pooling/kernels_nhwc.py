"""Channels-last (NHWC) compiled CPU kernels of the pooling ops (numba, imported lazily).

Why a second layout: :func:`xpnet.functions.conv2d` returns channels-last memory (an NCHW
view of NHWC data) and reads it back without a copy. The planes kernels of
:mod:`xpnet.cpu.pooling.kernels` need (N*C, H, W) planes, so a pool between two
convolutions cost two transposing copies forward (into the pool, then into the next
convolution) and two backward, and the ReLU between them multiplied a gradient and a mask
of different layouts (strided reads, 10x slower). These kernels read and write NHWC, so a
whole network stays channels-last, as PyTorch's ``channels_last`` memory format does.

Each kernel takes C-contiguous (N, H, W, C) arrays and the window ``geo = (kh, kw, sh, sw,
ph, pw)``; the innermost loop runs over the channels, contiguous, so it vectorises. They
compute exactly what the planes kernels compute, in the same order, so both layouts give
bit-identical results (tested). Max pooling keeps PyTorch's switches: the flat index
h*W + w within the (n, c) plane.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy

from xpnet.cpu.spin_kernels import join, signal

_serial = numba.njit(cache=True, nogil=True)


@numba.njit(cache=True, nogil=True, inline="always")
def _relu(v: Any, zero: Any) -> Any:
    """max(v, 0) with NumPy's rules, as :mod:`xpnet.cpu.relu_kernels`: ``zero`` (+0 of
    v's type) for v <= 0, -0 included; a NaN kept (it compares false)."""
    return zero if v <= 0 else v


@_serial
def _max_forward_cl(x: Any, geo: Any, y: Any, idx: Any, keep_idx: bool, clip: bool, n0: int,
                    n1: int, flags: Any, index: int, seq: int) -> None:
    """y[n, i, j, c] = max of window (i, j) of channel c; idx[n, i, j, c] = its h*W + w.
    With ``clip``, y = max(y, 0) as it is stored (a ReLU after the pool, fused:
    :func:`_relu`).

    Vectorised over the channels: the running maxima and positions of all C channels are
    updated together, one window position at a time (4x faster than the planes kernel
    at C = 32; for a few channels see :func:`_max_forward_cl_few`). ``idx`` is not read
    without ``keep_idx``; the positions then go to a scratch row of this call's own (a
    row shared by the threads costs 25x in cache-line traffic). Ties go to the first
    maximum in row-major window order (strict >); a NaN is taken and kept, so that the
    caller finds it in y and sends the input to the views path (PyTorch's NaN rule).
    """
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    kh, kw, sh, sw, ph, pw = geo
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    oh, ow = y.shape[1], y.shape[2]
    zero = y.dtype.type(0)
    scratch = numpy.empty(c, dtype=idx.dtype)  # positions when the switches are not kept
    for n in range(n0, n1):
        for i in range(oh):
            h0 = i * sh - ph
            r0, r1 = max(h0, 0), min(h0 + kh, h)  # window rows inside the input
            for j in range(ow):
                w0 = j * sw - pw
                c0, c1 = max(w0, 0), min(w0 + kw, w)  # window columns inside the input
                best = y[n, i, j]  # (C,) running maxima
                at = idx[n, i, j] if keep_idx else scratch  # (C,) their positions
                first = r0 * w + c0
                for k in range(c):
                    best[k] = -numpy.inf
                    at[k] = first
                for r in range(r0, r1):
                    for q in range(c0, c1):
                        pixel = x[n, r, q]  # (C,) contiguous
                        pos = r * w + q
                        for k in range(c):
                            v = pixel[k]
                            take = (v > best[k]) | (v != v)  # a select; NaN wins
                            best[k] = v if take else best[k]
                            at[k] = pos if take else at[k]
                if clip:
                    for k in range(c):
                        best[k] = _relu(best[k], zero)
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


@_serial
def _max_forward_cl_few(x: Any, geo: Any, y: Any, idx: Any, keep_idx: bool, clip: bool,
                        n0: int, n1: int, flags: Any, index: int, seq: int) -> None:
    """:func:`_max_forward_cl` for a few channels: one channel at a time, the running max
    in a register (with C = 6, LeNet's first stage, 2x faster than the vectorised
    kernel, whose vectors would be 6 lanes long).

    A 2x2 window inside the input (LeNet's pools) takes an unrolled path: four reads and
    three selects per output, in the same order and with the same ties as the general
    loop (3.8x faster on LeNet's first pool).
    """
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    kh, kw, sh, sw, ph, pw = geo
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    oh, ow = y.shape[1], y.shape[2]
    zero = y.dtype.type(0)
    two = kh == 2 and kw == 2
    for n in range(n0, n1):
        for i in range(oh):
            h0 = i * sh - ph
            r0, r1 = max(h0, 0), min(h0 + kh, h)
            for j in range(ow):
                w0 = j * sw - pw
                if two and h0 >= 0 and w0 >= 0 and h0 + 2 <= h and w0 + 2 <= w:
                    a0, a1 = x[n, h0, w0], x[n, h0, w0 + 1]  # (C,) the window's pixels
                    a2, a3 = x[n, h0 + 1, w0], x[n, h0 + 1, w0 + 1]
                    p0 = h0 * w + w0
                    for k in range(c):
                        best, at = a0[k], p0
                        take = (a1[k] > best) | (a1[k] != a1[k])  # NaN wins
                        best = a1[k] if take else best
                        at = p0 + 1 if take else at
                        take = (a2[k] > best) | (a2[k] != a2[k])  # NaN wins
                        best = a2[k] if take else best
                        at = p0 + w if take else at
                        take = (a3[k] > best) | (a3[k] != a3[k])  # NaN wins
                        best = a3[k] if take else best
                        at = p0 + w + 1 if take else at
                        y[n, i, j, k] = _relu(best, zero) if clip else best
                        if keep_idx:
                            idx[n, i, j, k] = at
                    continue
                c0, c1 = max(w0, 0), min(w0 + kw, w)
                for k in range(c):
                    best = -numpy.inf
                    best_at = r0 * w + c0
                    for r in range(r0, r1):
                        for q in range(c0, c1):
                            v = x[n, r, q, k]
                            take = (v > best) | (v != v)  # NaN wins
                            best = v if take else best
                            best_at = r * w + q if take else best_at
                    y[n, i, j, k] = _relu(best, zero) if clip else best
                    if keep_idx:
                        idx[n, i, j, k] = best_at
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


@_serial
def _max_backward_cl(gy: Any, idx: Any, gx: Any, n0: int, n1: int, flags: Any, index: int,
                     seq: int) -> None:
    """gx (N, H*W, C) = 0, then gx[n, idx[n, i, j, c], c] += gy[n, i, j, c]."""
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    oh, ow, c = gy.shape[1], gy.shape[2], gy.shape[3]
    for n in range(n0, n1):
        gx[n, :, :] = 0
        for i in range(oh):
            for j in range(ow):
                for k in range(c):
                    gx[n, idx[n, i, j, k], k] += gy[n, i, j, k]
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


@_serial
def _avg_forward_cl(x: Any, geo: Any, div: Any, y: Any, n0: int, n1: int, flags: Any, index: int,
                    seq: int) -> None:
    """y[n, i, j, c] = (sum of window (i, j) inside the input) / div[i, j].

    Separable, as the planes kernel and in its order: the window rows are summed into
    per-column sums (W, C) first, then each window adds its kw column sums.
    """
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    kh, kw, sh, sw, ph, pw = geo
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    oh, ow = y.shape[1], y.shape[2]
    cols = numpy.empty((w, c), dtype=x.dtype)  # column sums of the current window rows
    for n in range(n0, n1):
        for i in range(oh):
            h0 = i * sh - ph
            r0, r1 = max(h0, 0), min(h0 + kh, h)
            cols[:, :] = x[n, r0]
            for r in range(r0 + 1, r1):
                row = x[n, r]  # (W, C)
                for q in range(w):
                    for k in range(c):
                        cols[q, k] += row[q, k]
            for j in range(ow):
                w0 = j * sw - pw
                c0, c1 = max(w0, 0), min(w0 + kw, w)
                out = y[n, i, j]  # (C,)
                d = div[i, j]
                for k in range(c):
                    out[k] = cols[c0, k]
                for q in range(c0 + 1, c1):
                    for k in range(c):
                        out[k] += cols[q, k]
                for k in range(c):
                    out[k] = out[k] / d
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


@_serial
def _avg_backward_cl(gy: Any, geo: Any, div: Any, gx: Any, n0: int, n1: int, flags: Any,
                     index: int, seq: int) -> None:
    """gx (N, H, W, C) = 0, then each window's input positions get gy[n, i, j, c] / div[i, j].

    As the planes kernel: per output row, the shares of its windows are gathered per
    column (W, C), then added to every row of the window.
    """
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    kh, kw, sh, sw, ph, pw = geo
    h, w, c = gx.shape[1], gx.shape[2], gx.shape[3]
    oh, ow = gy.shape[1], gy.shape[2]
    cols = numpy.empty((w, c), dtype=gx.dtype)  # what each column of the window rows gets
    for n in range(n0, n1):
        gx[n, :, :, :] = 0
        for i in range(oh):
            h0 = i * sh - ph
            r0, r1 = max(h0, 0), min(h0 + kh, h)
            cols[:, :] = 0
            for j in range(ow):
                w0 = j * sw - pw
                d = div[i, j]
                for q in range(max(w0, 0), min(w0 + kw, w)):
                    for k in range(c):
                        cols[q, k] += gy[n, i, j, k] / d
            for r in range(r0, r1):
                row = gx[n, r]  # (W, C)
                for q in range(w):
                    for k in range(c):
                        row[q, k] += cols[q, k]
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)
