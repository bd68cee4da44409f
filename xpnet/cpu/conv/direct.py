"""Compiled CPU loops of the convolution (numba, imported lazily; optional).

Three loops that NumPy cannot write without a large temporary or many tiny passes: the
direct forward pass and weight gradient of a convolution with few weights, and col2im's
fold.

Direct convolution (forward and weight gradient).

Why: a network's first convolution on grey images (LeNet-5's conv1: 1 -> 6 channels,
5x5, 150 weights) is, through im2row, a product of a column matrix 25 times the input
with a (25, 6) weight matrix: memory-bound, and the GEMM has only 6 columns to work
with. Summed directly from the padded image the work is 25 multiply-adds per output,
on data that stays in the L1 cache.

The trick that makes the loops long and contiguous: for one image and stride 1, lay the
padded input out flat, one channel ``x_f[c]`` of Hp Wp values (plus a tail of
(kw - 1) dw zeros), and compute the output on the same row pitch Wp, i.e. at the
"extended" positions t = p Wp + q for q < Wp (the last Wp - oW of each row are junk,
never read). Then for every tap (c, i, j) the input a whole output plane reads is one
contiguous run, starting at off = i dh Wp + j dw:

    y_e[o, t] = b[o] + sum_{c, i, j} w[o, c, i, j] x_f[c, t + off(i, j)],

one vectorised multiply-add over t = 0 .. oH Wp - 1 per tap, and likewise

    dE/dw[o, c, i, j] = sum_n sum_t g_e[n, o, t] x_f[n, c, t + off(i, j)],
    dE/db[o] = sum_n sum_t g_e[n, o, t],

with g_e = dE/dy laid out on the same pitch and zeros at the junk positions: one long
dot product per tap. Where it beats the GEMM paths (``python bench/bench_conv_ops.py
--paths``): see ``DIRECT_FWD_MAX`` in :mod:`xpnet.cpu.conv.select`.

The sums are reassociated (vectorised), so the rounding differs from the GEMM path's
(also a reordered sum) but is the same from run to run.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy

from xpnet.cpu.spin_kernels import join, signal
from xpnet.cpu.threads import kernel_signal, ordered_sum, parallel_slices

_FAST = {"reassoc", "contract", "nsz"}


@numba.njit(cache=True, nogil=True)
def _flat_image(x: Any, n: int, ph: int, pw: int, xf: Any) -> None:
    """Copy image n of x (N, C, H, W), any strides, into the interior of xf (C, Hp Wp +
    tail), whose border and tail are zero (the caller zeroes xf once)."""
    channels, h, w = x.shape[1], x.shape[2], x.shape[3]
    wp = w + 2 * pw
    for c in range(channels):
        for r in range(h):
            base = (r + ph) * wp + pw
            for q in range(w):
                xf[c, base + q] = x[n, c, r, q]


@numba.njit(cache=True, nogil=True)
def _flat_layout(x: Any, kh: int, kw: int, pads: Any, oh: int) -> Any:
    """(xf, offs, Wp, length) shared by both direct loops, for x (N, C, H, W).

    xf (C, Hp Wp + (kw - 1) dw) zeros: the flat padded image buffer (border and tail
    stay zero; :func:`_flat_image` fills the interior); offs (C kh kw,) the start of each
    tap's run in xf's flat memory, taps ordered (c, i, j) like w's; length = oH Wp, the
    extended output positions of one plane.
    """
    ph, pw, dh, dw = pads
    channels = x.shape[1]
    hp, wp = x.shape[2] + 2 * ph, x.shape[3] + 2 * pw
    xf = numpy.zeros((channels, hp * wp + (kw - 1) * dw), dtype=x.dtype)
    offs = numpy.empty(channels * kh * kw, dtype=numpy.int64)
    k = 0
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                offs[k] = c * xf.shape[1] + i * dh * wp + j * dw
                k += 1
    return xf, offs, wp, oh * wp


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _forward_rows(x: Any, w: Any, b: Any, has_b: bool, pads: Any, y: Any,
                  n0: int, n1: int, flags: Any, index: int, seq: int) -> None:
    """y[n] (oH, oW, O) = the stride-1 convolution of image n, for n0 <= n < n1.

    x (N, C, H, W) any strides; w (O, C, kh, kw) C-contiguous; b (O,); ``pads`` is
    (ph, pw, dh, dw); y (N, oH, oW, O) C-contiguous (channels-last, as the engine's).
    Four taps per pass over the output row (one load and one store of it per four
    multiply-adds), then the rest one by one.
    """
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    ph, pw = pads[0], pads[1]
    outs = w.shape[0]
    oh, ow = y.shape[1], y.shape[2]
    xf, offs, wp, length = _flat_layout(x, w.shape[2], w.shape[3], pads, oh)
    flat = xf.reshape(-1)
    taps = offs.size
    wf = w.reshape(outs, taps)  # (O, C kh kw)
    ye = numpy.empty((outs, length), dtype=x.dtype)  # (O, oH Wp) this image's output
    yef = ye.reshape(-1)
    for n in range(n0, n1):
        _flat_image(x, n, ph, pw, xf)
        for o in range(outs):
            row = ye[o]
            if has_b:
                row[:] = b[o]
            else:
                row[:] = 0
            wo = wf[o]
            k = 0
            while k + 4 <= taps:
                w0, w1, w2, w3 = wo[k], wo[k + 1], wo[k + 2], wo[k + 3]
                s0 = flat[offs[k] : offs[k] + length]  # the runs these taps read
                s1 = flat[offs[k + 1] : offs[k + 1] + length]
                s2 = flat[offs[k + 2] : offs[k + 2] + length]
                s3 = flat[offs[k + 3] : offs[k + 3] + length]
                for t in range(length):
                    row[t] += w0 * s0[t] + w1 * s1[t] + w2 * s2[t] + w3 * s3[t]
                k += 4
            while k < taps:
                w0 = wo[k]
                s0 = flat[offs[k] : offs[k] + length]
                for t in range(length):
                    row[t] += w0 * s0[t]
                k += 1
        yf = y[n].reshape(-1)  # the extended plane -> channels-last rows
        for p in range(oh):
            for q in range(ow):
                dst, src = (p * ow + q) * outs, p * wp + q
                for o in range(outs):
                    yf[dst + o] = yef[o * length + src]
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _wgrad_rows(x: Any, gy: Any, pads: Any, gw: Any, gb: Any, need_b: bool,
                n0: int, n1: int, flags: Any, index: int, seq: int) -> None:
    """gw (O, C, kh, kw) += the weight gradient of images n0 .. n1 - 1; gb (O,) += dE/db.

    x (N, C, H, W) and gy (N, O, oH, oW), any strides; gw C-contiguous; ``pads`` is
    (ph, pw, dh, dw). Four dot products per pass over dE/dy's row (one load of it per
    four multiply-adds), then the rest one by one.
    """
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    ph, pw = pads[0], pads[1]
    outs = gw.shape[0]
    oh, ow = gy.shape[2], gy.shape[3]
    xf, offs, wp, length = _flat_layout(x, gw.shape[2], gw.shape[3], pads, oh)
    flat = xf.reshape(-1)
    taps = offs.size
    gf = gw.reshape(outs, taps)  # (O, C kh kw) view
    ge = numpy.zeros((outs, length), dtype=x.dtype)  # junk positions stay zero
    zero = x.dtype.type(0)
    for n in range(n0, n1):
        _flat_image(x, n, ph, pw, xf)
        for o in range(outs):
            for p in range(oh):
                for q in range(ow):
                    ge[o, p * wp + q] = gy[n, o, p, q]
        for o in range(outs):
            g = ge[o]
            if need_b:
                total = gb[o]
                for t in range(length):
                    total += g[t]
                gb[o] = total
            k = 0
            while k + 4 <= taps:
                s0 = flat[offs[k] : offs[k] + length]
                s1 = flat[offs[k + 1] : offs[k + 1] + length]
                s2 = flat[offs[k + 2] : offs[k + 2] + length]
                s3 = flat[offs[k + 3] : offs[k + 3] + length]
                a0 = a1 = a2 = a3 = zero
                for t in range(length):
                    v = g[t]
                    a0 += v * s0[t]
                    a1 += v * s1[t]
                    a2 += v * s2[t]
                    a3 += v * s3[t]
                gf[o, k] += a0
                gf[o, k + 1] += a1
                gf[o, k + 2] += a2
                gf[o, k + 3] += a3
                k += 4
            while k < taps:
                s0 = flat[offs[k] : offs[k] + length]
                a0 = zero
                for t in range(length):
                    a0 += g[t] * s0[t]
                gf[o, k] += a0
                k += 1
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


def forward(x: Any, w: Any, b: Any, pads: tuple[int, int, int, int], y: Any) -> None:
    """y (N, oH, oW, O) = conv2d(x, w, b) for stride 1 and one group, directly.

    Args:
        x: input (N, C, H, W), any strides.
        w: weight (O, C, kh, kw); b: bias (O,) or None.
        pads: (ph, pw, dh, dw), the zero padding and the dilation.
        y: the output, C-contiguous channels-last, of x's dtype.

    The batch is split over xpnet's threads; each image is written by one thread.
    """
    wc = numpy.ascontiguousarray(w)
    bias = b if b is not None else numpy.zeros(1, dtype=x.dtype)
    pads = tuple(int(v) for v in pads)
    parallel_slices(x.shape[0], lambda lo, hi: _forward_rows(
        x, wc, bias, b is not None, pads, y, lo, hi, *kernel_signal()), signalled=True)


def weight_grad(x: Any, gy: Any, kh: int, kw: int, pads: tuple[int, int, int, int],
                need_b: bool) -> tuple[Any, Any]:
    """(dE/dw (O, C, kh, kw), dE/db (O,) or None) for stride 1 and one group, directly.

    Args:
        x: input (N, C, H, W), any strides; gy: dE/dy (N, O, oH, oW), any strides.
        kh, kw: kernel size.
        pads: (ph, pw, dh, dw), the zero padding and the dilation.
        need_b: also return dE/db.

    The batch is split over xpnet's threads; each slice's sums are added in slice order,
    so the result does not depend on thread timing.
    """
    C, outs = x.shape[1], gy.shape[1]
    pads = tuple(int(v) for v in pads)

    def work(lo: int, hi: int) -> tuple[Any, Any]:
        gw = numpy.zeros((outs, C, kh, kw), dtype=x.dtype)
        gb = numpy.zeros(outs, dtype=x.dtype)
        _wgrad_rows(x, gy, pads, gw, gb, need_b, lo, hi, *kernel_signal())
        return gw, gb

    parts = parallel_slices(x.shape[0], work, signalled=True)
    gw = ordered_sum([p[0] for p in parts])  # slice order: independent of thread timing
    gb = ordered_sum([p[1] for p in parts])
    return gw, (gb if need_b else None)


@numba.njit(cache=True, nogil=True)
def _fold(dcols: Any, steps: Any, gxpad: Any) -> None:
    """col2im: gxpad (n, Hp, Wp, C) = 0, then each column's gradient added at its tap.

    dcols (n, oH, oW, kh, kw, C) is dE/dX_col; tap (i, j) of output (p, q) reads input
    (sh p + dh i, sw q + dw j), so it adds there. With dilation 1 the kw C values of a
    kernel row are one contiguous run in both arrays and one vectorised loop (faster than
    a loop over the C channels of each tap). Each (n) is written by one thread only.
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
    Og terms deep) and their strided NumPy adds (docs/benchmarks.md, "Engine
    thresholds"). ``steps`` is (sh, sw, dh, dw).
    """
    _fold(dcols, steps, gxpad)
