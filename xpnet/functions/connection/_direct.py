"""Compiled CPU loops of the convolution (numba, imported lazily; optional).

Two loops that NumPy cannot write without a large temporary or many tiny passes: the
direct weight gradient of a convolution with few weights, and col2im's fold.

Direct weight gradient.

Why: a network's first convolution on grey images (LeNet-5's conv1: 1 -> 6 channels,
5x5) has a weight gradient of 150 numbers, each a sum over all 100,352 output pixels of
the batch. Through im2row it is a (6, M) @ (M, 26) product over a column matrix 26 times
the input: memory-bound, 2.5-3 ms at batch 128 and no faster on two threads (they share
the memory bandwidth). Summed directly from the padded input, each term is a dot product
of one output row of dE/dy with one input row, which the compiler vectorises, and the
work is compute-bound: ~1.2 ms on two threads.

dE/dw[o, c, i, j] = sum_{n, p, q} dE/dy[n, o, p, q] x_pad[n, c, p + i, q + j] and
dE/db[o] = sum_{n, p, q} dE/dy[n, o, p, q], for stride 1, dilation 1 and one group. The
dot products are summed with reassociation allowed (vectorised), so the rounding differs
from the GEMM path's (also a reordered sum) but is the same from run to run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy

from xpnet.functions._parallel import parallel_slices


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz"})
def _wgrad_rows(xpad: Any, gy: Any, gw: Any, gb: Any, need_b: bool, zero: Any) -> None:
    """gw (O, C, kh, kw) += the weight gradient of one slice; gb (O,) += its bias part.

    xpad (C, n, Hp, Wp) padded input, gy (n, O, oH, oW), both C-contiguous; ``zero``
    in their dtype, so that the sums stay in it.
    """
    channels, n_items = xpad.shape[0], xpad.shape[1]
    outs, oh, ow = gy.shape[1], gy.shape[2], gy.shape[3]
    kh, kw = gw.shape[2], gw.shape[3]
    for n in range(n_items):
        for o in range(outs):
            if need_b:
                total = gb[o]
                for p in range(oh):
                    for q in range(ow):
                        total += gy[n, o, p, q]
                gb[o] = total
            for c in range(channels):
                for i in range(kh):
                    for j in range(kw):
                        acc = gw[o, c, i, j]
                        for p in range(oh):
                            g = gy[n, o, p]  # (oW,) one output row
                            row = xpad[c, n, p + i]  # (Wp,) the input row it reads
                            dot = zero
                            for q in range(ow):
                                dot += g[q] * row[q + j]
                            acc += dot
                        gw[o, c, i, j] = acc


def weight_grad(x: Any, gy: Any, kh: int, kw: int, pad: Callable[[Any], Any],
                need_b: bool) -> tuple[Any, Any]:
    """(dE/dw (O, C, kh, kw), dE/db (O,) or None) for stride 1, dilation 1, one group.

    Args:
        x: input (N, C, H, W), any strides; gy: dE/dy (N, O, oH, oW), any strides.
        kh, kw: kernel size.
        pad: a slice of x (n, C, H, W) -> (C, n, Hp, Wp) C-contiguous with its zero
            border (the engine's ``_pad_cnhw``).
        need_b: also return dE/db.

    The batch is split over xpnet's threads; each slice's sums are added in slice order.
    """
    N, C = x.shape[:2]
    outs = gy.shape[1]

    def work(lo: int, hi: int) -> tuple[Any, Any]:
        xpad = pad(x[lo:hi])  # (C, n, Hp, Wp)
        g = numpy.ascontiguousarray(gy[lo:hi])  # (n, O, oH, oW), NCHW
        gw = numpy.zeros((outs, C, kh, kw), dtype=x.dtype)
        gb = numpy.zeros(outs, dtype=x.dtype)
        _wgrad_rows(xpad, g, gw, gb, need_b, x.dtype.type(0))
        return gw, gb

    parts = parallel_slices(N, work)
    gw, gb = parts[0]
    for pw_, pb in parts[1:]:  # slice order: independent of thread timing
        gw = gw + pw_
        gb = gb + pb
    return gw, (gb if need_b else None)


@numba.njit(cache=True, nogil=True)
def _fold(dcols: Any, steps: Any, gxpad: Any) -> None:
    """col2im: gxpad (n, Hp, Wp, C) = 0, then each column's gradient added at its tap.

    dcols (n, oH, oW, kh, kw, C) is dE/dX_col; tap (i, j) of output (p, q) reads input
    (sh p + dh i, sw q + dw j), so it adds there. With dilation 1 the kw C values of a
    kernel row are one contiguous run in both arrays and one vectorised loop (LeNet-5's
    conv2, 64 images: 0.59 -> 0.47 ms against a loop over C = 6 channels per tap).
    Each (n) is written by one thread only.
    """
    sh, sw, dh, dw = steps
    n_items, oh, ow, kh, kw, channels = dcols.shape
    run = kw * channels  # with dilation 1 a tap row (kw, C) is one contiguous run
    gxpad[:] = 0
    if dw == 1:
        rows = gxpad.reshape(n_items, gxpad.shape[1], -1)  # (n, Hp, Wp C)
        taps = dcols.reshape(n_items, oh, ow, kh, run)  # (n, oH, oW, kh, kw C)
        for n in range(n_items):
            for p in range(oh):
                for q in range(ow):
                    start = sw * q * channels
                    for i in range(kh):
                        dst = rows[n, sh * p + dh * i]
                        src = taps[n, p, q, i]
                        for t in range(run):
                            dst[start + t] += src[t]
        return
    for n in range(n_items):
        for p in range(oh):
            for q in range(ow):
                for i in range(kh):
                    dst = gxpad[n, sh * p + dh * i]  # (Wp, C)
                    src = dcols[n, p, q, i]  # (kw, C)
                    for j in range(kw):
                        d, v = dst[sw * q + dw * j], src[j]
                        for c in range(channels):
                            d[c] += v[c]


def col2im(dcols: Any, steps: tuple[int, int, int, int], gxpad: Any) -> None:
    """Fold dE/dX_col (n, oH, oW, kh, kw, C) into gxpad (n, Hp, Wp, C), which it zeroes.

    One GEMM to dE/dX_col and this fold replace col2im's kh kw thin products (each only
    Og terms deep) and their strided NumPy adds: LeNet-5's conv2 dE/dx at batch 128,
    one thread, 3.1 -> 1.9 ms. ``steps`` is (sh, sw, dh, dw).
    """
    _fold(dcols, steps, gxpad)
