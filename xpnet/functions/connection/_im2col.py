"""The convolution engine shared by conv2d and conv_transpose2d: im2col + GEMM, channels-last.

Notation: input x (N, C, H, W), weight w (O, C/g, kh, kw), g groups (Cg = C/g, Og = O/g),
stride (sh, sw), zero padding (ph, pw), dilation (dh, dw), output (N, O, oH, oW) with
oH = floor((H + 2 ph - dh (kh - 1) - 1) / sh) + 1 (likewise oW), L = oH oW, M = N L,
Kg = kh kw Cg.

Why channels-last: the arrays are worked on as NHWC, so that

- im2col is one strided copy whose innermost runs are whole channel vectors (or whole
  ``kw Cg`` rows when the dilation is 1), read by a ``stride_tricks`` window view;
- the GEMM's output (M, O) *is* the NHWC result, returned to the caller as an NCHW-shaped
  view (PyTorch's ``channels_last`` memory format): no transpose copy, and the next
  convolution reads it back as NHWC for free;
- dE/dx with stride 1 and Cg >= DX_BY_CONV_MIN_CG is the "full" convolution of dE/dy
  with the flipped kernels, i.e. the same im2col + GEMM again; otherwise col2im is kh kw
  small GEMMs, (M, Og) @ (Og, Cg) per kernel offset, each added into a strided window of
  the padded gradient whose rows are contiguous (3x faster than ``add.at`` on the full
  column matrix, and without its memory);
- with one or two channels per group (a network's first layer) the columns are built
  transposed instead, by :func:`im2row`: one strided copy per kernel tap whose innermost
  runs are whole output rows, where im2col's would be one value long (6x faster on
  LeNet's grey conv1);
- the column matrix carries a column of ones when there is a bias, so the forward GEMM
  adds the bias and the weight-gradient GEMM gives dE/db (no pass of their own);
- the batch is worked through in blocks of ~BLOCK_BYTES of columns, so the column
  matrix is still in the cache when its GEMM reads it; columns are recomputed in the
  backward pass rather than kept (they are kh kw times the size of the input).

Two compiled engines (numba, optional) take the shapes they win on before the GEMM:
the direct sums of ``_direct.py`` (stride 1, one group, few weights: a network's first
layer) and the register blocks of ``_micro.py`` (Og a multiple of half the SIMD width, at
least NR outputs per map: the CIFAR net's and LeNet's conv2, ...), which need no column
matrix. Both serve the forward pass (and so dE/dx by the full convolution) and dE/dw.

The batch is split over threads on the CPU (:mod:`xpnet.functions._parallel`): every
slice writes its own rows of the output; weight and bias gradients are summed over the
slices in slice order, so results do not depend on thread timing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xpnet.functions._parallel import parallel_slices
from xpnet.functions._utils import compilable, compiled_kernels


def out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    """PyTorch's output size: floor((size + 2p - d(k - 1) - 1) / s) + 1."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


@dataclass(frozen=True)
class Geometry:
    """Sizes of one convolution, seen from the forward (im2col) side.

    ``H, W`` is the (unpadded) input of the convolution, ``oH, oW`` its output; for a
    transposed convolution they are its output and input respectively.
    """

    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int
    dh: int
    dw: int
    groups: int
    H: int
    W: int
    oh: int
    ow: int

    @property
    def padded(self) -> tuple[int, int]:
        """(Hp, Wp): the input size with its zero border."""
        return self.H + 2 * self.ph, self.W + 2 * self.pw

    def window(self, i: int, j: int) -> tuple[slice, slice]:
        """Rows and columns of the padded input read by kernel offset (i, j)."""
        r0, c0 = i * self.dh, j * self.dw
        return (
            slice(r0, r0 + self.sh * (self.oh - 1) + 1, self.sh),
            slice(c0, c0 + self.sw * (self.ow - 1) + 1, self.sw),
        )


def _pad_nhwc(xh: Any, geo: Geometry, xp: Any) -> Any:
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


#: At or below this many channels an NCHW input is copied to NHWC one channel at a
#: time: the copy of the transposed view would run inner loops C values long (AlexNet-64's
#: 3-channel input: 0.14 ms per 12 images, 0.04 ms by channels; at C = 32 by channels is
#: 5x slower).
FEW_CHANNELS_COPY = 8


def _bordered(shape: tuple[int, ...], h_axis: int, geo: Geometry, dtype: Any, xp: Any) -> Any:
    """An empty array whose zero-padding border (axes h_axis, h_axis + 1) is zeroed.

    Only the border: ``zeros`` would write the whole array (and fault in fresh pages)
    before the interior is overwritten by the copy anyway (LeNet's padded conv1 input:
    0.3 ms a block saved).
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


def _pad_cnhw(x: Any, geo: Geometry, xp: Any) -> Any:
    """(n, C, H, W) any strides -> (C, n, Hp, Wp) C-contiguous copy with a zero border."""
    n, C, H, W = x.shape
    Hp, Wp = geo.padded
    xc = _bordered((C, n, Hp, Wp), 2, geo, x.dtype, xp)  # (C, n, Hp, Wp)
    xc[:, :, geo.ph : geo.ph + H, geo.pw : geo.pw + W] = x.transpose(1, 0, 2, 3)
    return xc


def im2row(xc: Any, geo: Geometry, ones: bool, xp: Any) -> Any:
    """(C, n, Hp, Wp) padded input -> (g, Kg [+ 1], n oH oW): im2col's matrix transposed.

    Row (i, j, c) of group k holds tap (i, j) of channel k Cg + c at every output
    position, copied from one strided window: kh kw copies whose innermost runs are whole
    output rows (oW values), where im2col's runs are Cg values (one value for a grey
    image: 6x slower on LeNet's conv1). With ``ones`` a last row of ones is added, so that
    the GEMM adds the bias (forward) or sums dE/dy (dE/db) with no pass of its own.
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
    return xp.ascontiguousarray(wg.transpose(0, 3, 4, 2, 1)).reshape(g, kh * kw * cg, co // g)


def _offset_weights(w: Any, g: int, xp: Any) -> Any:
    """(O, Cg, kh, kw) -> (kh, kw, g, Og, Cg): one small matrix per offset and group."""
    co, cg, kh, kw = w.shape
    wg = w.reshape(g, co // g, cg, kh, kw)  # (g, Og, Cg, kh, kw)
    return xp.ascontiguousarray(wg.transpose(3, 4, 0, 1, 2))  # (kh, kw, g, Og, Cg)


def forward(x: Any, w: Any, b: Any, geo: Geometry, xp: Any) -> Any:
    """y = conv(x, w) + b, NHWC; x (N, C, H, W) any strides -> y (N, oH, oW, O).

    By the register blocks where they apply, else the direct sums (few weights), else
    im2col(x) @ W + b, the column matrix built block by block.
    """
    N, C = x.shape[:2]
    co = w.shape[0]
    g, og, L = geo.groups, co // geo.groups, geo.oh * geo.ow
    micro = _micro_kernels(x, geo, w.shape[1], og)
    if micro is not None:  # register blocks summed from the image, no column matrix
        return _forward_by_blocks(micro, x, w, b, geo, xp)
    direct = _direct_kernels(x, geo, w.shape[1], co, DIRECT_FWD_MAX)
    if direct is not None:  # few weights: summed from the image, no column matrix
        y = xp.empty((N, geo.oh, geo.ow, co), dtype=x.dtype)  # (N, oH, oW, O)
        direct.forward(x, w, b, (geo.ph, geo.pw, geo.dh, geo.dw), y)
        return y
    rows = w.shape[1] <= ROWS_MAX_CG  # few channels: im2row's layout
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
            cols = im2row(_pad_cnhw(x[lo:hi], geo, xp), geo, b is not None, xp)  # (g, Kg', m)
            cols = cols.transpose(2, 0, 1)  # (m, g, Kg') view
        else:
            cols = im2col(_pad_nhwc(xh[lo:hi], geo, xp), geo, xp, b is not None)  # (m, g, Kg')
        if g == 1:
            xp.matmul(cols[:, 0], wmat[0], out=out)
        else:
            for k in range(g):
                out[:, k * og : (k + 1) * og] = cols[:, k] @ wmat[k]  # (m, Og)

    parallel_slices(N, work, xp)
    return y


def _forward_by_blocks(micro: Any, x: Any, w: Any, b: Any, geo: Geometry, xp: Any) -> Any:
    """y (N, oH, oW, O) by the register-blocked loops of ``_micro.py``, batch slices in
    parallel; x (N, C, H, W) any strides."""
    N, co, cg = x.shape[0], w.shape[0], w.shape[1]
    g = geo.groups
    w5 = weight_matrix(w, g, xp).reshape(g, geo.kh, geo.kw, cg, co // g)  # (g, kh, kw, Cg, Og)
    bias = b if b is not None else xp.empty(0, dtype=x.dtype)  # (O,) or unused
    xh = x.transpose(0, 2, 3, 1)  # (N, H, W, C) view
    y = xp.empty((N, geo.oh, geo.ow, co), dtype=x.dtype)  # (N, oH, oW, O)

    def work(lo: int, hi: int) -> None:
        micro.forward(xh[lo:hi], w5, bias, b is not None, _geometry_tuple(geo), y[lo:hi])

    parallel_slices(N, work, xp)
    return y


def _geometry_tuple(geo: Geometry) -> tuple[int, ...]:
    """(sh, sw, ph, pw, dh, dw): the compiled loops' view of a geometry."""
    return (geo.sh, geo.sw, geo.ph, geo.pw, geo.dh, geo.dw)


def backward(
    x: Any, w: Any, gy: Any, geo: Geometry, need: tuple[bool, bool, bool], xp: Any
) -> tuple[Any, Any, Any]:
    """Gradients of y = conv(x, w) + b from gy (N, O, oH, oW), any strides.

    Returns ``(gx, gw, gb)`` (None where ``need`` is False): gx (N, C, H, W) as a view of
    a channels-last array, gw (O, Cg, kh, kw), gb (O,). ``x`` may be None when only gx is
    needed, ``w`` when only gw and gb are.
    """
    need_x, need_w, need_b = need
    gx = gw = gb = None
    if need_x and w.shape[1] >= DX_BY_CONV_MIN_CG and _full_conv_geometry(geo) is not None:
        gx = _input_grad_by_conv(w, gy, geo, xp)
        need_x = False
    if need_x:
        gx = _input_grad_by_col2im(w, gy, geo, xp)
    if need_w or need_b:
        gw, gb = _param_grads(x, gy, geo, need_w, need_b, xp)
    return gx, gw, gb


def _full_conv_geometry(geo: Geometry) -> Geometry | None:
    """For stride 1, dE/dx is the "full" convolution of dE/dy with the flipped kernels.

    Padding dE/dy by d (k - 1) - p on each side gives an output of exactly H: H + 2p -
    d (k - 1) = oH, so oH + 2 (d (k - 1) - p) - d (k - 1) = H. None when the stride is
    not 1, the padding exceeds d (k - 1) or the sizes do not close up that way (then
    col2im is used).
    """
    ph, pw = geo.dh * (geo.kh - 1) - geo.ph, geo.dw * (geo.kw - 1) - geo.pw
    if geo.sh != 1 or geo.sw != 1 or ph < 0 or pw < 0:
        return None
    if (out_size(geo.oh, geo.kh, 1, ph, geo.dh), out_size(geo.ow, geo.kw, 1, pw, geo.dw)) != (
        geo.H, geo.W
    ):
        return None  # a transposed convolution's output_padding: rows no window reaches
    return Geometry(geo.kh, geo.kw, 1, 1, ph, pw, geo.dh, geo.dw, geo.groups,
                    geo.oh, geo.ow, geo.H, geo.W)


def _input_grad_by_conv(w: Any, gy: Any, geo: Geometry, xp: Any) -> Any:
    """dE/dx = conv(dE/dy, w flipped and transposed per group): im2col + GEMM again.

    Faster than col2im's kh kw thin GEMMs (a (m, Og) @ (Og, Cg) product has only Og terms
    per output) and its strided adds: one GEMM with Og kh kw terms per output.
    """
    co, cg, kh, kw = w.shape
    g = geo.groups
    wg = w.reshape(g, co // g, cg, kh, kw).transpose(0, 2, 1, 3, 4)  # (g, Cg, Og, kh, kw)
    wt = wg[..., ::-1, ::-1].reshape(g * cg, co // g, kh, kw)  # (C, Og, kh, kw) flipped
    gxh = forward(gy, wt, None, _full_conv_geometry(geo), xp)  # (N, H, W, C)
    return gxh.transpose(0, 3, 1, 2)  # (N, C, H, W) view, channels-last memory


def _input_grad_by_col2im(w: Any, gy: Any, geo: Geometry, xp: Any) -> Any:
    """dE/dx by col2im: per kernel offset, (m, Og) @ (Og, Cg) added into its window."""
    N, co = gy.shape[0], gy.shape[1]
    g, L = geo.groups, geo.oh * geo.ow
    C = w.shape[1] * g
    gyh = gy.transpose(0, 2, 3, 1)  # (N, oH, oW, O) view
    Hp, Wp = geo.padded
    gxpad = xp.empty((N, Hp, Wp, C), dtype=gy.dtype)  # (N, Hp, Wp, C)
    fold = _load_direct() if g == 1 and compilable(gy) else None
    if fold is not None:  # one GEMM to the columns' gradient, folded by a compiled loop
        wt = weight_matrix(w, 1, xp)[0].T  # (O, K) view, K ordered (kh, kw, C)
        per_item = L * geo.kh * geo.kw * C * gy.itemsize
    else:
        wij = _offset_weights(w, g, xp)  # (kh, kw, g, Og, Cg)
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


def _param_grads(
    x: Any, gy: Any, geo: Geometry, need_w: bool, need_b: bool, xp: Any
) -> tuple[Any, Any]:
    """dE/dw[k] = sum over blocks of dE/dY_k^T @ X_col_k, dE/db = sum of dE/dY rows.

    When both are needed X_col carries a column of ones, so the same GEMM gives dE/db as
    the last column of dE/dw.
    """
    N, co = gy.shape[0], gy.shape[1]
    micro = _micro_kernels(x, geo, x.shape[1] // geo.groups, co // geo.groups,
                           wgrad=True) if need_w else None
    if micro is not None:  # register blocks over the taps, no column matrix
        return _param_grads_by_blocks(micro, x, gy, geo, need_b, xp)
    direct = _direct_kernels(x, geo, x.shape[1], co, DIRECT_WGRAD_MAX) if need_w else None
    if direct is not None:  # few weights: summed from the input, no column matrix
        return direct.weight_grad(x, gy, geo.kh, geo.kw, (geo.ph, geo.pw, geo.dh, geo.dw),
                                  need_b)
    g, og, L = geo.groups, co // geo.groups, geo.oh * geo.ow
    gyh = gy.transpose(0, 2, 3, 1)  # (N, oH, oW, O) view
    C = x.shape[1] if need_w else 1
    kg = geo.kh * geo.kw * C // g
    rows = need_w and C // g <= ROWS_MAX_CG
    ones = need_w and need_b  # dE/db from the GEMM's column of ones
    xh = x.transpose(0, 2, 3, 1) if need_w else None  # (N, H, W, C) view

    def work(lo: int, hi: int) -> tuple[Any, Any]:
        gw = xp.zeros((g, og, kg + ones), dtype=gy.dtype) if need_w else None  # (g, Og, Kg')
        gb = xp.zeros(co, dtype=gy.dtype) if need_b and not ones else None  # (O,)
        per_item = L * max(kg * g, co) * gy.itemsize
        for a, z in _blocks(lo, hi, per_item, GRAD_BLOCK_BYTES):  # in order
            g2 = xp.ascontiguousarray(gyh[a:z]).reshape((z - a) * L, co)  # (m, O)
            if rows:
                cols = im2row(_pad_cnhw(x[a:z], geo, xp), geo, ones, xp)  # (g, Kg', m)
                for k in range(g):
                    gw[k] += g2[:, k * og : (k + 1) * og].T @ cols[k].T  # (Og, Kg')
            elif need_w:
                cols = im2col(_pad_nhwc(xh[a:z], geo, xp), geo, xp, ones)  # (m, g, Kg')
                for k in range(g):
                    gw[k] += g2[:, k * og : (k + 1) * og].T @ cols[:, k]  # (Og, Kg')
            if gb is not None:
                gb += g2.sum(axis=0)
        return gw, gb

    parts = parallel_slices(N, work, xp)
    gw = gb = None
    if need_w:
        gw = _ordered_sum([p[0] for p in parts])  # (g, Og, Kg'), Kg ordered (kh, kw, Cg)
        if ones:
            gb = xp.ascontiguousarray(gw[:, :, kg]).reshape(co)  # (O,) the ones column
            gw = gw[:, :, :kg]  # (g, Og, Kg) view
        cg = C // g
        gw = gw.reshape(g, og, geo.kh, geo.kw, cg).transpose(0, 1, 4, 2, 3)
        gw = gw.reshape(co, cg, geo.kh, geo.kw)  # (O, Cg, kh, kw)
    if need_b and not ones:
        gb = _ordered_sum([p[1] for p in parts])
    return gw, gb


def _param_grads_by_blocks(
    micro: Any, x: Any, gy: Any, geo: Geometry, need_b: bool, xp: Any
) -> tuple[Any, Any]:
    """dE/dw (O, Cg, kh, kw) and dE/db (O,) or None by the register-blocked loops of
    ``_micro.py``: per batch slice a partial sum, added in slice order."""
    N, C, co = x.shape[0], x.shape[1], gy.shape[1]
    g, kh, kw = geo.groups, geo.kh, geo.kw
    cg, og = C // g, co // g
    merged, run, rows = micro.tap_runs(kw, cg, geo.dw, g)  # gw's rows per window row
    xh = x.transpose(0, 2, 3, 1)  # (N, H, W, C) view
    gyh = gy.transpose(0, 2, 3, 1)  # (N, oH, oW, O) view

    def work(lo: int, hi: int) -> tuple[Any, Any]:
        g2 = xp.ascontiguousarray(gyh[lo:hi])  # (n, oH, oW, O)
        gw = xp.zeros((g, kh, rows, og), dtype=gy.dtype)  # (g, kh, rows, Og)
        micro.weight_grad(xh[lo:hi], g2, _geometry_tuple(geo), kh, kw, g, gw)
        gb = g2.reshape(-1, co).sum(axis=0) if need_b else None  # (O,)
        return gw, gb

    parts = parallel_slices(N, work, xp)
    gw = _ordered_sum([p[0] for p in parts])  # (g, kh, rows, Og)
    if merged:
        gw = gw[:, :, :run].reshape(g, kh, kw, cg, og)  # junk rows dropped
    else:
        gw = gw.reshape(g, kh, kw, rows // kw, og)[:, :, :, :cg]
    gw = gw.transpose(0, 4, 3, 1, 2).reshape(co, cg, kh, kw)  # (O, Cg, kh, kw)
    gb = _ordered_sum([p[1] for p in parts]) if need_b else None
    return gw, gb


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
                dst += d.reshape(n, geo.oh, geo.ow, cg)


#: The direct convolution (``_direct.py``, numba: summed from the flat padded image, no
#: column matrix) runs the forward pass up to DIRECT_FWD_MAX weights and the weight
#: gradient up to DIRECT_WGRAD_MAX, when each output reads at most DIRECT_MAX_TAPS
#: inputs (C kh kw: a short column, on which the GEMM path's im2col copy costs the
#: most, and not a 1x1 layer over many channels, a GEMM with no copy to make), for
#: stride 1 and one group. Measured with
#: ``python bench/bench_conv_ops.py --paths`` (batch 128, two threads, xpnet ms, direct
#: / GEMM): LeNet-5's conv1 (150 weights) forward 1.02 / 2.27, dE/dw 0.85 / 5.21;
#: 1 -> 16 channels 5x5 (400) forward 2.05 / 3.10; 3 -> 8 channels 5x5 (600) forward
#: 2.89 / 6.42; the CIFAR net's conv1 (2,400 weights, 75 taps) forward 9.99 / 9.30 but
#: dE/dw 9.33 / 18.17; LeNet-5's conv2 (2,400, 150 taps) forward 2.17 / 1.81, dE/dw
#: 2.15 / 2.00; with many weights the GEMM's forward wins by 1.5-8x, and its weight
#: gradient ties.
DIRECT_FWD_MAX = 1024
DIRECT_WGRAD_MAX = 4096
DIRECT_MAX_TAPS = 80


def _direct_kernels(x: Any, geo: Geometry, cin: int, cout: int, limit: int) -> Any:
    """The direct convolution module when it applies to a convolution of ``cin`` to
    ``cout`` channels (stride 1, one group, at most DIRECT_MAX_TAPS inputs per output and
    ``limit`` weights, a float NumPy array and numba installed), else None."""
    taps = cin * geo.kh * geo.kw  # inputs read by one output
    simple = (geo.sh, geo.sw, geo.groups) == (1, 1, 1)
    fits = taps <= DIRECT_MAX_TAPS and taps * cout <= limit
    return _load_direct() if fits and simple and compilable(x) else None


#: Whether convolutions that fit its blocks (Og a multiple of half the SIMD width, at least NR
#: outputs per map) run on the register-blocked loops of ``_micro.py``, before the direct
#: sums and im2col + GEMM (the tests and ``bench/bench_conv_ops.py --paths`` switch it).
#: Measured with ``--paths`` (batch 128, two threads, xpnet ms, blocks / direct / GEMM,
#: AMD EPYC Zen 4): the CIFAR net's conv1 forward 6.11 / 9.54 / 8.47, dE/dw 5.70 / 10.00
#: / 10.75; conv2 forward 9.29 / - / 15.84, dE/dw 9.57 / - / 19.46; LeNet-5's conv2
#: forward 0.68 / - / 1.05, dE/dw 0.81 / - / 1.33; 1 -> 16 channels 5x5 forward 1.63 /
#: 1.83 / 2.68, but dE/dw (blocks, measured before this rule) 1.85 / 1.62 / 4.29: a
#: weight gradient whose run of taps per window row (kw C, or Cg) is shorter than a
#: block's NR rows wastes the rest of the block, and is left to the direct sums.
MICRO = True


def _micro_kernels(x: Any, geo: Geometry, cg: int, og: int, wgrad: bool = False) -> Any:
    """The register-blocked loops module when they cover a convolution of Cg to Og
    channels per group (see ``_micro.applies``; for the weight gradient, ``wgrad``, also a
    run of at least NR taps per window row), for a float NumPy array with numba
    installed; else None."""
    if not MICRO or not compilable(x):
        return None
    micro = compiled_kernels("xpnet.functions.connection._micro")
    if micro is None or not micro.applies(cg, og, geo.oh * geo.ow, x.dtype):
        return None
    run = micro.tap_runs(geo.kw, cg, geo.dw, geo.groups)[1]
    return None if wgrad and run < micro.NR else micro


def _load_direct() -> Any:
    """The numba kernels module; None when numba is not installed."""
    return compiled_kernels("xpnet.functions.connection._direct")


#: At or below this many channels per group, im2row's layout (taps as rows, copied a
#: whole output row at a time) replaces im2col's (taps as columns, copied Cg values at a
#: time): 6x faster for one channel, 2.5x for three.
ROWS_MAX_CG = 2

#: dE/dx by a full convolution needs Cg columns in its GEMM; below this, col2im is faster
#: (measured: Cg = 6, LeNet's conv2: col2im 7.4 ms, full 10.2; Cg = 12, AlexNet-64's
#: conv2: col2im 18.8 ms, full 13.0).
DX_BY_CONV_MIN_CG = 8

#: Target size of one block's column matrix: small enough to stay in the cache between
#: the im2col copy and the GEMM that reads it, large enough that the GEMM has the rows
#: to run at speed (2 MB: 3-8% faster than 1 MB over the three nets, 4 MB no better).
BLOCK_BYTES = 1 << 21


#: The weight gradient's blocks: smaller, because they are live on top of everything the
#: forward pass kept for backward, at the step's peak (LeNet-5 at batch 128, two
#: threads: peak step memory 10.3-12.3 MiB with 2 MB blocks, 8.6 MiB with 1 MB, against
#: PyTorch's 8.2, ``bench/bench_cnn.py --memory-only``; train steps 0-1.3% slower in an
#: in-process A/B over the three benchmark nets).
GRAD_BLOCK_BYTES = 1 << 20


def _blocks(lo: int, hi: int, per_item: int, budget: int | None = None) -> list[tuple[int, int]]:
    """Cut the batch slice [lo, hi) into blocks of ~``budget`` bytes (default BLOCK_BYTES),
    ``per_item`` bytes each."""
    step = max(1, (budget or BLOCK_BYTES) // max(per_item, 1))
    return [(a, min(a + step, hi)) for a in range(lo, hi, step)]


def _ordered_sum(parts: list[Any]) -> Any:
    """Sum per-slice partial results in slice order (deterministic)."""
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total
