"""Loading the compiled CPU kernels: numba modules, optional and imported lazily.

Every compiled kernel sits in a module of :mod:`xpnet.cpu` that imports numba at its top
(``conv/direct.py``, ``conv/blocks.py``, ``pooling/kernels.py`` and
``pooling/kernels_nhwc.py``, ``relu_kernels.py``, ``lrn_kernels.py``, ``loss_kernels.py``,
``optim_kernels.py``, and ``spin_kernels.py``, the thread pool's wait). They are imported
here, on first use, so that importing xpnet never compiles anything or needs numba. Each
has a NumPy path in its op (the pool its lock-based twin), the reference it is tested
against and the fallback without numba or under ``xpnet.cpu.engines(compiled=False)``.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

import numpy

from xpnet.cpu.settings import current

__all__ = ["compilable", "kernels_module", "load"]


def compilable(a: Any) -> bool:
    """Whether the compiled CPU kernels can take ``a``: a float32/float64 NumPy array."""
    return isinstance(a, numpy.ndarray) and a.dtype in (numpy.float32, numpy.float64)


@functools.cache
def kernels_module(module: str) -> Any:
    """The module ``xpnet.cpu.<module>``, imported once; None without numba (whatever the
    settings: :func:`load` is the gate that also reads them)."""
    try:
        return importlib.import_module(f"xpnet.cpu.{module}")
    except ImportError:
        return None


def load(module: str, *arrays: Any) -> Any:
    """The kernels module ``xpnet.cpu.<module>`` if it may run on ``arrays``, else None.

    None when compiled kernels are off (``xpnet.cpu.engines(compiled=False)``), when one
    of ``arrays`` is not a float32/float64 NumPy array, or when numba is not installed.

    Example:
        >>> load("relu_kernels", x)   # the module, or None: then the op's NumPy path
    """
    if not current().compiled:
        return None
    for a in arrays:  # a loop, not all(...): this runs at every op, several times a step
        if not compilable(a):
            return None
    return kernels_module(module)
