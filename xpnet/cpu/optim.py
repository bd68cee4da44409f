"""The optimisers' compiled updates (``optim_kernels.py``, numba): one fused pass each.

The optimiser asks :func:`update_kernels` whether the kernels take its arrays, and keeps
its NumPy/CuPy path (the same bits) otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy

from xpnet.cpu.kernels import compilable, kernels_module
from xpnet.cpu.settings import current

__all__ = ["update_kernels"]


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
