"""Compiled CPU loops of ReLU (numba, imported lazily; optional).

Why: NumPy's ``maximum(x, 0)`` and ``gy * (y > 0)`` (a boolean temporary, then a mixed
float-bool multiply) run at a fraction of memory speed; one pass that reads and writes
each value once is 2-3x faster on the CIFAR net's activations (docs/benchmarks.md,
"Engine thresholds"). The loops give exactly NumPy's results, NaN and signed zeros
included (tested):

- forward: y = x where x > 0 or x is NaN, else +0 (``numpy.maximum(x, 0)`` returns its
  second operand, +0, for x = -0 and propagates a NaN);
- backward: dE/dx = dE/dy * (1 if y > 0 else 0), a multiply, so that an infinite or
  NaN dE/dy gives NaN where the unit is off, as NumPy's product does.

forward, forward_inplace and backward take flat (1-D) C-contiguous arrays and work on
[lo, hi), so that the caller can split them over xpnet's threads; backward_transposed
(dE/dy in rows, y the transposed view of a dense layer's y^T) takes 2-d arrays and
works on rows [r0, r1). bias_relu and bias_relu_transposed add a dense layer's bias to
its product and clip it in the same pass (an MLP's inference plan on BLAS's threads:
:func:`xpnet.cpu.dense.forward_whole`).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy

from xpnet.cpu.conv.blocks_ir import VECTOR_BYTES
from xpnet.cpu.spin_kernels import join, signal
from xpnet.cpu.transpose_ir import tile

#: transpose_ir's revision these loops were compiled with (numba caches them keyed on
#: this file alone; see xpnet.cpu.dense_blocks).
TRANSPOSE_IR_REVISION = 1


@numba.njit(cache=True, nogil=True)
def forward(x: Any, y: Any, lo: int, hi: int, flags: Any, index: int, seq: int) -> None:
    """y[i] = max(x[i], 0) with NumPy's NaN and zero rules, for lo <= i < hi."""
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    zero = x.dtype.type(0)
    xs, ys = x[lo:hi], y[lo:hi]  # indices from 0: no negative-index wrap, so it vectorises
    for i in range(xs.size):
        v = xs[i]
        ys[i] = zero if v <= 0 else v  # a NaN compares false: kept
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


@numba.njit(cache=True, nogil=True)
def forward_inplace(x: Any, lo: int, hi: int, flags: Any, index: int, seq: int) -> None:
    """x[i] = max(x[i], 0) in place, with :func:`forward`'s rules, for lo <= i < hi.

    One array, not :func:`forward` with y = x: given two, LLVM checks at run time that
    they do not overlap before it takes the vector loop, and with y = x they do, so
    :func:`forward` in place runs one value at a time (32,768 float32: 13.8 against
    1.5 us; docs/benchmarks.md, "Engine thresholds").
    """
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    zero = x.dtype.type(0)
    xs = x[lo:hi]
    for i in range(xs.size):
        v = xs[i]
        xs[i] = zero if v <= 0 else v
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


@numba.njit(cache=True, nogil=True)
def backward(gy: Any, y: Any, gx: Any, lo: int, hi: int, flags: Any, index: int,
             seq: int) -> None:
    """gx[i] = gy[i] * (y[i] > 0), for lo <= i < hi."""
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    one, zero = y.dtype.type(1), y.dtype.type(0)
    gs, ys, xs = gy[lo:hi], y[lo:hi], gx[lo:hi]
    for i in range(gs.size):
        xs[i] = gs[i] * (one if ys[i] > 0 else zero)
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


@numba.njit(cache=True, nogil=True)
def backward_transposed(gy: Any, yt: Any, gx: Any, r0: int, r1: int, flags: Any, index: int,
                        seq: int) -> None:
    """gx[i, j] = gy[i, j] * (yt[j, i] > 0) for rows r0 <= i < r1: :func:`backward`
    where y arrives as the transposed view of yt's memory (the output of a dense layer's
    register blocks, y = (y^T)^T) and dE/dy in rows; gy and gx (M, N) and yt (N, M)
    C-contiguous. Each VL x VL tile of y is transposed in vector registers into a small
    buffer (:func:`xpnet.cpu.transpose_ir.tile`), then the row-wise pass runs on it as
    :func:`backward` does; the edges value by value. Scalar loops that read yt by
    columns cost about 2 ns a value (256 x 500 float32: 164 us, against 23 us for
    :func:`backward` on one layout)."""
    signal(flags, index, seq)  # the GIL is free (a signalled split)
    one, zero = yt.dtype.type(1), yt.dtype.type(0)
    m, n = yt.shape[1], gy.shape[1]
    vl = VECTOR_BYTES // yt.itemsize
    gf, tf, xf = gy.reshape(-1), yt.reshape(-1), gx.reshape(-1)
    buf = numpy.empty(vl * vl, dtype=yt.dtype)  # row r: y[i0 + r, j0:j0 + vl]
    n_tiles = n - n % vl  # columns in whole tiles
    i0 = r0
    while i0 + vl <= r1:
        for j0 in range(0, n_tiles, vl):
            tile(tf, j0 * m + i0, m, buf, 0, vl)
            for r in range(vl):
                base = (i0 + r) * n + j0
                gs, xs, bs = gf[base:base + vl], xf[base:base + vl], buf[r * vl:(r + 1) * vl]
                for c in range(vl):
                    xs[c] = gs[c] * (one if bs[c] > 0 else zero)
        for i in range(i0, i0 + vl):
            for j in range(n_tiles, n):
                gx[i, j] = gy[i, j] * (one if yt[j, i] > 0 else zero)
        i0 += vl
    for i in range(i0, r1):
        for j in range(n):
            gx[i, j] = gy[i, j] * (one if yt[j, i] > 0 else zero)
    join(flags, index, seq)  # in the caller: wait for the workers (GIL released)


@numba.njit(cache=True, nogil=True)
def bias_relu(y: Any, b: Any, relu: bool) -> None:
    """A dense layer's bias, and its ReLU where ``relu``, added in place to its product
    x W^T: y[i, j] = y[i, j] + b[j], then max(y, 0) with :func:`forward`'s rules. Each
    value is rounded once to y's dtype after the add, as NumPy's ``y + b`` is: the bits
    of the add and then the ReLU. y (M, out) C-contiguous, b (out,) of y's dtype.

    Why: the add and the ReLU's pass after it are one pass, in the cache that the
    product left y in."""
    zero = y.dtype.type(0)
    for i in range(y.shape[0]):
        row = y[i]
        if relu:
            for j in range(row.size):
                v = row[j] + b[j]
                row[j] = zero if v <= 0 else v  # a NaN compares false: kept
        else:
            for j in range(row.size):
                row[j] += b[j]


@numba.njit(cache=True, nogil=True)
def bias_relu_transposed(yt: Any, b: Any, y: Any, relu: bool) -> None:
    """:func:`bias_relu` from W x^T's layout into x W^T's: y[i, j] = yt[j, i] + b[j],
    then max(y, 0) where ``relu``, the same bits. yt (out, M) and y (M, out)
    C-contiguous, b (out,) of their dtype.

    Why: NumPy's transposing add (``numpy.add(yt.T, b, out=y)``: 2.8 us at 32 x 100)
    and the ReLU's pass after it (1.5 us) are one pass here; y comes out in rows, so
    the next product reads it as the layers' own path does (the same BLAS call: the
    same bits)."""
    zero = y.dtype.type(0)
    for i in range(y.shape[0]):
        row = y[i]
        if relu:
            for j in range(row.size):
                v = yt[j, i] + b[j]
                row[j] = zero if v <= 0 else v
        else:
            for j in range(row.size):
                row[j] = yt[j, i] + b[j]
