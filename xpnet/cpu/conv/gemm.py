"""The convolution as im2col + GEMM, channels-last: the engine that takes every shape.

Y (M, O) = X_col (M, Kg) @ W_mat (Kg, O) + b per group, X_col = im2col(x) (notation:
:mod:`xpnet.cpu.conv.geometry`). Written on ``xp``, so it is also what CuPy arrays run
(whole, in the calling thread). Why its layout and blocks:

- the GEMM's output (M, O) *is* the NHWC result, returned to the caller as an
  NCHW-shaped view (PyTorch's ``channels_last``): no transpose copy, and the next
  convolution reads it back as NHWC for free;
- the column matrix carries a column of ones when there is a bias, so the forward GEMM
  adds the bias and the weight-gradient GEMM gives dE/db (no pass of their own);
- the batch is worked through in blocks of ~BLOCK_BYTES of columns, so the column
  matrix is still in the cache when its GEMM reads it; columns are recomputed in the
  backward pass rather than kept (they are kh kw times the size of the input);
- col2im (dE/dx where the full convolution does not apply) is kh kw small GEMMs,
  (M, Og) @ (Og, Cg) per kernel offset, each added into a strided window of the padded
  gradient whose rows are contiguous (3x faster than ``add.at`` on the full column
  matrix, and without its memory), or one GEMM and a compiled fold.

The batch is split over threads on the CPU (:mod:`xpnet.cpu.threads`): every slice
writes its own rows of the output; weight and bias gradients are summed over the slices
in slice order, so results do not depend on thread timing.
"""

from __future__ import annotations

from typing import Any

from xpnet.cpu.conv.columns import im2col, im2row, offset_weights, pad_cnhw, pad_nhwc, weight_matrix
from xpnet.cpu.conv.geometry import Geometry
from xpnet.cpu.threads import ordered_sum, parallel_slices

#: Target size of one block's column matrix: small enough to stay in the cache between
#: the im2col copy and the GEMM that reads it, large enough that the GEMM has the rows
#: to run at speed (docs/benchmarks.md, "Engine thresholds").
BLOCK_BYTES = 1 << 21

#: The weight gradient's blocks: smaller, because they are live on top of everything the
#: forward pass kept for backward, at the step's peak (peak step memory near PyTorch's
#: for no measurable time: docs/benchmarks.md, "Engine thresholds").
GRAD_BLOCK_BYTES = 1 << 20


def _blocks(lo: int, hi: int, per_item: int, budget: int | None = None) -> list[tuple[int, int]]:
    """Cut the batch slice [lo, hi) into blocks of ~``budget`` bytes (default BLOCK_BYTES),
    ``per_item`` bytes each."""
    step = max(1, (budget or BLOCK_BYTES) // max(per_item, 1))
    return [(a, min(a + step, hi)) for a in range(lo, hi, step)]


def forward(x: Any, w: Any, b: Any, geo: Geometry, xp: Any, rows: bool) -> Any:
    """y = im2col(x) @ W + b, NHWC; x (N, C, H, W) any strides -> y (N, oH, oW, O).

    The column matrix is built block by block, as im2row's transposed layout when
    ``rows`` (few channels), else as im2col's.
    """
    N, C = x.shape[:2]
    co = w.shape[0]
    g, og, L = geo.groups, co // geo.groups, geo.oh * geo.ow
    xh = x.transpose(0, 2, 3, 1)  # (N, H, W, C) view
    wmat = weight_matrix(w, g, xp)  # (g, Kg, Og)
    if b is not None:  # the bias is the weight of the columns' ones: added by the GEMM
        wmat = xp.concatenate([wmat, b.reshape(g, 1, og)], axis=1)  # (g, Kg + 1, Og)
    y = xp.empty((N, geo.oh, geo.ow, co), dtype=x.dtype)  # (N, oH, oW, O)
    y2 = y.reshape(N * L, co)  # (M, O) view

    def work(lo: int, hi: int) -> None:
        for a, z in _blocks(lo, hi, L * geo.kh * geo.kw * C * x.itemsize):
            _forward_block(a, z)

    def _forward_block(lo: int, hi: int) -> None:
        out = y2[lo * L : hi * L]  # (m, O) rows of this slice
        if rows:
            cols = im2row(pad_cnhw(x[lo:hi], geo, xp), geo, b is not None, xp)  # (g, Kg', m)
            cols = cols.transpose(2, 0, 1)  # (m, g, Kg') view
        else:
            cols = im2col(pad_nhwc(xh[lo:hi], geo, xp), geo, xp, b is not None)  # (m, g, Kg')
        if g == 1:
            xp.matmul(cols[:, 0], wmat[0], out=out)
        else:
            for k in range(g):
                out[:, k * og : (k + 1) * og] = cols[:, k] @ wmat[k]  # (m, Og)

    parallel_slices(N, work, xp)
    return y


def input_grad_by_col2im(w: Any, gy: Any, geo: Geometry, xp: Any, fold: Any = None) -> Any:
    """dE/dx by col2im: per kernel offset, (m, Og) @ (Og, Cg) added into its window; or,
    with ``fold`` (the compiled direct module, one group), one GEMM to the columns'
    gradient dE/dX_col folded by a compiled loop. Returns gx (N, C, H, W) as a view of
    channels-last memory."""
    N, co = gy.shape[0], gy.shape[1]
    g, L = geo.groups, geo.oh * geo.ow
    C = w.shape[1] * g
    gyh = gy.transpose(0, 2, 3, 1)  # (N, oH, oW, O) view
    Hp, Wp = geo.padded
    gxpad = xp.empty((N, Hp, Wp, C), dtype=gy.dtype)  # (N, Hp, Wp, C)
    if fold is not None:
        wt = weight_matrix(w, 1, xp)[0].T  # (O, K) view, K ordered (kh, kw, C)
        per_item = L * geo.kh * geo.kw * C * gy.itemsize
    else:
        wij = offset_weights(w, g, xp)  # (kh, kw, g, Og, Cg)
        per_item = Hp * Wp * C * gy.itemsize

    budget = GRAD_BLOCK_BYTES // 2 if fold is not None else None  # dE/dX_col is live

    def work(lo: int, hi: int) -> None:
        for a, z in _blocks(lo, hi, per_item, budget):
            g2 = xp.ascontiguousarray(gyh[a:z]).reshape((z - a) * L, co)  # (m, O)
            if fold is None:
                _col2im(g2, wij, gxpad[a:z], geo, xp)
                continue
            dcols = (g2 @ wt).reshape(z - a, geo.oh, geo.ow, geo.kh, geo.kw, C)  # dE/dX_col
            fold.col2im(dcols, (geo.sh, geo.sw, geo.dh, geo.dw), gxpad[a:z])

    parallel_slices(N, work, xp)
    inner = gxpad[:, geo.ph : geo.ph + geo.H, geo.pw : geo.pw + geo.W]  # (N, H, W, C)
    return inner.transpose(0, 3, 1, 2)  # (N, C, H, W) view, channels-last memory


def _col2im(g2: Any, wij: Any, gxpad: Any, geo: Geometry, xp: Any) -> None:
    """gxpad (n, Hp, Wp, C) = sum over offsets of (g2 @ w_ij) placed at window (i, j)."""
    n = gxpad.shape[0]
    g, og, cg = wij.shape[2], wij.shape[3], wij.shape[4]
    gxpad[...] = 0
    for i in range(geo.kh):
        for j in range(geo.kw):
            rows, cols = geo.window(i, j)
            for k in range(g):
                d = g2[:, k * og : (k + 1) * og] @ wij[i, j, k]  # (m, Cg)
                dst = gxpad[:, rows, cols, k * cg : (k + 1) * cg]  # (n, oH, oW, Cg) window
                dst += d.reshape(n, geo.oh, geo.ow, cg)  # (m, Cg) as the window's shape


def param_grads(
    x: Any, gy: Any, geo: Geometry, need_w: bool, need_b: bool, xp: Any, rows: bool
) -> tuple[Any, Any]:
    """dE/dw[k] = sum over blocks of dE/dY_k^T @ X_col_k, dE/db = sum of dE/dY rows.

    When both are needed X_col carries a column of ones, so the same GEMM gives dE/db as
    the last column of dE/dw; ``rows``: X_col built as im2row's transposed layout.
    Returns (gw (O, Cg, kh, kw), gb (O,)), None where not needed.
    """
    N, co = gy.shape[0], gy.shape[1]
    g, og, L = geo.groups, co // geo.groups, geo.oh * geo.ow
    gyh = gy.transpose(0, 2, 3, 1)  # (N, oH, oW, O) view
    C = x.shape[1] if need_w else 1
    kg = geo.kh * geo.kw * C // g
    rows = need_w and rows
    ones = need_w and need_b  # dE/db from the GEMM's column of ones
    xh = x.transpose(0, 2, 3, 1) if need_w else None  # (N, H, W, C) view

    def work(lo: int, hi: int) -> tuple[Any, Any]:
        gw = xp.zeros((g, og, kg + ones), dtype=gy.dtype) if need_w else None  # (g, Og, Kg')
        gb = xp.zeros(co, dtype=gy.dtype) if need_b and not ones else None  # (O,)
        per_item = L * max(kg * g, co) * gy.itemsize
        for a, z in _blocks(lo, hi, per_item, GRAD_BLOCK_BYTES):  # in order
            g2 = xp.ascontiguousarray(gyh[a:z]).reshape((z - a) * L, co)  # (m, O)
            if rows:
                cols = im2row(pad_cnhw(x[a:z], geo, xp), geo, ones, xp)  # (g, Kg', m)
                for k in range(g):
                    gw[k] += g2[:, k * og : (k + 1) * og].T @ cols[k].T  # (Og, Kg')
            elif need_w:
                cols = im2col(pad_nhwc(xh[a:z], geo, xp), geo, xp, ones)  # (m, g, Kg')
                for k in range(g):
                    gw[k] += g2[:, k * og : (k + 1) * og].T @ cols[:, k]  # (Og, Kg')
            if gb is not None:
                gb += g2.sum(axis=0)
        return gw, gb

    parts = parallel_slices(N, work, xp)
    gw = gb = None
    if need_w:
        gw = ordered_sum([p[0] for p in parts])  # (g, Og, Kg'), Kg ordered (kh, kw, Cg)
        if ones:
            gb = xp.ascontiguousarray(gw[:, :, kg]).reshape(co)  # (O,) the ones column
            gw = gw[:, :, :kg]  # (g, Og, Kg) view
        cg = C // g
        gw = gw.reshape(g, og, geo.kh, geo.kw, cg).transpose(0, 1, 4, 2, 3)  # (g, Og, Cg, kh, kw)
        gw = gw.reshape(co, cg, geo.kh, geo.kw)  # (O, Cg, kh, kw)
    if need_b and not ones:
        gb = ordered_sum([p[1] for p in parts])
    return gw, gb
