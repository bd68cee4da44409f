"""LRN's compiled channels-last pass (``lrn_kernels.py``, numba).

Taken for a 4-d float NumPy input in channels-last memory (conv2d's output), or any 4-d
one under ``xpnet.cpu.engines(layout="nhwc")``; the op keeps its NumPy path for
everything else. Same bits as the NumPy path for beta = 0.75.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from xpnet.cpu.kernels import load
from xpnet.cpu.layout import is_channels_last, to_nhwc
from xpnet.cpu.settings import current

__all__ = ["Saved", "backward", "forward"]


class Saved(NamedTuple):
    """What the compiled forward pass keeps for its backward pass, all (N H W, C) rows."""

    kernels: Any  # the module xpnet.cpu.lrn_kernels
    x: Any  # the input a
    s: Any  # the base s = k + alpha/n * window sum of a^2
    p: Any  # s^-beta


def forward(x: Any, size: int, alpha: float, beta: float, k: float) -> tuple[Any, Saved] | None:
    """(y, saved) of LRN over the channels of x (N, C, H, W) by the compiled kernel, or
    None for the op's NumPy path. y is (N, C, H, W), a view of NHWC memory."""
    layout = current().layout
    if x.ndim != 4 or layout == "nchw" or (layout == "auto" and not is_channels_last(x)):
        return None
    kernels = load("lrn_kernels", x)
    if kernels is None:
        return None
    N, C, H, W = x.shape
    xr = to_nhwc(x).reshape(-1, C)  # (N H W, C), no copy for conv2d's output
    y, s, p = kernels.forward(xr, size, alpha, beta, k)
    return y.reshape(N, H, W, C).transpose(0, 3, 1, 2), Saved(kernels, xr, s, p)  # (N, C, H, W)


def backward(saved: Saved, gy: Any, size: int, alpha: float, beta: float) -> Any:
    """dE/dx (N, C, H, W), a view of NHWC memory, from dE/dy and the forward's ``saved``."""
    N, C, H, W = gy.shape
    gyr = to_nhwc(gy).reshape(-1, C)  # (N H W, C)
    gx = saved.kernels.backward(gyr, saved.x, saved.s, saved.p, size, alpha, beta)
    return gx.reshape(N, H, W, C).transpose(0, 3, 1, 2)  # (N, C, H, W) view
