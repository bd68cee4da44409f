"""glibc's allocator thresholds for a training process: an explicit call, never an import.

Why: glibc serves every allocation above its mmap threshold (128 KiB at first, adapting
upwards only as such blocks are freed) with fresh pages from the kernel, and the first
write to each 4 KiB page faults. A training step allocates many activation and gradient
arrays of 0.5-8 MiB, so it pays those faults at every step (the MLP's step 10.3 against
7.4 ms: docs/benchmarks.md, "Engine thresholds"). The CLI and the Trainer call
:func:`tune_allocator`; a library user calls it when xpnet owns the process.
"""

from __future__ import annotations

import ctypes
import platform

__all__ = ["tune_allocator"]

#: glibc's ``mallopt`` parameters (malloc.h), the values xpnet sets, and glibc's defaults.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
HOST_MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit machines
HOST_TRIM_THRESHOLD = 1 << 30
GLIBC_DEFAULT_THRESHOLD = 128 << 10


def tune_allocator(keep_freed: bool = True) -> bool:
    """Keep freed host arrays in the process for reuse (glibc), instead of unmapping them.

    Sets ``M_MMAP_THRESHOLD`` to :data:`HOST_MMAP_THRESHOLD` (blocks up to 32 MiB come
    from the heap) and ``M_TRIM_THRESHOLD`` to :data:`HOST_TRIM_THRESHOLD` (up to 1 GiB of
    free heap is kept rather than returned to the kernel), as PyTorch's caching
    allocators keep their blocks. The price: the process's resident memory stays near its
    peak. The setting is the whole process's (every library in it allocates through
    glibc), so xpnet never makes it on import; a no-op where the C library is not glibc.

    Args:
        keep_freed: False sets both thresholds to glibc's initial 128 KiB instead (fixed,
            no longer adaptive), so that freed blocks go back to the kernel and the
            resident size follows the memory in use (for measuring peak memory).

    Returns:
        True when both settings were applied.

    Example:
        >>> xpnet.cpu.tune_allocator()   # at the start of a training script
        True
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    mmap, trim = ((HOST_MMAP_THRESHOLD, HOST_TRIM_THRESHOLD) if keep_freed
                  else (GLIBC_DEFAULT_THRESHOLD, GLIBC_DEFAULT_THRESHOLD))
    ok = mallopt(_M_MMAP_THRESHOLD, mmap) == 1
    return mallopt(_M_TRIM_THRESHOLD, trim) == 1 and ok
