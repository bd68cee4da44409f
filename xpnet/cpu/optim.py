"""The optimisers' compiled updates (``optim_kernels.py``, numba): one fused pass each.

The optimiser asks :func:`update_kernels` whether the kernels take its arrays, and keeps
its NumPy/CuPy path (the same bits) otherwise. :func:`run_update` runs a kernel over a
large parameter in slices on xpnet's threads: the update is element by element, so the
slices give the same bits as one pass.
"""

from __future__ import annotations

from typing import Any

import numpy

from xpnet.cpu.kernels import compilable, kernels_module
from xpnet.cpu.settings import current
from xpnet.cpu.threads import elementwise_whole, kernel_signal, split_elementwise

__all__ = ["run_update", "update_kernels"]


def update_kernels(w: Any, g: Any, *buffers: Any) -> Any:
    """The compiled update kernels (:mod:`xpnet.cpu.optim_kernels`) if they take the arrays.

    They take a C-contiguous float32/float64 NumPy parameter ``w``, and a gradient and
    state buffers of its dtype, shape and layout (the kernels index them all by w's flat
    index, unchecked), where numba is installed and compiled kernels are on; None
    otherwise (the optimiser then runs its NumPy/CuPy path).
    """
    if not current().compiled or not compilable(w) or not w.flags.c_contiguous:
        return None
    for a in (g, *buffers):
        if (not isinstance(a, numpy.ndarray) or a.dtype != w.dtype or a.shape != w.shape
                or not a.flags.c_contiguous):
            return None
    return kernels_module("optim_kernels")


def run_update(kernel: Any, arrays: tuple[Any, ...], *scalars: Any) -> None:
    """``kernel(*arrays, *scalars, *kernel_signal())`` on flat arrays of one size (the
    kernel's last three arguments: :func:`xpnet.cpu.spin_kernels.signal`'s), cut over
    xpnet's threads from :data:`xpnet.cpu.threads.ELEMENTWISE_MIN_SIZE` values on (a
    large layer's update streams its weights, gradient and buffer through memory: the MLP
    784-1024-1024-10's 1.9 M parameters are ~37 MB read and written per step).

    Example:
        >>> run_update(kernels.sgd_update, (w, g, b), lr, momentum, keep, decay, False, False)
    """
    if elementwise_whole(arrays[0].size):
        kernel(*arrays, *scalars, *kernel_signal())  # whole, here: no closure, no slices
        return
    split_elementwise(arrays[0], lambda lo, hi: kernel(*(a[lo:hi] for a in arrays), *scalars,
                                                       *kernel_signal()), signalled=True)
