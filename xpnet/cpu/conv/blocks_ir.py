"""The register block of the convolution, written as LLVM IR (numba, imported lazily).

The block. For NR consecutive output pixels and CB = NV VL output channels (VL the
lanes of one SIMD register: 16 float32 with AVX-512), keep the NR x CB partial sums in
NR NV vector registers and, for every tap k (a row i of the window and one value of its
contiguous (j, c) run in a channels-last image), broadcast the NR inputs and multiply-add
them with the CB weights of tap k:

    acc[r, :] += x[a_off + mi ams + ki aks + po[r]] * w[b_off + mi bms + ki bks + (0 .. CB)]

for mi < m (window rows) and ki < k (taps of one row), where po[r] is where pixel r's
window starts. One tap costs NR broadcasts and NV vector loads for NR NV fused
multiply-adds, so the loop runs at the FMA units' speed. Og is covered by blocks of
2 VL channels, then one of VL and one of VL / 2 for what is left (Og = 24 float32:
16 + 8); any other rest is one block whose last vector is masked (Og = 50: 32, then
16 + 2 lanes; Og = 20: 16 + 4), its weights and outputs loaded and stored under a lane
mask (``llvm.masked.load`` / ``llvm.masked.store``: AVX-512's k-registers), so that no
lane past Og is read or written. On AMD's Zen cores (:data:`HALF_RESTS`), whose 512-bit
multiply-adds run as two 256-bit halves, a rest of VL + 1 to 1.5 VL channels is three
half-width vectors instead, the last masked (Og = 20: 8 + 8 + 4 lanes, 24 of work
where two whole vectors are 32; Og = 50: 32, then 8 + 8 + 2). Every lane's sum runs
over the taps in the same order whatever the block's width: the width never changes a
result's bits.

numba's compiler does not keep such a block in registers by itself (its loop vectoriser
leaves the partial sums in memory, and its straight-line vectoriser is off), so the
block is written as LLVM IR in :func:`_make_block` (vector types and ``llvm.fma``) and
called from ordinary numba loops (:mod:`xpnet.cpu.conv.blocks`).
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

__all__ = ["HALF_RESTS", "NR", "VECTOR_BYTES", "block", "lanes"]


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


class _Lanes:
    """Loads and stores of one vector type, whole or under a lane mask (the last vector
    of a masked block: lanes l < tail only)."""

    def __init__(self, builder: Any, vty: Any, tail: Any) -> None:
        self.builder, self.vty = builder, vty
        self.mask = None
        if tail is not None:  # <l < tail for l in lanes>, AVX-512: one k-register
            i32 = ir.IntType(32)
            n = vty.count
            vi = ir.VectorType(i32, n)
            undef = ir.Constant(vi, ir.Undefined)
            first = builder.insert_element(undef, builder.trunc(tail, i32), ir.Constant(i32, 0))
            splat = builder.shuffle_vector(first, undef, ir.Constant(vi, [0] * n))
            self.mask = builder.icmp_signed("<", ir.Constant(vi, list(range(n))), splat)
            name = f"v{n}{vty.element.intrinsic_name}.p0"
            pty, i1s = vty.as_pointer(), self.mask.type
            self.masked_load = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vty, [pty, i32, i1s, vty]),
                f"llvm.masked.load.{name}")
            self.masked_store = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [vty, pty, i32, i1s]),
                f"llvm.masked.store.{name}")
            self.zeros = ir.Constant(vty, [0.0] * n)
            self.align = ir.Constant(i32, 4)  # float32's, enough for float64 too

    def load(self, ptr: Any, masked: bool) -> Any:
        if masked and self.mask is not None:
            return self.builder.call(self.masked_load, [ptr, self.align, self.mask, self.zeros])
        return self.builder.load(ptr, align=1)

    def store(self, value: Any, ptr: Any, masked: bool) -> None:
        if masked and self.mask is not None:
            self.builder.call(self.masked_store, [value, ptr, self.align, self.mask])
        else:
            self.builder.store(value, ptr, align=1)


def _make_block(nv: int, split: int = 1, masked: bool = False) -> Any:
    """The NR x (nv VL / split) register block as a numba intrinsic (module docstring):
    nv vectors of VL / split lanes (split 2: half-width vectors, for a last VL / 2 output
    channels; ``masked``: the last vector holds only ``tail`` lanes).

    ``block(a, b, c, po, m, k, a_off, ams, aks, b_off, bms, bks, c_off, crs, s, s_off,
    srs)`` sets, for r < NR and lanes l < nv VL / split (masked: l < (nv - 1) VL + tail),

        c[c_off + r crs + l] = s[s_off + r srs + l]
                               + sum_{mi < m, ki < k} a[a_off + mi ams + ki aks + po[r]]
                                                      * b[b_off + mi bms + ki bks + l];

    (s = c, s_off = c_off, srs = crs: c +=; srs = 0: every row starts from one vector of
    s, a bias, with no store of it to c first: a masked load right after stores to the
    same lanes would wait for them);

    a, b, c are 1-D C-contiguous arrays of one float dtype, po (NR,) int64 the rows'
    offsets into a; the offsets are element indices and are not checked (the callers'
    loops keep them in bounds). A masked block takes ``tail`` (1 <= tail <= VL) after
    ``srs``, and reads and writes no lane past it.
    """

    def block(typingctx, a, b, c, po, m, k, a_off, ams, aks, b_off, bms, bks, c_off, crs,
              s, s_off, srs, *tail):
        sig = types.void(a, b, c, po, m, k, a_off, ams, aks, b_off, bms, bks, c_off, crs,
                         s, s_off, srs, *tail)

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
            m_, k_, a_off_, ams_, aks_, b_off_, bms_, bks_, c_off_, crs_ = args[4:14]
            sptr = context.make_array(sig.args[14])(context, builder, args[14]).data
            s_off_, srs_ = args[15], args[16]
            lanes = _Lanes(builder, vty, args[17] if masked else None)
            po = [builder.load(builder.gep(pptr, [ir.Constant(i64, r)])) for r in range(NR)]
            fma = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vty, [vty] * 3),
                f"llvm.fma.v{vl}{ft.intrinsic_name}",
            )

            def vptr(base: Any, index: Any) -> Any:
                return builder.bitcast(builder.gep(base, [index]), vty.as_pointer())

            def index(off: Any, stride: Any, r: int, v: int) -> Any:
                row = builder.mul(ir.Constant(i64, r), stride)
                return builder.add(builder.add(off, row), ir.Constant(i64, v * vl))

            last = nv - 1  # the vector a masked block masks
            slots = [[cgutils.alloca_once(builder, vty) for _ in range(nv)] for _ in range(NR)]
            for r in range(NR):
                for v in range(nv):
                    value = lanes.load(vptr(sptr, index(s_off_, srs_, r, v)), v == last)
                    builder.store(value, slots[r][v])
            zeros = ir.Constant(ir.VectorType(i32, vl), [0] * vl)
            undef = ir.Constant(vty, ir.Undefined)
            with cgutils.for_range(builder, m_) as rows:
                a_row = builder.add(a_off_, builder.mul(rows.index, ams_))
                b_row = builder.add(b_off_, builder.mul(rows.index, bms_))
                with cgutils.for_range(builder, k_) as taps:
                    ai = builder.add(a_row, builder.mul(taps.index, aks_))
                    bi = builder.add(b_row, builder.mul(taps.index, bks_))
                    wv = [lanes.load(vptr(bptr, builder.add(bi, ir.Constant(i64, v * vl))),
                                     v == last) for v in range(nv)]
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
                    lanes.store(builder.load(slots[r][v]),
                                vptr(cptr, index(c_off_, crs_, r, v)), v == last)
            return context.get_dummy_value()

        return sig, codegen

    if masked:  # numba reads the signature's arity: one more argument, the tail

        def masked_block(typingctx, a, b, c, po, m, k, a_off, ams, aks, b_off, bms, bks,
                         c_off, crs, s, s_off, srs, tail):
            return block(typingctx, a, b, c, po, m, k, a_off, ams, aks, b_off, bms, bks,
                         c_off, crs, s, s_off, srs, tail)

        return intrinsic(masked_block)

    def whole_block(typingctx, a, b, c, po, m, k, a_off, ams, aks, b_off, bms, bks, c_off,
                    crs, s, s_off, srs):
        return block(typingctx, a, b, c, po, m, k, a_off, ams, aks, b_off, bms, bks, c_off,
                     crs, s, s_off, srs)

    return intrinsic(whole_block)


_block2 = _make_block(2)  # NR x 2 VL: the main block
_block1 = _make_block(1)  # NR x VL: a last VL channels
_block_half = _make_block(1, 2)  # NR x VL / 2: a last VL / 2 channels
_block2_masked = _make_block(2, masked=True)  # NR x (VL + tail): a last VL + 1 .. 2 VL - 1
_block1_masked = _make_block(1, masked=True)  # NR x tail: a last 1 .. VL - 1 channels
# NR x (VL + tail) in half-width vectors: a last VL + 1 .. 1.5 VL channels (HALF_RESTS)
_block3_half_masked = _make_block(3, 2, masked=True)

#: Whether a rest of VL + 1 .. 1.5 VL channels takes three half-width vectors (the last
#: masked) instead of two whole ones: on AMD's Zen cores, whose 512-bit multiply-adds
#: run as two 256-bit halves, 24 lanes of work cost 3/4 of 32.
HALF_RESTS = _llvm.get_host_cpu_name().startswith("znver")


@numba.njit(cache=True, nogil=True, inline="always")
def block(left: int, vl: int, a: Any, b: Any, c: Any, po: Any, m: int, k: int, a_off: int,
          ams: int, aks: int, b_off: int, bms: int, bks: int, c_off: int, crs: int, s: Any,
          s_off: int, srs: int) -> int:
    """The widest block that fits ``left`` (>= 1) output channels, run with the blocks'
    arguments (:func:`_make_block`); returns its width: 2 VL, else all of ``left`` in a
    masked 2-vector block (VL < left < 2 VL; three half-width vectors up to 1.5 VL with
    :data:`HALF_RESTS`), VL, VL / 2, or all of ``left`` in a masked 1-vector block."""
    if left >= 2 * vl:
        _block2(a, b, c, po, m, k, a_off, ams, aks, b_off, bms, bks, c_off, crs, s, s_off, srs)
        return 2 * vl
    if left > vl and HALF_RESTS and 2 * left <= 3 * vl:
        _block3_half_masked(a, b, c, po, m, k, a_off, ams, aks, b_off, bms, bks, c_off, crs,
                            s, s_off, srs, left - vl)
        return left
    if left > vl:
        _block2_masked(a, b, c, po, m, k, a_off, ams, aks, b_off, bms, bks, c_off, crs,
                       s, s_off, srs, left - vl)
        return left
    if left == vl:
        _block1(a, b, c, po, m, k, a_off, ams, aks, b_off, bms, bks, c_off, crs, s, s_off, srs)
        return vl
    if left == vl // 2:
        _block_half(a, b, c, po, m, k, a_off, ams, aks, b_off, bms, bks, c_off, crs, s, s_off, srs)
        return vl // 2
    _block1_masked(a, b, c, po, m, k, a_off, ams, aks, b_off, bms, bks, c_off, crs, s, s_off,
                   srs, left)
    return left
