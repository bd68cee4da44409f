"""The one place that knows NumPy from CuPy.

Every op asks ``xp = get_array_module(x)`` and then writes ``xp.*``: the same code runs
on the CPU (NumPy, BLAS) and on the GPU (CuPy, CUDA). CuPy is imported lazily and only
counts as available when a CUDA device really answers, so a machine with CuPy installed
but no GPU still works on the CPU.

Devices are named by strings: ``"cpu"`` and ``"cuda"`` (or ``"cuda:N"``).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy

#: Floating dtype used when none is asked for (as AlexNet and PyTorch do).
DEFAULT_DTYPE = numpy.float32


@functools.lru_cache(maxsize=1)
def _cupy() -> Any:
    """Return the ``cupy`` module if it imports and a CUDA device answers, else None."""
    try:
        import cupy  # noqa: PLC0415  (optional dependency, imported lazily)
    except Exception:  # ImportError, or a broken CUDA install raising at import
        return None
    try:
        if not cupy.cuda.is_available():
            return None
    except Exception:
        return None
    return cupy


def cuda_available() -> bool:
    """True when CuPy is installed and at least one CUDA device is usable."""
    return _cupy() is not None


def get_array_module(*xs: Any) -> Any:
    """Return ``cupy`` if any argument is a CuPy array (or a Tensor on the GPU), else ``numpy``.

    Args:
        *xs: arrays, Tensors, scalars or None.

    Returns:
        The module whose functions apply to the arguments.

    Example:
        >>> xp = get_array_module(numpy.zeros(3))
        >>> xp is numpy
        True
    """
    cp = _cupy()
    if cp is None:
        return numpy
    for x in xs:
        x = getattr(x, "data", x) if not isinstance(x, numpy.ndarray) else x
        if isinstance(x, cp.ndarray):
            return cp
    return numpy


def is_array(x: Any) -> bool:
    """True for a NumPy array or, where CuPy works, a CuPy array."""
    if isinstance(x, numpy.ndarray):
        return True
    cp = _cupy()
    return cp is not None and isinstance(x, cp.ndarray)


def _parse_device(device: str) -> tuple[str, int]:
    """Split ``"cuda:1"`` into ``("cuda", 1)``; validate the name."""
    if not isinstance(device, str):
        got = type(device).__name__
        raise TypeError(f"device must be a string like 'cpu' or 'cuda', got {got}")
    name, _, index = device.partition(":")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")
    if name == "cpu" and index:
        raise ValueError(f"device 'cpu' takes no index, got {device!r}")
    try:
        number = int(index) if index else 0
    except ValueError:
        raise ValueError(f"bad device index in {device!r}: expected 'cuda:N'") from None
    return name, number


def check_device(device: str) -> str:
    """Validate a device string and that it is usable here; return it normalised.

    Raises:
        ValueError: unknown name, or ``cuda`` asked for on a machine without a usable GPU.
    """
    name, number = _parse_device(device)
    if name == "cuda" and not cuda_available():
        raise ValueError(
            f"device {device!r} asked for, but no CUDA device is usable here "
            "(install the 'gpu' extra, cupy, on a machine with an NVIDIA GPU)"
        )
    return "cpu" if name == "cpu" else f"cuda:{number}"


def device_of(x: Any) -> str:
    """The device an array lives on: ``"cpu"`` or ``"cuda:N"``."""
    x = getattr(x, "data", x) if not is_array(x) else x
    if isinstance(x, numpy.ndarray) or numpy.isscalar(x):
        return "cpu"
    return f"cuda:{x.device.id}"


def to_device(x: Any, device: str) -> Any:
    """Return array ``x`` on ``device`` (no copy when it is already there).

    Args:
        x: a NumPy or CuPy array (or a Python scalar).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    """
    name, number = _parse_device(device)
    if name == "cpu":
        if isinstance(x, numpy.ndarray):
            return x
        cp = _cupy()
        if cp is not None and isinstance(x, cp.ndarray):
            return cp.asnumpy(x)
        return numpy.asarray(x)
    check_device(device)
    cp = _cupy()
    with cp.cuda.Device(number):
        return cp.asarray(x)


def to_numpy(x: Any) -> numpy.ndarray:
    """Return ``x`` (NumPy or CuPy array, Tensor, scalar) as a NumPy array on the host."""
    return to_device(getattr(x, "data", x) if not is_array(x) else x, "cpu")


def float_dtype(dtype: Any = None) -> numpy.dtype:
    """Resolve a floating dtype: None gives :data:`DEFAULT_DTYPE`; non-floats are refused."""
    dt = numpy.dtype(DEFAULT_DTYPE if dtype is None else dtype)
    if dt.kind != "f":
        raise TypeError(f"expected a floating dtype (float32 or float64), got {dt}")
    return dt
