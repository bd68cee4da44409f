"""Register-blocked convolution loops (numba, imported lazily; optional).

Why: through im2col a convolution is a GEMM whose weight matrix has few columns (the
CIFAR net's conv2: 32 outputs, 800 taps), and the column matrix must be copied first.
Summed straight from the padded image by the register block of
:mod:`xpnet.cpu.conv.blocks_ir`, with no copy, that layer runs at 1.6x the speed of
im2col + OpenBLAS on one core (docs/benchmarks.md, "Engine thresholds").

The forward pass: the NR pixels of a block are consecutive outputs of the flattened
(oH, oW) plane, so a block may run on from the end of one output row to the next
(LeNet's conv2, 10 x 10 outputs: 13 blocks of 8, where blocks within rows would need 20).
The same block with other strides is the weight gradient: rows r are NR taps of the
window (any NR, through their offsets off[r] in the image), the sum runs over the output
positions, and the "weights" are dE/dy:

    dE/dw[r, :] += x[pos + off[r]] * dE/dy[pos, (0 .. CB)],

and dE/db is one more such row whose input is 1 (:func:`weight_grad`). And dE/dx, by
scattering (:func:`input_grad`): rows r are NR pixels of dE/dy, the sum runs over their
Og channels and the "weights" are one tap's (Og, Cg) matrix,

    dE/dX_col[pos, tap, :] = sum_o dE/dy[pos, o] * w[o, :, tap],

each then added to the pixel of dE/dx that the tap reads from (a fold): no product
reads padding, where the full convolution of dE/dy (:func:`forward` on it, padded by
kh - 1) sums whole window columns of zeros.

The sums are reassociated, so the rounding differs from the GEMM path's but is the same
from run to run. Any Og is covered: blocks of 2 VL channels, then VL or VL / 2, and a
last block with a masked vector for any other rest (:func:`blocks_ir.block`). Which
convolutions take the blocks: :mod:`xpnet.cpu.conv.select`.

numba caches these loops keyed on this file alone, and they inline the blocks of
``blocks_ir.py``: a change there must come with a change here (the revision below), or
a stale cache would run the old blocks.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy

from xpnet.cpu.conv.blocks_ir import NR, VECTOR_BYTES, block, lanes
from xpnet.cpu.conv.columns import weight_matrix
from xpnet.cpu.conv.geometry import Geometry
from xpnet.cpu.spin_kernels import join, signal
from xpnet.cpu.threads import kernel_signal, ordered_sum, parallel_slices

__all__ = ["NR", "VECTOR_BYTES", "forward", "input_grad", "lanes", "run_forward",
           "run_input_grad", "run_param_grads", "tap_rows", "weight_grad"]

#: blocks_ir's revision these loops were compiled with (4: sums started from s).
BLOCKS_IR_REVISION = 4


def tap_rows(kh: int, kw: int, cg: int, bias: bool) -> tuple[int, int]:
    """(taps, rows) of the weight gradient's blocks, per group: the kh kw Cg taps, and
    the rows of gw that hold them (in (i, j, c) order) and, with ``bias``, dE/db in row
    ``taps``, rounded up to a whole block of NR (see :func:`weight_grad`)."""
    taps = kh * kw * cg
    return taps, -(-(taps + bias) // NR) * NR


@numba.njit(cache=True, nogil=True)
def _fill(x: Any, n: int, ph: int, pw: int, buf: Any) -> None:
    """Copy image n of x (N, H, W, C), any strides, into the interior of buf (Hp Wp C +
    tail), channels-last on row pitch Wp = W + 2 pw; its border stays zero."""
    h, w, channels = x.shape[1], x.shape[2], x.shape[3]
    wp = w + 2 * pw
    for p in range(h):
        for q in range(w):
            base = ((p + ph) * wp + q + pw) * channels
            for c in range(channels):
                buf[base + c] = x[n, p, q, c]


@numba.njit(cache=True, nogil=True)
def forward(x: Any, w: Any, b: Any, has_b: bool, geo: Any, y: Any, flags: Any, index: int,
            seq: int) -> None:
    """y = conv(x, w) + b, channels-last, by register blocks (first
    :func:`~xpnet.cpu.spin_kernels.signal` (flags, index, seq): the GIL is free).

    x (N, H, W, C) any strides; w (g, kh, kw, Cg, Og) C-contiguous; b (O,); ``geo`` is
    (sh, sw, ph, pw, dh, dw); y (N, oH, oW, O) C-contiguous, O = g Og. Requires
    :func:`applies`. Each block of NR consecutive outputs of the flattened (oH, oW) plane
    (the last block shifted back to end at oH oW, recomputing a few outputs with the same
    result) starts from the bias and adds the taps of the window rows that reach the
    image for one of its output rows (a row of padding alone adds only zeros: with a
    full convolution's kh - 1 rows of padding, the dE/dx of a 5 x 5 layer on a 10 x 10
    output, that skips 20 of the 70 window rows of its 14 output rows): with dw = 1 and
    one group a window row's (j, c) taps are one contiguous run of kw C inputs (one call
    of the block per window), else one call per window row over the Cg channels of each
    (j).
    """
    signal(flags, index, seq)
    n_img, h, wd, channels = x.shape
    g, kh, kw, cg, og = w.shape
    oh, ow, co = y.shape[1], y.shape[2], y.shape[3]
    sh, sw, ph, pw, dh, dw = geo
    wp = wd + 2 * pw
    buf = numpy.zeros((h + 2 * ph) * wp * channels, dtype=x.dtype)
    wf = w.reshape(-1)
    yf = y.reshape(-1)
    vl = VECTOR_BYTES // x.itemsize
    merged = dw == 1 and g == 1
    row_pitch = dh * wp * channels  # one window row down, in buf
    plane = oh * ow
    n_blocks = -(-plane // NR)
    pos = numpy.empty((n_blocks, NR), dtype=numpy.int64)  # where each window starts in buf
    rows = numpy.empty((n_blocks, 2), dtype=numpy.int64)  # window rows that reach the image
    for t in range(n_blocks):
        t0 = min(t * NR, plane - NR)
        for r in range(NR):
            p, q = divmod(t0 + r, ow)
            pos[t, r] = (p * sh * wp + q * sw) * channels
        lo, hi = kh, 0  # the union over the block's output rows of their image rows
        for p in range(t0 // ow, (t0 + NR - 1) // ow + 1):
            top = p * sh  # the window's first row, in buf
            lo = min(lo, max(0, -((top - ph) // dh)))  # first i: top + i dh >= ph
            hi = max(hi, min(kh, -((top - ph - h) // dh)))  # first i: top + i dh >= ph + h
        if hi <= lo:  # only padding: one row of zeros, so that the bias is stored
            lo = min(lo, kh - 1)
            hi = lo + 1
        rows[t, 0], rows[t, 1] = lo, hi
    start = numpy.zeros(co, dtype=x.dtype)  # every output row before the sums
    if has_b:
        start[:] = b
    run = kw * channels  # a window row's taps, merged
    for n in range(n_img):
        _fill(x, n, ph, pw, buf)
        for t in range(n_blocks):
            yb = (n * plane + min(t * NR, plane - NR)) * co
            po = pos[t]
            lo, hi = rows[t, 0], rows[t, 1]
            for k in range(g):
                cb = 0
                while cb < og:  # blocks of 2 VL channels, then the rest (block)
                    c_off = yb + k * og + cb
                    if merged:  # the window's rows lo .. hi: runs of kw C taps, from the bias
                        width = block(og - cb, vl, buf, wf, yf, po, hi - lo, run,
                                      lo * row_pitch, row_pitch, 1, lo * run * og + cb,
                                      run * og, og, c_off, co, start, k * og + cb, 0)
                    else:  # kw runs of Cg taps per window row, the first from the bias
                        for i in range(lo, hi):
                            first = i == lo
                            width = block(og - cb, vl, buf, wf, yf, po, kw, cg,
                                          i * row_pitch + k * cg, dw * channels, 1,
                                          ((k * kh + i) * kw * cg) * og + cb, cg * og, og,
                                          c_off, co, start if first else yf,
                                          k * og + cb if first else c_off,
                                          0 if first else co)
                    cb += width
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


@numba.njit(cache=True, nogil=True)
def weight_grad(x: Any, gy: Any, geo: Any, kh: int, kw: int, g: int, bias: bool,
                gw: Any, flags: Any, index: int, seq: int) -> None:
    """gw += dE/dw (and dE/db) of the images of x, by register blocks over taps (first
    :func:`~xpnet.cpu.spin_kernels.signal` (flags, index, seq): the GIL is free).

    x (N, H, W, C) any strides; gy (N, oH, oW, O) C-contiguous; ``geo`` as
    :func:`forward`'s. gw (g, R, Og) zeros or a running sum: per group its rows are the
    kh kw Cg taps in (i, j, c) order, with ``bias`` then a row of dE/db, then junk up to
    R, a multiple of NR (:func:`tap_rows`; the caller drops the junk). A block's NR rows
    are any NR taps, gathered through their offsets in the padded image, so short window
    rows (a grey 5 x 5 layer: 5 taps a row) waste no rows but the last block's. dE/db is
    the sum of 1 x dE/dy: its row reads a region of ones laid after the image. For every
    image, group and block of NR rows, the block sums x[pos + tap] dE/dy[pos] over the
    output positions (oH rows of oW positions) at which one of its taps reads the image
    (a padded layer's border positions add zeros: a 5 x 5 window with 2 of padding on an
    8 x 8 map skips 28% of them).
    """
    signal(flags, index, seq)
    n_img, h, wd, channels = x.shape
    oh, ow, co = gy.shape[1], gy.shape[2], gy.shape[3]
    og = co // g
    cg = channels // g
    sh, sw, ph, pw, dh, dw = geo
    wp = wd + 2 * pw
    rows = gw.shape[1]
    size = (h + 2 * ph) * wp * channels  # the padded image; the ones follow it
    buf = numpy.zeros(2 * size if bias else size, dtype=x.dtype)
    buf[size:] = 1.0
    taps = kh * kw * cg
    pos = numpy.zeros((g, rows // NR, NR), dtype=numpy.int64)  # each row's tap offset
    # per block, the output rows p_lo .. p_hi and columns q_lo .. q_hi at which one of
    # its taps reads the image (elsewhere they all read padding: nothing to add)
    span = numpy.empty((rows // NR, 4), dtype=numpy.int64)
    span[:, 0], span[:, 1], span[:, 2], span[:, 3] = oh, 0, ow, 0
    for t in range(taps):
        i, rest = divmod(t, kw * cg)
        j, c = divmod(rest, cg)
        for k in range(g):
            pos[k, t // NR, t % NR] = (i * dh * wp + j * dw) * channels + k * cg + c
        s = span[t // NR]
        s[0] = min(s[0], max(0, -((i * dh - ph) // sh)))  # first p: p sh + i dh >= ph
        s[1] = max(s[1], min(oh, -((i * dh - ph - h) // sh)))  # first p past the image
        s[2] = min(s[2], max(0, -((j * dw - pw) // sw)))
        s[3] = max(s[3], min(ow, -((j * dw - pw - wd) // sw)))
    if bias:  # dE/db's row reads the ones at every output position
        pos[:, taps // NR, taps % NR] = size  # junk rows read offset 0
        span[taps // NR, 0], span[taps // NR, 1] = 0, oh
        span[taps // NR, 2], span[taps // NR, 3] = 0, ow
    for t in range(rows // NR):
        if span[t, 0] >= span[t, 1] or span[t, 2] >= span[t, 3]:  # padding alone
            span[t, 0], span[t, 1], span[t, 2], span[t, 3] = 0, 0, 0, 0
    gyf = gy.reshape(-1)
    gwf = gw.reshape(-1)
    vl = VECTOR_BYTES // x.itemsize
    ams, aks = sh * wp * channels, sw * channels  # one output row, one output column
    for n in range(n_img):
        _fill(x, n, ph, pw, buf)
        gy0 = n * oh * ow * co
        for k in range(g):
            for t in range(rows // NR):
                p_lo, p_hi, q_lo, q_hi = span[t, 0], span[t, 1], span[t, 2], span[t, 3]
                a0 = p_lo * ams + q_lo * aks
                b0 = gy0 + (p_lo * ow + q_lo) * co
                row0 = (k * rows + t * NR) * og
                cb = 0
                while cb < og:  # blocks of 2 VL channels, then the rest (block)
                    cb += block(og - cb, vl, buf, gyf, gwf, pos[k, t], p_hi - p_lo,
                                q_hi - q_lo, a0, ams, aks, b0 + k * og + cb, ow * co, co,
                                row0 + cb, og, gwf, row0 + cb, og)
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


#: input_grad's columns of dE/dx are computed and folded this many bytes at a time
#: (whole blocks of NR pixels): they stay in the L2 cache between the two.
SCATTER_BYTES = 1 << 18


@numba.njit(cache=True, nogil=True)
def input_grad(gy: Any, wt: Any, geo: Any, gx: Any, flags: Any, index: int,
               seq: int) -> None:
    """gx = dE/dx of y = conv(x, w) from gy = dE/dy, by register blocks over dE/dy's
    pixels and a fold (first :func:`~xpnet.cpu.spin_kernels.signal` (flags, index, seq):
    the GIL is free).

    gy (N, oH, oW, O) any strides; wt (g, kh, kw, Og, Cg) C-contiguous (w's taps, each an
    (Og, Cg) matrix); ``geo`` as :func:`forward`'s; gx (N, H, W, C) C-contiguous, C = g Cg.
    Each output pixel (p, q) sends

        dE/dX_col[p, q, i, j, :] = sum_o dE/dy[p, q, o] w[o, :, i, j]   (per group)

    to dE/dx[p sh + i dh - ph, q sw + j dw - pw, :]. The sums are the forward pass's
    block with Og taps (NR pixels of dE/dy against one tap's (Og, Cg) matrix), written to
    a buffer of columns :data:`SCATTER_BYTES` at a time and then added into a padded
    image of dE/dx, tap after tap in (i, j) order and each tap's pixels in order (the
    same order whatever the threads: the same bits). Unlike the full convolution
    (:func:`forward` on dE/dy padded by kh - 1 rows and columns of zeros), no product
    reads padding: every multiply-add is one of the forward pass's, for the price of the
    fold (one add per column value, C for Og kh kw multiply-adds).
    """
    signal(flags, index, seq)
    n_img, oh, ow, co = gy.shape
    g, kh, kw, og, cg = wt.shape
    h, wd, channels = gx.shape[1], gx.shape[2], gx.shape[3]
    sh, sw, ph, pw, dh, dw = geo
    hp, wp = h + 2 * ph, wd + 2 * pw
    plane = oh * ow
    n_blocks = -(-plane // NR)
    # columns tap-major, (kh kw, pixels, C): a tap's columns for a row of dE/dy are one
    # run, added to one run of dE/dx (stride 1)
    chunk = max(1, SCATTER_BYTES // (NR * kh * kw * channels * gy.itemsize))  # blocks
    span = (chunk + 1) * NR * channels  # one tap's columns
    cols = numpy.empty(kh * kw * span, dtype=gy.dtype)
    gbuf = numpy.empty(plane * co, dtype=gy.dtype)  # image n of dE/dy, (oH, oW, O)
    pad = numpy.empty(hp * wp * channels, dtype=gy.dtype)  # image n of dE/dx, padded
    zero = numpy.zeros(channels, dtype=gy.dtype)
    wf = wt.reshape(-1)
    vl = VECTOR_BYTES // gy.itemsize
    pos = numpy.empty((n_blocks, NR), dtype=numpy.int64)  # each block's pixels in gbuf
    for t in range(n_blocks):
        t0 = min(t * NR, plane - NR)  # the last block shifted back: same values again
        for r in range(NR):
            pos[t, r] = (t0 + r) * co
    for n in range(n_img):
        for p in range(oh):
            for q in range(ow):
                to = gbuf[(p * ow + q) * co:(p * ow + q + 1) * co]
                for o in range(co):
                    to[o] = gy[n, p, q, o]
        pad[:] = 0
        for c0 in range(0, n_blocks, chunk):
            c1 = min(c0 + chunk, n_blocks)
            first = min(c0 * NR, plane - NR)  # the pixel at each tap's cols[0]
            for k in range(g):
                for i in range(kh):
                    for j in range(kw):
                        w_off = ((k * kh + i) * kw + j) * og * cg
                        col = (i * kw + j) * span + k * cg
                        for t in range(c0, c1):
                            c_off = (min(t * NR, plane - NR) - first) * channels + col
                            cb = 0
                            while cb < cg:  # blocks of 2 VL channels, then the rest
                                cb += block(cg - cb, vl, gbuf, wf, cols, pos[t], 1, og,
                                            k * og, 0, 1, w_off + cb, 0, cg, c_off + cb,
                                            channels, zero, k * cg + cb, 0)
            lo, hi = c0 * NR, min(c1 * NR, plane)  # each pixel once, in order
            for i in range(kh):
                for j in range(kw):
                    tap = (i * kw + j) * span
                    pix = lo
                    while pix < hi:  # runs of one dE/dy row
                        p, q = divmod(pix, ow)
                        run = min(ow - q, hi - pix)
                        dst = ((p * sh + i * dh) * wp + q * sw + j * dw) * channels
                        src = tap + (pix - first) * channels
                        if sw == 1:  # one run of dE/dx; slices from 0 vectorise
                            to = pad[dst:dst + run * channels]
                            fro = cols[src:src + run * channels]
                            for c in range(run * channels):
                                to[c] += fro[c]
                        else:
                            for u in range(run):
                                to = pad[dst + u * sw * channels:
                                         dst + (u * sw + 1) * channels]
                                fro = cols[src + u * channels:src + (u + 1) * channels]
                                for c in range(channels):
                                    to[c] += fro[c]
                        pix += run
        for p in range(h):
            for q in range(wd):
                base = ((p + ph) * wp + q + pw) * channels
                fro = pad[base:base + channels]
                for c in range(channels):
                    gx[n, p, q, c] = fro[c]
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


def run_input_grad(w: Any, gy: Any, geo: Geometry) -> Any:
    """dE/dx (N, C, H, W), a view of channels-last memory, by :func:`input_grad`, batch
    slices in parallel. w (O, Cg, kh, kw), gy (N, O, oH, oW) any strides: float NumPy
    arrays."""
    co, cg = w.shape[0], w.shape[1]
    g = geo.groups
    og = co // g
    # (g, kh, kw, Og, Cg): tap (i, j) of group k is one C-contiguous (Og, Cg) matrix
    wt = numpy.ascontiguousarray(
        w.reshape(g, og, cg, geo.kh, geo.kw).transpose(0, 3, 4, 1, 2))
    gyh = gy.transpose(0, 2, 3, 1)  # (N, oH, oW, O) view
    N = gy.shape[0]
    gx = numpy.empty((N, geo.H, geo.W, g * cg), dtype=gy.dtype)  # (N, H, W, C)

    def work(lo: int, hi: int) -> None:
        input_grad(gyh[lo:hi], wt, geo.steps, gx[lo:hi], *kernel_signal())

    parallel_slices(N, work, signalled=True)
    return gx.transpose(0, 3, 1, 2)  # (N, C, H, W) view, channels-last memory


def run_forward(x: Any, w: Any, b: Any, geo: Geometry) -> Any:
    """y (N, oH, oW, O) = conv(x, w) + b by :func:`forward`, batch slices in parallel.

    x (N, C, H, W) any strides, w (O, Cg, kh, kw), b (O,) or None: float NumPy arrays.
    """
    N, co, cg = x.shape[0], w.shape[0], w.shape[1]
    g = geo.groups
    w5 = weight_matrix(w, g, numpy).reshape(g, geo.kh, geo.kw, cg, co // g)  # (g, kh, kw, Cg, Og)
    bias = b if b is not None else numpy.empty(0, dtype=x.dtype)  # (O,) or unused
    xh = x.transpose(0, 2, 3, 1)  # (N, H, W, C) view
    y = numpy.empty((N, geo.oh, geo.ow, co), dtype=x.dtype)  # (N, oH, oW, O)

    def work(lo: int, hi: int) -> None:
        forward(xh[lo:hi], w5, bias, b is not None, geo.steps, y[lo:hi], *kernel_signal())

    parallel_slices(N, work, signalled=True)
    return y


def run_param_grads(x: Any, gy: Any, geo: Geometry, need_b: bool) -> tuple[Any, Any]:
    """dE/dw (O, Cg, kh, kw) and dE/db (O,) or None by :func:`weight_grad`: per batch
    slice a partial sum, added in slice order. x (N, C, H, W), gy (N, O, oH, oW)."""
    C, co = x.shape[1], gy.shape[1]
    g, kh, kw = geo.groups, geo.kh, geo.kw
    cg, og = C // g, co // g
    taps, rows = tap_rows(kh, kw, cg, need_b)
    xh = x.transpose(0, 2, 3, 1)  # (N, H, W, C) view
    gyh = gy.transpose(0, 2, 3, 1)  # (N, oH, oW, O) view

    def work(lo: int, hi: int) -> Any:
        g2 = numpy.ascontiguousarray(gyh[lo:hi])  # (n, oH, oW, O)
        gw = numpy.zeros((g, rows, og), dtype=gy.dtype)  # (g, rows, Og)
        weight_grad(xh[lo:hi], g2, geo.steps, kh, kw, g, need_b, gw, *kernel_signal())
        return gw

    # signalled where each slice's dE/dy is contiguous already (channels-last memory):
    # a copy before the kernel would keep the caller spinning
    parts = parallel_slices(x.shape[0], work, signalled=gyh.flags.c_contiguous)
    gw = ordered_sum(parts)  # (g, rows, Og)
    gb = gw[:, taps].reshape(co).copy() if need_b else None  # (O,): g Og in order
    gw = gw[:, :taps].reshape(g, kh, kw, cg, og)  # junk rows dropped
    gw = gw.transpose(0, 4, 3, 1, 2).reshape(co, cg, kh, kw)  # (O, Cg, kh, kw)
    return gw, gb
