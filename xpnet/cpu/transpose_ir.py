"""A VL x VL transpose in vector registers, written as LLVM IR (numba, imported lazily).

Why: the dense layers' register blocks (:mod:`xpnet.cpu.dense_blocks`) read the
examples as the columns of x^T (in, M), and x arrives as (M, in). NumPy's strided copy
moves about one value a cycle, and far less when a row is a power of two of bytes long
(128 x 1024 float32: 376 us, the rows' cache sets collide); numba's scalar loops, at
2-3 cycles a value, are slower still. In registers a tile of VL x VL values (16 x 16
float32 with AVX-512) is VL loads, log2(VL) rounds of VL two-source shuffles and VL
stores.

The rounds: let r_i be row i of the tile (lanes l). Round h (h = 1, 2, 4, .., VL / 2)
swaps bit h of the row index with bit h of the lane index: for each pair i, i + h with
bit h of i clear,

    r'_i[l]     = r_i[l]       if bit h of l is clear, else r_{i+h}[l - h],
    r'_{i+h}[l] = r_i[l + h]   if bit h of l is clear, else r_{i+h}[l];

after every bit has been swapped, r'_i[l] = r_l[i]: the transpose.

numba caches the loops that inline :func:`tile` keyed on their own files: a change here
must come with a change of ``TRANSPOSE_IR_REVISION`` in ``dense_blocks.py`` and
``relu_kernels.py``.
"""

from __future__ import annotations

from typing import Any

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from xpnet.cpu.conv.blocks_ir import VECTOR_BYTES

__all__ = ["tile"]


def _round_masks(n: int, h: int) -> tuple[list[int], list[int]]:
    """The two shuffles of round ``h`` on n-lane rows (a, b) = (r_i, r_{i+h}): indices
    into the concatenation a ++ b (lane l of b is n + l)."""
    low = [lane if not lane & h else n + lane - h for lane in range(n)]
    high = [lane + h if not lane & h else n + lane for lane in range(n)]
    return low, high


@intrinsic
def tile(typingctx: Any, src: Any, src_off: Any, src_stride: Any, dst: Any, dst_off: Any,
         dst_stride: Any) -> Any:
    """``tile(src, src_off, src_stride, dst, dst_off, dst_stride)`` sets, for i, l < VL,

        dst[dst_off + l dst_stride + i] = src[src_off + i src_stride + l],

    src and dst 1-D C-contiguous arrays of one float dtype, VL = VECTOR_BYTES / itemsize.
    The offsets are element indices and are not checked: the caller keeps them in bounds.
    """
    sig = types.void(src, src_off, src_stride, dst, dst_off, dst_stride)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        dt = sig.args[0].dtype
        n = VECTOR_BYTES // (dt.bitwidth // 8)
        vty = ir.VectorType(context.get_value_type(dt), n)
        i64 = ir.IntType(64)
        mask_ty = ir.VectorType(ir.IntType(32), n)
        sptr = context.make_array(sig.args[0])(context, builder, args[0]).data
        dptr = context.make_array(sig.args[3])(context, builder, args[3]).data
        s_off, s_stride, d_off, d_stride = args[1], args[2], args[4], args[5]

        def row(base: Any, off: Any, stride: Any, i: int) -> Any:
            at = builder.add(off, builder.mul(ir.Constant(i64, i), stride))
            return builder.bitcast(builder.gep(base, [at]), vty.as_pointer())

        rows = [builder.load(row(sptr, s_off, s_stride, i), align=1) for i in range(n)]
        h = 1
        while h < n:
            low, high = _round_masks(n, h)
            out = list(rows)
            for i in range(n):
                if not i & h:
                    a, b = rows[i], rows[i + h]
                    out[i] = builder.shuffle_vector(a, b, ir.Constant(mask_ty, low))
                    out[i + h] = builder.shuffle_vector(a, b, ir.Constant(mask_ty, high))
            rows = out
            h *= 2
        for i in range(n):
            builder.store(rows[i], row(dptr, d_off, d_stride, i), align=1)
        return context.get_dummy_value()

    return sig, codegen
