"""A dense layer's products by the convolutions' register block (numba, lazy).

y^T = W x^T + b, with W (out, in) as it lies and x^T (in, M) contiguous: the register
block of :mod:`xpnet.cpu.conv.blocks_ir` keeps NR rows of y^T (NR outputs) by 2 VL
columns (examples) in vector registers and, for each of the ``in`` terms k, broadcasts
the NR weights W[o, k] and multiply-adds them with the examples' inputs x^T[k, :]:

    y^T[o0 + r, m0 + l] = b[o0 + r] + sum_k W[o0 + r, k] x^T[k, m0 + l].

x arrives as (M, in): its transposed copy is made in VL x VL tiles in vector registers
(:func:`transpose`, :mod:`xpnet.cpu.transpose_ir`), by each thread for its own examples
when the threads share out the examples (:func:`x_w_t`). W is read straight from the
parameter (no packed copy, unlike a BLAS GEMM, whose packing dominates at these sizes),
x^T stays in the cache, and every output's sum runs over k in order in one lane, from
the bias, so the result is the same for any cut over the threads and
any block width. The backward pair is the same block with other strides: dE/dx = dE/dy W
(:func:`a_b`, rows of dE/dy broadcast) and dE/dW = (dE/dy)^T x (:func:`at_b`, columns of
dE/dy broadcast), neither with a transposed copy. Against OpenBLAS on the same threads:
:data:`xpnet.cpu.dense.BLOCKS_MIN_ROWS` and ``BLOCKS_BACKWARD_MAX_WEIGHTS``
(docs/benchmarks.md, "Engine thresholds").

numba caches these loops keyed on this file alone, and they inline the blocks of
``blocks_ir.py`` and the tile of ``transpose_ir.py``: a change there must come with a
change here (the revisions below).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy

from xpnet.cpu.conv.blocks_ir import NR, VECTOR_BYTES, block
from xpnet.cpu.spin_kernels import join, signal
from xpnet.cpu.transpose_ir import tile

__all__ = ["NR", "VECTOR_BYTES", "a_b", "address", "at_b", "outer", "transpose", "w_xt",
           "x_w_t", "x_w_t_rows"]

#: blocks_ir's revision these loops were compiled with (see xpnet.cpu.conv.blocks).
BLOCKS_IR_REVISION = 4
#: transpose_ir's revision these loops were compiled with.
TRANSPOSE_IR_REVISION = 1


@numba.njit(cache=True)
def address(a: Any) -> int:
    """The address of array ``a``'s first byte (0.17 us; NumPy's ``a.ctypes.data``
    takes 1.8)."""
    return a.ctypes.data


@numba.njit(cache=True, nogil=True)
def w_xt(w: Any, xt: Any, b: Any, has_b: bool, yt: Any, o0: int, o1: int, p0: int,
         p1: int, flags: Any, index: int, seq: int) -> None:
    """yt[o0:o1, p0:p1] = W[o0:o1] x^T[:, p0:p1] (+ b[o0:o1] per row), by register blocks.

    w (out, in), xt (in, M) and yt (out, M) C-contiguous, b (out,) (unread without
    ``has_b``); o1 - o0 >= NR. For each NR outputs (the last block shifted back to end at
    o1, its first rows computed again to the same bits), W's rows broadcast against
    2 VL examples at a time, each sum started from the bias (a panel of NR x 2 VL
    copies, made once per NR outputs) and run over ``in`` in order.
    """
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    n_in = w.shape[1]
    m = xt.shape[1]
    vl = VECTOR_BYTES // w.itemsize
    pw = 2 * vl  # the widest block's examples
    wf, xf, yf = w.reshape(-1), xt.reshape(-1), yt.reshape(-1)
    po = numpy.empty(NR, dtype=numpy.int64)
    start = numpy.zeros(NR * pw, dtype=yt.dtype)  # row r: pw copies of b[rb + r]
    for r in range(o0, o1, NR):
        rb = min(r, o1 - NR)
        for i in range(NR):
            po[i] = (rb + i) * n_in  # where output rb + i's weights start in w
            if has_b:
                start[i * pw:(i + 1) * pw] = b[rb + i]
        p = p0
        while p < p1:
            p += block(min(p1 - p, pw), vl, wf, xf, yf, po, 1, n_in, 0, 0, 1, p, 0, m,
                       rb * m + p, m, start, 0, pw)
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


@numba.njit(cache=True, nogil=True)
def outer(a: Any, b: Any, out: Any, r0: int, r1: int, flags: Any, index: int,
          seq: int) -> None:
    """out[r0:r1] = a[r0:r1] b, the outer product of a (M, 1) and b (1, P) (a product
    with K = 1: dE/dW = (dE/dy)^T x of a batch of one): out[i, j] = a[i, 0] b[0, j], one
    multiply per element, so the bits of the GEMM and of NumPy's broadcast multiply, at
    a fifth of the latter's time (1024 x 1024, one thread: 63 against 357 us; the
    timeit commands in docs/benchmarks.md), whose loop over a broadcast operand is not
    vectorised. Any strides; out (M, P).
    First :func:`~xpnet.cpu.spin_kernels.signal` (flags, index, seq): the GIL is free."""
    signal(flags, index, seq)
    row_b = b[0]
    for i in range(r0, r1):
        ai = a[i, 0]
        row = out[i]
        for j in range(row_b.shape[0]):
            row[j] = ai * row_b[j]
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


@numba.njit(cache=True, nogil=True)
def transpose(a: Any, at: Any, r0: int, r1: int, c0: int, c1: int) -> None:
    """at[c0:c1, r0:r1] = a[r0:r1, c0:c1]^T: a (R, C) and at (C, R) C-contiguous. Tiles
    of VL x VL in vector registers (:func:`xpnet.cpu.transpose_ir.tile`), the edges
    value by value."""
    n_r, n_c = a.shape
    vl = VECTOR_BYTES // a.itemsize
    af, tf = a.reshape(-1), at.reshape(-1)
    c_end = c0 + (c1 - c0) - (c1 - c0) % vl  # columns in whole tiles
    r = r0
    while r + vl <= r1:
        for c in range(c0, c_end, vl):
            tile(af, r * n_c + c, n_c, tf, c * n_r + r, n_r)
        for c in range(c_end, c1):
            for i in range(r, r + vl):
                at[c, i] = a[i, c]
        r += vl
    for i in range(r, r1):
        for c in range(c0, c1):
            at[c, i] = a[i, c]


@numba.njit(cache=True, nogil=True)
def x_w_t(x: Any, w: Any, b: Any, has_b: bool, xt: Any, yt: Any, p0: int, p1: int,
          flags: Any, index: int, seq: int) -> None:
    """yt[:, p0:p1] = W x[p0:p1]^T (+ b per row): examples p0 .. p1 of x (M, in)
    transposed into xt[:, p0:p1] (in, M), then :func:`w_xt` over every output. One
    thread's part of a split by examples: it reads and writes only its own columns.
    First :func:`~xpnet.cpu.spin_kernels.signal` (flags, index, seq): the GIL is free."""
    signal(flags, index, seq)
    transpose(x, xt, p0, p1, 0, x.shape[1])
    w_xt(w, xt, b, has_b, yt, 0, w.shape[0], p0, p1, flags, index, seq)


@numba.njit(cache=True, nogil=True)
def x_w_t_rows(x: Any, w: Any, b: Any, has_b: bool, xt: Any, copy_x: bool, y: Any, p0: int,
               p1: int, flags: Any, index: int, seq: int) -> None:
    """y[p0:p1] = x[p0:p1] W^T (+ b), in rows: :func:`x_w_t`'s blocks, with each chunk
    of outputs transposed from a small scratch into y's rows while it is in the cache.

    One thread's part of a split by examples for a training step, whose next layers
    want y (M, out) C-contiguous as BLAS returns it: no (out, M) y^T array is made and
    copied afterwards. Outputs go in chunks of CH = the fewest whole blocks of NR that
    hold VL outputs (the last chunk shifted back to end at ``out``, its first outputs
    computed again to the same bits); each chunk's NR x 2 VL blocks fill a (CH, p1 - p0)
    scratch, which VL x VL register tiles (:func:`xpnet.cpu.transpose_ir.tile`) copy to
    y[p0:p1, chunk], the edges value by value. The sums are :func:`w_xt`'s: each over
    ``in`` in order, from the bias, whatever the cut.

    x (M, in) and y (M, out) C-contiguous, w (out, in), xt (in, M) (x^T: examples p0 ..
    p1 transposed into it first when ``copy_x``, else read as it lies), b (out,);
    out >= CH. First :func:`~xpnet.cpu.spin_kernels.signal` (flags, index, seq).
    """
    signal(flags, index, seq)
    if copy_x:
        transpose(x, xt, p0, p1, 0, x.shape[1])
    out, n_in = w.shape
    m = xt.shape[1]
    vl = VECTOR_BYTES // w.itemsize
    pw = 2 * vl
    ch = NR * (-(-vl // NR))  # outputs per chunk: whole blocks, at least one tile
    n = p1 - p0
    scratch = numpy.empty(ch * n, dtype=y.dtype)  # (CH, n): the chunk's y^T
    wf, xf, yf = w.reshape(-1), xt.reshape(-1), y.reshape(-1)
    po = numpy.empty(NR, dtype=numpy.int64)
    start = numpy.zeros(NR * pw, dtype=y.dtype)  # row r: pw copies of b[rb + r]
    n_tiles = n - n % vl  # examples in whole tiles
    ch_tiles = ch - ch % vl  # outputs in whole tiles
    c = 0
    while c < out:
        c0 = min(c, out - ch)
        for j in range(ch // NR):
            rb = c0 + j * NR
            for i in range(NR):
                po[i] = (rb + i) * n_in
                if has_b:
                    start[i * pw:(i + 1) * pw] = b[rb + i]
            p = p0
            while p < p1:
                p += block(min(p1 - p, pw), vl, wf, xf, scratch, po, 1, n_in, 0, 0, 1, p, 0,
                           m, j * NR * n + p - p0, n, start, 0, pw)
        for e in range(0, n_tiles, vl):  # scratch (CH, n) -> y[p0:p1, c0:c0 + CH]
            for o in range(0, ch_tiles, vl):
                tile(scratch, o * n + e, n, yf, (p0 + e) * out + c0 + o, out)
            for o in range(ch_tiles, ch):
                for i in range(e, e + vl):
                    y[p0 + i, c0 + o] = scratch[o * n + i]
        for i in range(n_tiles, n):
            for o in range(ch):
                y[p0 + i, c0 + o] = scratch[o * n + i]
        c = c0 + ch
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


@numba.njit(cache=True, nogil=True)
def _rows(af: Any, bf: Any, c: Any, po: Any, rb: int, taps: int, aks: int, vl: int,
          zeros: Any) -> None:
    """Rows rb .. rb + NR of c (R, P) = the block's sums over ``taps`` terms,
    c[rb + r, p] = sum_t af[po[r] + t aks] bf[t P + p], b a (T, P) matrix: one block per
    2 VL columns (then the rest: blocks_ir.block), its sums started from ``zeros`` (P,)."""
    p = c.shape[1]
    cf = c.reshape(-1)
    p0 = 0
    while p0 < p:
        p0 += block(p - p0, vl, af, bf, cf, po, 1, taps, 0, 0, aks, p0, 0, p,
                    rb * p + p0, p, zeros, p0, 0)


@numba.njit(cache=True, nogil=True)
def _products(a: Any, b: Any, c: Any, r0: int, r1: int, row_step: int, tap_step: int,
              taps: int) -> None:
    """c[r0:r1] = the sums over t < ``taps`` of a[r row_step + t tap_step] b[t, :], by
    blocks of NR rows (the last one shifted back to end at r1, its first rows computed
    again to the same bits); a, b (T, P), c (R, P) C-contiguous, r1 - r0 >= NR."""
    vl = VECTOR_BYTES // a.itemsize
    af, bf = a.reshape(-1), b.reshape(-1)
    po = numpy.empty(NR, dtype=numpy.int64)
    zeros = numpy.zeros(c.shape[1], dtype=c.dtype)
    for r in range(r0, r1, NR):
        rb = min(r, r1 - NR)
        for i in range(NR):
            po[i] = (rb + i) * row_step  # where row rb + i's terms start in a
        _rows(af, bf, c, po, rb, taps, tap_step, vl, zeros)


@numba.njit(cache=True, nogil=True)
def a_b(a: Any, b: Any, c: Any, r0: int, r1: int, flags: Any, index: int, seq: int) -> None:
    """c[r0:r1] = a[r0:r1] b, by register blocks: a (R, T), b (T, P), c (R, P)
    C-contiguous; r1 - r0 >= NR.

    dE/dx = dE/dy W of a dense layer (R = M examples, T = out, P = in), with no
    transposed copy: NR rows of a broadcast against 2 VL columns of b, summed over t in
    order.
    """
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    _products(a, b, c, r0, r1, a.shape[1], 1, a.shape[1])
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


@numba.njit(cache=True, nogil=True)
def at_b(a: Any, b: Any, c: Any, r0: int, r1: int, flags: Any, index: int, seq: int) -> None:
    """c[r0:r1] = (a^T b)[r0:r1], by register blocks: a (T, R), b (T, P), c (R, P)
    C-contiguous; r1 - r0 >= NR.

    dE/dW = (dE/dy)^T x of a dense layer (T = M examples, R = out, P = in), with no
    transposed copy: NR columns of a (NR outputs of each example) broadcast against 2 VL
    columns of b, summed over the examples t in order.
    """
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    _products(a, b, c, r0, r1, 1, a.shape[1], a.shape[0])
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)
