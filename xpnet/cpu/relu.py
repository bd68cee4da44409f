"""ReLU's compiled pass: one read and one write per value (``relu_kernels.py``, numba).

Taken for float NumPy arrays whose memory is one block (NCHW, or the NHWC memory conv2d
returns), cut along that block over xpnet's threads when it is large; the op keeps its
NumPy path for everything else (and without numba, or under
``xpnet.cpu.engines(compiled=False)``). Both give the same bits.
"""

from __future__ import annotations

from typing import Any

from xpnet.cpu.kernels import compilable, kernels_module
from xpnet.cpu.settings import current
from xpnet.cpu.threads import kernel_signal, split_elementwise

__all__ = ["backward", "forward", "forward_inplace"]


def _flat(a: Any) -> Any:
    """A 1-D view of a's memory when it is one C-contiguous block (NCHW, or the NHWC
    memory conv2d returns), else None."""
    if a.flags.c_contiguous:
        return a.reshape(-1)  # (size,) the C-order memory
    if a.ndim == 4 and a.transpose(0, 2, 3, 1).flags.c_contiguous:
        return a.transpose(0, 2, 3, 1).reshape(-1)  # (N H W C,) the NHWC memory in order
    return None


def _flat_views(*arrays: Any) -> list[Any] | None:
    """1-D views of arrays that share one dtype and one layout that is one block of
    memory (element i of each is the same element), else None."""
    first = arrays[0]
    if any(a.strides != first.strides or a.dtype != first.dtype for a in arrays[1:]):
        return None
    flats = [_flat(a) for a in arrays]
    return None if any(f is None for f in flats) else flats


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
    if not split:
        ker.forward_inplace(flat, 0, flat.size, *kernel_signal())
        return True
    split_elementwise(flat, lambda lo, hi: ker.forward_inplace(flat, lo, hi, *kernel_signal()),
                      signalled=True)
    return True


def backward(gy: Any, y: Any, gx: Any) -> bool:
    """gx = gy * (y > 0) by the compiled pass, if it takes the three arrays; returns
    whether it ran (False: nothing written)."""
    if not current().compiled or not compilable(gy):
        return False
    ker = kernels_module("relu_kernels")
    flats = _flat_views(gy, y, gx) if ker is not None else None
    if flats is None:
        return False
    gf, yf, xf = flats
    split_elementwise(gf, lambda lo, hi: ker.backward(gf, yf, xf, lo, hi, *kernel_signal()),
                      signalled=True)
    return True
