"""The GEMM engine's data movement: padding, the column matrix (im2col, im2row), weights.

Why channels-last: the arrays are worked on as NHWC, so that im2col is one strided copy
whose innermost runs are whole channel vectors (or whole ``kw Cg`` rows when the
dilation is 1), read by a ``stride_tricks`` window view. With one or two channels per
group (a network's first layer) the columns are built transposed instead, by
:func:`im2row`: one strided copy per kernel tap whose innermost runs are whole output
rows, where im2col's would be one value long. Notation: :mod:`xpnet.cpu.conv.geometry`.
"""

from __future__ import annotations

from typing import Any

from xpnet.cpu.conv.geometry import Geometry

#: At or below this many channels an NCHW input is copied to NHWC one channel at a
#: time: the copy of the transposed view would run inner loops C values long (3x
#: slower on AlexNet-64's 3-channel input; at C = 32 by channels is 5x slower).
FEW_CHANNELS_COPY = 8


def pad_nhwc(xh: Any, geo: Geometry, xp: Any) -> Any:
    """(n, H, W, C) view -> (n, Hp, Wp, C) C-contiguous copy with a zero border."""
    nchw = xh.strides[3] > xh.strides[2]  # a view of NCHW memory (a network's input)
    if geo.ph == 0 and geo.pw == 0 and not nchw:
        return xp.ascontiguousarray(xh)  # (n, H, W, C), no copy when channels-last already
    n, H, W, C = xh.shape
    Hp, Wp = geo.padded
    xpad = _bordered((n, Hp, Wp, C), 1, geo, xh.dtype, xp)  # (n, Hp, Wp, C)
    inner = xpad[:, geo.ph : geo.ph + H, geo.pw : geo.pw + W]  # (n, H, W, C) view
    if nchw and C <= FEW_CHANNELS_COPY:
        for c in range(C):  # whole contiguous planes in, one strided write each
            inner[..., c] = xh[..., c]
    else:
        inner[...] = xh
    return xpad


def _bordered(shape: tuple[int, ...], h_axis: int, geo: Geometry, dtype: Any, xp: Any) -> Any:
    """An empty array whose zero-padding border (axes h_axis, h_axis + 1) is zeroed.

    Only the border: ``zeros`` would write the whole array (and fault in fresh pages)
    before the interior is overwritten by the copy anyway.
    """
    a = xp.empty(shape, dtype=dtype)
    Hp, Wp = shape[h_axis], shape[h_axis + 1]
    lead = (slice(None),) * h_axis
    for rows, cols in (
        (slice(0, geo.ph), slice(None)), (slice(Hp - geo.ph, Hp), slice(None)),
        (slice(geo.ph, Hp - geo.ph), slice(0, geo.pw)),
        (slice(geo.ph, Hp - geo.ph), slice(Wp - geo.pw, Wp)),
    ):
        a[(*lead, rows, cols)] = 0
    return a


def im2col(xpad: Any, geo: Geometry, xp: Any, ones: bool = False) -> Any:
    """(n, Hp, Wp, C) padded input -> (n oH oW, g, kh kw Cg [+ 1]) column matrix.

    With ``ones`` each group gets a last column of ones, so that the GEMM adds the bias
    (forward) or sums dE/dy (dE/db) with no pass of its own over the output.
    """
    n, Hp, Wp, C = xpad.shape
    if (geo.oh - 1) * geo.sh + geo.dh * (geo.kh - 1) >= Hp or (
        (geo.ow - 1) * geo.sw + geo.dw * (geo.kw - 1) >= Wp
    ):  # as_strided does not check bounds: never let a window read past the array
        raise ValueError(f"im2col: windows of {geo} do not fit in the padded input {(Hp, Wp)}")
    g = geo.groups
    cg = C // g
    kg = geo.kh * geo.kw * cg
    sn, sh_, sw_, sc = xpad.strides
    view = xp.lib.stride_tricks.as_strided(
        xpad,
        shape=(n, geo.oh, geo.ow, g, geo.kh, geo.kw, cg),  # (n, oH, oW, g, kh, kw, Cg)
        strides=(sn, sh_ * geo.sh, sw_ * geo.sw, sc * cg, sh_ * geo.dh, sw_ * geo.dw, sc),
    )
    m = n * geo.oh * geo.ow
    cols = xp.empty((m, g, kg + ones), dtype=xpad.dtype)  # (m, g, Kg [+1])
    dst = cols[:, :, :kg].reshape(n, geo.oh, geo.ow, g, geo.kh, geo.kw, cg)  # view
    dst[...] = view  # the one im2col copy
    if ones:
        cols[:, :, kg] = 1
    return cols


def pad_cnhw(x: Any, geo: Geometry, xp: Any) -> Any:
    """(n, C, H, W) any strides -> (C, n, Hp, Wp) C-contiguous copy with a zero border."""
    n, C, H, W = x.shape
    Hp, Wp = geo.padded
    xc = _bordered((C, n, Hp, Wp), 2, geo, x.dtype, xp)  # (C, n, Hp, Wp)
    xc[:, :, geo.ph : geo.ph + H, geo.pw : geo.pw + W] = x.transpose(1, 0, 2, 3)  # (C, n, H, W)
    return xc


def im2row(xc: Any, geo: Geometry, ones: bool, xp: Any) -> Any:
    """(C, n, Hp, Wp) padded input -> (g, Kg [+ 1], n oH oW): im2col's matrix transposed.

    Row (i, j, c) of group k holds tap (i, j) of channel k Cg + c at every output
    position, copied from one strided window: kh kw copies whose innermost runs are whole
    output rows (oW values), where im2col's runs are Cg values (one value for a grey
    image). With ``ones`` a last row of ones is added, so that the GEMM adds the bias
    (forward) or sums dE/dy (dE/db) with no pass of its own.
    """
    C, n, Hp, Wp = xc.shape
    g, kh, kw = geo.groups, geo.kh, geo.kw
    cg = C // g
    kg = kh * kw * cg
    rows = xp.empty((g, kg + ones, n * geo.oh * geo.ow), dtype=xc.dtype)  # (g, Kg [+1], m)
    taps = rows[:, :kg].reshape(g, kh, kw, cg, n, geo.oh, geo.ow)  # view, row-split only
    xg = xc.reshape(g, cg, n, Hp, Wp)  # (g, Cg, n, Hp, Wp) view
    for i in range(kh):
        for j in range(kw):
            r, c = geo.window(i, j)
            taps[:, i, j] = xg[:, :, :, r, c]  # (g, Cg, n, oH, oW) window
    if ones:
        rows[:, kg] = 1
    return rows


def weight_matrix(w: Any, g: int, xp: Any) -> Any:
    """(O, Cg, kh, kw) -> (g, Kg, Og), rows ordered (kh, kw, Cg) like im2col's columns."""
    co, cg, kh, kw = w.shape
    wg = w.reshape(g, co // g, cg, kh, kw)  # (g, Og, Cg, kh, kw)
    # (g, kh, kw, Cg, Og) copied, then (g, Kg, Og)
    return xp.ascontiguousarray(wg.transpose(0, 3, 4, 2, 1)).reshape(g, kh * kw * cg, co // g)


def offset_weights(w: Any, g: int, xp: Any) -> Any:
    """(O, Cg, kh, kw) -> (kh, kw, g, Og, Cg): one small matrix per offset and group."""
    co, cg, kh, kw = w.shape
    wg = w.reshape(g, co // g, cg, kh, kw)  # (g, Og, Cg, kh, kw)
    return xp.ascontiguousarray(wg.transpose(3, 4, 0, 1, 2))  # (kh, kw, g, Og, Cg)
