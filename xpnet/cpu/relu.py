"""ReLU's compiled pass: one read and one write per value (``relu_kernels.py``, numba).

Taken for float NumPy arrays whose memory is one block (NCHW, the NHWC memory conv2d
returns, or the F-order memory of a dense layer's blocks output), cut along that block
over xpnet's threads when it is large, and for a 2-d backward whose dE/dy and y are
one in rows and one transposed (:func:`backward`); the op keeps its NumPy path for
everything else (and without numba, or under ``xpnet.cpu.engines(compiled=False)``).
Both give the same bits.
"""

from __future__ import annotations

from typing import Any

import numpy

from xpnet.cpu.kernels import compilable, kernels_module
from xpnet.cpu.settings import current
from xpnet.cpu.threads import elementwise_whole, kernel_signal, split_elementwise

__all__ = ["backward", "forward", "forward_inplace"]


def _flat(a: Any) -> Any:
    """A 1-D view of a's memory when it is one C-contiguous block (NCHW, or the NHWC
    memory conv2d returns) or one F-contiguous block (the transposed view y = (y^T)^T
    that a dense layer's register blocks return), else None."""
    if a.flags.c_contiguous:
        return a.reshape(-1)  # (size,) the C-order memory
    if a.ndim == 4 and a.transpose(0, 2, 3, 1).flags.c_contiguous:
        return a.transpose(0, 2, 3, 1).reshape(-1)  # (N H W C,) the NHWC memory in order
    if a.flags.f_contiguous:
        return a.T.reshape(-1)  # the F-order memory in order
    return None


def _flat_views(*arrays: Any) -> list[Any] | None:
    """1-D views of arrays that share one dtype and one layout that is one block of
    memory (element i of each is the same element), else None."""
    first = arrays[0]
    flats = []
    for a in arrays:  # a loop, not any() over generators: this runs at every ReLU
        if a is not first and (a.strides != first.strides or a.dtype != first.dtype):
            return None
        flat = _flat(a)
        if flat is None:
            return None
        flats.append(flat)
    return flats


def forward(x: Any, y: Any) -> bool:
    """y = max(x, 0) by the compiled pass, if it takes x and y (same shape and layout);
    returns whether it ran (False: nothing written)."""
    if not current().compiled or not compilable(x):
        return False
    ker = kernels_module("relu_kernels")  # None without numba
    flats = _flat_views(x, y) if ker is not None else None
    if flats is None:
        return False
    xf, yf = flats
    if elementwise_whole(xf.size):  # whole, here
        ker.forward(xf, yf, 0, xf.size, *kernel_signal())
        return True
    split_elementwise(xf, lambda lo, hi: ker.forward(xf, yf, lo, hi, *kernel_signal()),
                      signalled=True)
    return True


def forward_inplace(a: Any, split: bool = True) -> bool:
    """a = max(a, 0) in place by the compiled pass, if it takes ``a`` (a float NumPy
    array whose memory is one block); returns whether it ran (False: nothing written).
    NumPy's ``maximum(a, 0, out=a)`` runs at a fifteenth of its speed (32,768 float32:
    22 against 1.5 us, one thread). ``split``: cut a large ``a`` over xpnet's threads
    (False: in this thread, for work among BLAS's own threads)."""
    if not current().compiled or not compilable(a):
        return False
    ker = kernels_module("relu_kernels")
    flat = _flat(a) if ker is not None else None
    if flat is None:
        return False
    if not split or elementwise_whole(flat.size):  # whole, here (no closure to make)
        ker.forward_inplace(flat, 0, flat.size, *kernel_signal())
        return True
    split_elementwise(flat, lambda lo, hi: ker.forward_inplace(flat, lo, hi, *kernel_signal()),
                      signalled=True)
    return True


def backward(gy: Any, y: Any) -> Any:
    """gx = gy * (y > 0) by a compiled pass, or None where none takes gy and y (then
    nothing was computed).

    gy and y in one layout whose memory is one block (:func:`_flat`): one pass, gx in
    that layout. 2-d gy in rows (C-contiguous) and y the transposed view of C-contiguous
    memory (a dense layer's blocks output, ReLU's y in x's layout), or the other way
    round: :func:`~xpnet.cpu.relu_kernels.backward_transposed`, gx in gy's layout (256
    x 500 float32, one thread: 52 us, against NumPy's 497 us).
    """
    if not current().compiled or not compilable(gy) or not compilable(y):
        return None
    ker = kernels_module("relu_kernels")
    if ker is None or gy.dtype != y.dtype or gy.shape != y.shape:
        return None
    flats = _flat_views(gy, y)
    if flats is not None:
        gf, yf = flats
        gx = numpy.empty_like(y)  # y's layout, so one block of memory as y's is
        xf = _flat(gx)
        if elementwise_whole(gf.size):  # whole, here
            ker.backward(gf, yf, xf, 0, gf.size, *kernel_signal())
            return gx
        split_elementwise(gf, lambda lo, hi: ker.backward(gf, yf, xf, lo, hi,
                                                          *kernel_signal()), signalled=True)
        return gx
    if gy.ndim != 2 or gy.shape[0] < 1:
        return None
    if gy.flags.c_contiguous and y.T.flags.c_contiguous:
        g, yt = gy, y.T  # (M, N) and (N, M)
    elif gy.T.flags.c_contiguous and y.flags.c_contiguous:
        g, yt = gy.T, y  # the same in the transposed space: gx^T = gy^T * (y^T > 0)
    else:
        return None
    out = numpy.empty(g.shape, dtype=g.dtype)  # (M, N) in g's rows
    split_elementwise(out, lambda lo, hi: ker.backward_transposed(g, yt, out, lo, hi,
                                                                  *kernel_signal()),
                      signalled=True)
    return out if g is gy else out.T
