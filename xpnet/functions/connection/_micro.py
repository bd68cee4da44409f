"""Register-blocked convolution loops (numba, imported lazily; optional).

Why: through im2col a convolution is a GEMM whose weight matrix has few columns (the
CIFAR net's conv2: 32 outputs, 800 taps), and the column matrix must be copied first.
Summed straight from the padded image by the block below, with no copy, that layer's
forward pass (1.68 GFLOP at batch 128) takes 17.1 ms on one Zen 4 core, 98 GFLOP/s,
against 28.0 ms by im2col + OpenBLAS (``python bench/bench_conv_ops.py --paths
--threads 1 --net cifar``).

The block. For NR consecutive output pixels and CB = NV VL output channels (VL the
lanes of one SIMD register: 16 float32 with AVX-512), keep the NR x CB partial sums in
NR NV vector registers and, for every tap k (a row i of the window and one value of its
contiguous (j, c) run in a channels-last image), broadcast the NR inputs and multiply-add
them with the CB weights of tap k:

    acc[r, :] += x[a_off + mi ams + ki aks + po[r]] * w[b_off + mi bms + ki bks + (0 .. CB)]

for mi < m (window rows) and ki < k (taps of one row), where po[r] is where pixel r's
window starts: the NR pixels are consecutive outputs of the flattened (oH, oW) plane, so
a block may run on from the end of one output row to the next (LeNet's conv2, 10 x 10
outputs: 13 blocks of 8, where blocks within rows would need 20). One tap costs NR
broadcasts and NV vector loads for NR NV fused multiply-adds, so the loop runs at the
FMA units' speed. Og is covered by blocks of 2 VL channels, then one of VL and one of
VL / 2 for what is left (Og = 24 float32: 16 + 8).
The same block with other strides is the weight gradient: rows r are NR consecutive taps,
the sum runs over the output positions, and the "weights" are dE/dy:

    dE/dw[k0 + r, :] += x[pos + off + k0 + r] * dE/dy[pos, (0 .. CB)].

numba's compiler does not keep such a block in registers by itself (its loop vectoriser
leaves the partial sums in memory, and its straight-line vectoriser is off), so the
block is written as LLVM IR in :func:`_make_block` (vector types and ``llvm.fma``) and
called from ordinary numba loops. The sums are reassociated, so the rounding differs
from the GEMM path's but is the same from run to run.
"""

from __future__ import annotations

import platform
from typing import Any

import numba
import numpy
from llvmlite import binding as _llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _host_shape() -> tuple[int, int]:
    """(vector bytes, pixels per block NR) for the machine numba compiles for.

    AVX-512 has 32 vector registers of 64 bytes: 8 pixels x 2 vectors = 16 partial sums,
    plus the weights and the broadcast. AVX2 has 16 registers of 32 bytes: 6 x 2 = 12.
    Elsewhere 16-byte vectors: 8 x 2 on 64-bit ARM (32 NEON registers), 6 x 2 on x86's
    16 SSE registers.
    """
    feats = _llvm.get_host_cpu_features()
    if feats.get("avx512f", False):
        return 64, 8
    if feats.get("avx2", False) and feats.get("fma", False):
        return 32, 6
    return 16, 8 if platform.machine().lower() in ("aarch64", "arm64") else 6


VECTOR_BYTES, NR = _host_shape()


def lanes(dtype: Any) -> int:
    """VL: values of ``dtype`` in one vector register (16 float32 with AVX-512)."""
    return VECTOR_BYTES // numpy.dtype(dtype).itemsize


def _make_block(nv: int, split: int = 1) -> Any:
    """The NR x (nv VL / split) register block as a numba intrinsic (module docstring):
    nv vectors of VL / split lanes (split 2: half-width vectors, for a last VL / 2 output
    channels).

    ``block(a, b, c, po, m, k, a_off, ams, aks, b_off, bms, bks, c_off, crs)`` adds, for
    r < NR and lanes l < nv VL / split,

        c[c_off + r crs + l] += sum_{mi < m, ki < k} a[a_off + mi ams + ki aks + po[r]]
                                                    * b[b_off + mi bms + ki bks + l];

    a, b, c are 1-D C-contiguous arrays of one float dtype, po (NR,) int64 the rows'
    offsets into a; the offsets are element indices and are not checked (the callers'
    loops keep them in bounds).
    """

    @intrinsic
    def block(typingctx, a, b, c, po, m, k, a_off, ams, aks, b_off, bms, bks, c_off, crs):
        sig = types.void(a, b, c, po, m, k, a_off, ams, aks, b_off, bms, bks, c_off, crs)

        def codegen(context, builder, sig, args):
            dt = sig.args[0].dtype
            vl = VECTOR_BYTES // (dt.bitwidth // 8) // split
            ft = context.get_value_type(dt)
            vty = ir.VectorType(ft, vl)
            i64, i32 = ir.IntType(64), ir.IntType(32)
            aptr, bptr, cptr, pptr = (
                context.make_array(t)(context, builder, v).data
                for t, v in zip(sig.args[:4], args[:4])
            )
            m_, k_, a_off_, ams_, aks_, b_off_, bms_, bks_, c_off_, crs_ = args[4:]
            po = [builder.load(builder.gep(pptr, [ir.Constant(i64, r)])) for r in range(NR)]
            fma = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vty, [vty] * 3),
                f"llvm.fma.v{vl}{ft.intrinsic_name}",
            )

            def vptr(base: Any, index: Any) -> Any:
                return builder.bitcast(builder.gep(base, [index]), vty.as_pointer())

            def c_index(r: int, v: int) -> Any:
                row = builder.mul(ir.Constant(i64, r), crs_)
                return builder.add(builder.add(c_off_, row), ir.Constant(i64, v * vl))

            slots = [[cgutils.alloca_once(builder, vty) for _ in range(nv)] for _ in range(NR)]
            for r in range(NR):
                for v in range(nv):
                    builder.store(builder.load(vptr(cptr, c_index(r, v)), align=1), slots[r][v])
            zeros = ir.Constant(ir.VectorType(i32, vl), [0] * vl)
            undef = ir.Constant(vty, ir.Undefined)
            with cgutils.for_range(builder, m_) as rows:
                a_row = builder.add(a_off_, builder.mul(rows.index, ams_))
                b_row = builder.add(b_off_, builder.mul(rows.index, bms_))
                with cgutils.for_range(builder, k_) as taps:
                    ai = builder.add(a_row, builder.mul(taps.index, aks_))
                    bi = builder.add(b_row, builder.mul(taps.index, bks_))
                    wv = [builder.load(vptr(bptr, builder.add(bi, ir.Constant(i64, v * vl))),
                                       align=1) for v in range(nv)]
                    for r in range(NR):
                        at = builder.add(ai, po[r])
                        xs = builder.load(builder.gep(aptr, [at]))
                        xv = builder.shuffle_vector(
                            builder.insert_element(undef, xs, ir.Constant(i32, 0)), undef, zeros
                        )
                        for v in range(nv):
                            s = slots[r][v]
                            builder.store(builder.call(fma, [xv, wv[v], builder.load(s)]), s)
            for r in range(NR):
                for v in range(nv):
                    builder.store(builder.load(slots[r][v]), vptr(cptr, c_index(r, v)), align=1)
            return context.get_dummy_value()

        return sig, codegen

    return block


_block2 = _make_block(2)  # NR x 2 VL: the main block
_block1 = _make_block(1)  # NR x VL: a last VL channels
_block_half = _make_block(1, 2)  # NR x VL / 2: a last VL / 2 channels


@numba.njit(cache=True, nogil=True, inline="always")
def _block(left: int, vl: int, a: Any, b: Any, c: Any, po: Any, m: int, k: int, a_off: int,
           ams: int, aks: int, b_off: int, bms: int, bks: int, c_off: int, crs: int) -> int:
    """The widest block that fits ``left`` output channels (2 VL, VL or VL / 2 of them;
    ``left`` a multiple of VL / 2), run with the blocks' arguments; returns its width."""
    if left >= 2 * vl:
        _block2(a, b, c, po, m, k, a_off, ams, aks, b_off, bms, bks, c_off, crs)
        return 2 * vl
    if left >= vl:
        _block1(a, b, c, po, m, k, a_off, ams, aks, b_off, bms, bks, c_off, crs)
        return vl
    _block_half(a, b, c, po, m, k, a_off, ams, aks, b_off, bms, bks, c_off, crs)
    return vl // 2


#: The least share of a map's block outputs that are not recomputed: the last block is
#: shifted back over its neighbour, so 3 x 3 outputs take 2 blocks of 8 (9 / 16 = 0.56),
#: 5 x 5 take 4 (0.78), 4 x 4 and 6 x 6 none extra. Measured with ``python
#: bench/bench_conv_ops.py --paths`` (which lifts this limit for its "blocks" column;
#: batch 128, two threads, Zen 4, ms blocks / GEMM): AlexNet-64's conv3 (3 x 3 outputs)
#: forward 1.56 / 1.34, dE/dw 1.77 / 1.28; 32 -> 32 channels 3x3 on 5 x 5 maps
#: (``32on5``) forward 0.67 / 0.88, dE/dw 0.72 / 1.06; on 4 x 4 0.43 / 0.65, 0.55 / 0.83.
MIN_BLOCK_USE = 0.75

#: ... but only where the GEMM is wide: with at most this many VL of outputs per group
#: the GEMM's columns are few and it loses even to half-used blocks. AlexNet-64's grouped
#: 3 x 3 maps (same command, a later and slower hour, ms blocks / GEMM): conv4 (Og 48 =
#: 3 VL) forward 2.20 / 2.59, dE/dw 3.02 / 3.57; conv5 (Og 32) 1.37 / 1.61, 1.55 / 2.04;
#: while conv3 (Og 96) stays on the GEMM: 2.99 / 2.65, 3.36 / 2.68.
NARROW_GEMM_VL = 3


def applies(cg: int, og: int, outputs: int, dtype: Any) -> bool:
    """Whether the blocks cover a convolution with Cg inputs and Og outputs per group and
    oH oW ``outputs`` per map: Og a multiple of VL / 2 and at least VL (a half-width
    block alone holds too few sums: 3 -> 8 channels 5x5, dE/dw 3.53 ms against the
    direct sums' 2.70, ``bench/bench_conv_ops.py --paths``), at least NR outputs, of
    which the blocks recompute few (``MIN_BLOCK_USE``) unless Og is at most
    ``NARROW_GEMM_VL`` VL."""
    vl = lanes(dtype)
    if og % (vl // 2) or og < vl or outputs < NR or cg < 1:
        return False
    if og <= NARROW_GEMM_VL * vl:
        return True
    blocks = -(-outputs // NR)
    return outputs >= MIN_BLOCK_USE * blocks * NR


def tap_runs(kw: int, cg: int, dw: int, g: int) -> tuple[bool, int, int]:
    """(merged, run, rows) of the weight gradient's blocks: with dw = 1 and one group a
    window row's taps are one run of kw Cg (merged), else kw runs of Cg; ``rows`` is the
    rows of gw per window row, each run rounded up to NR (see :func:`weight_grad`)."""
    merged = dw == 1 and g == 1
    run = kw * cg if merged else cg
    per_run = -(-run // NR) * NR
    return merged, run, per_run if merged else kw * per_run


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
def forward(x: Any, w: Any, b: Any, has_b: bool, geo: Any, y: Any) -> None:
    """y = conv(x, w) + b, channels-last, by register blocks.

    x (N, H, W, C) any strides; w (g, kh, kw, Cg, Og) C-contiguous; b (O,); ``geo`` is
    (sh, sw, ph, pw, dh, dw); y (N, oH, oW, O) C-contiguous, O = g Og. Requires
    :func:`applies`. Each block of NR consecutive outputs of the flattened (oH, oW) plane
    (the last block shifted back to end at oH oW, recomputing a few outputs with the same
    result) starts from the bias and adds every tap: with dw = 1 and one group a window
    row's (j, c) taps are one contiguous run of kw C inputs (one call of the block per
    window), else one call per window row over the Cg channels of each (j).
    """
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
    po = numpy.empty(NR, dtype=numpy.int64)  # where each output's window starts in buf
    for n in range(n_img):
        _fill(x, n, ph, pw, buf)
        for t in range(0, plane, NR):
            t0 = min(t, plane - NR)
            for r in range(NR):
                p, q = divmod(t0 + r, ow)
                po[r] = (p * sh * wp + q * sw) * channels
            yb = (n * plane + t0) * co
            for r in range(NR):
                for o in range(co):
                    yf[yb + r * co + o] = b[o] if has_b else 0.0
            for k in range(g):
                cb = 0
                while cb < og:  # blocks of 2 VL channels, then VL, then VL / 2
                    c_off = yb + k * og + cb
                    if merged:  # the window's kh runs of kw C taps
                        width = _block(og - cb, vl, buf, wf, yf, po, kh, kw * channels, 0,
                                       row_pitch, 1, cb, kw * channels * og, og, c_off, co)
                    else:  # kw runs of Cg taps per window row
                        for i in range(kh):
                            width = _block(og - cb, vl, buf, wf, yf, po, kw, cg,
                                           i * row_pitch + k * cg, dw * channels, 1,
                                           ((k * kh + i) * kw * cg) * og + cb, cg * og, og,
                                           c_off, co)
                    cb += width


@numba.njit(cache=True, nogil=True)
def weight_grad(x: Any, gy: Any, geo: Any, kh: int, kw: int, g: int, gw: Any) -> None:
    """gw += dE/dw of the images of x, by register blocks over taps.

    x (N, H, W, C) any strides; gy (N, oH, oW, O) C-contiguous; ``geo`` as
    :func:`forward`'s. gw (g, kh, R, Og) zeros or a running sum, whose rows R hold the
    taps of one window row: with dw = 1 and one group the kw C taps of the (j, c) run,
    else kw groups of Cgp rows (Cg rounded up to NR); either way R is rounded up to NR
    and the rows past the run are junk, read past it from the padded image's tail
    (zeros or the next pixel's inputs) and dropped by the caller. For every image, window
    row and block of NR taps, the block sums x[pos + tap] dE/dy[pos] over the output
    positions: oH rows of oW positions.
    """
    n_img, h, wd, channels = x.shape
    oh, ow, co = gy.shape[1], gy.shape[2], gy.shape[3]
    og = co // g
    cg = channels // g
    sh, sw, ph, pw, dh, dw = geo
    wp = wd + 2 * pw
    rows = gw.shape[2]
    buf = numpy.zeros((h + 2 * ph) * wp * channels + rows, dtype=x.dtype)
    gyf = gy.reshape(-1)
    gwf = gw.reshape(-1)
    vl = VECTOR_BYTES // x.itemsize
    merged = dw == 1 and g == 1
    runs = 1 if merged else kw
    run = kw * channels if merged else cg
    per_run = rows // runs  # rows of gw per run
    po = numpy.arange(NR)  # a block's rows: NR consecutive taps
    for n in range(n_img):
        _fill(x, n, ph, pw, buf)
        gy0 = n * oh * ow * co
        for k in range(g):
            for i in range(kh):
                for j in range(runs):
                    a_run = (i * dh * wp + j * dw) * channels + k * cg
                    for t in range(0, run, NR):
                        row0 = ((k * kh + i) * rows + j * per_run + t) * og
                        cb = 0
                        while cb < og:  # blocks of 2 VL channels, then VL, then VL / 2
                            cb += _block(og - cb, vl, buf, gyf, gwf, po, oh, ow, a_run + t,
                                         sh * wp * channels, sw * channels,
                                         gy0 + k * og + cb, ow * co, co, row0 + cb, og)
