"""The compiled pooling path: max and window-mean pooling on NCHW planes or NHWC memory.

What the pooling ops call: each function runs the compiled kernels (``kernels.py`` for
(N*C, H, W) planes, ``kernels_nhwc.py`` for channels-last memory, numba) or returns None,
and the op then takes its NumPy/CuPy views path, the reference. The layout follows the
input's (channels-last for conv2d's output, so a network stays channels-last), or
``xpnet.cpu.engines(layout=...)``. The choice made at the forward pass is returned as a
:class:`Plan`, which the backward pass gets back, so that both passes run on the same
kernels whatever the settings in force when backward runs.

``g`` below is a pooling geometry: any object with the sizes ``h, w, oh, ow`` and
``window`` = (kh, kw, sh, sw, ph, pw) (``xpnet.functions.pooling._window.Geometry``).
The kernels bound each window to the input, so a trailing padding other than the
leading one (padding per side) needs nothing of them; a dilated window (``g.dilated``)
they do not compute, and such a geometry takes the views path.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy

from xpnet.cpu import relu as cpu_relu
from xpnet.cpu.kernels import load
from xpnet.cpu.layout import is_channels_last, to_nhwc
from xpnet.cpu.settings import current

__all__ = ["Plan", "max_backward", "max_forward", "mean_backward", "mean_forward"]


class Plan(NamedTuple):
    """The compiled kernels a forward pass ran, for its backward pass."""

    kernels: Any  # the module xpnet.cpu.pooling.kernels
    layout: str  # engines().layout at the forward pass: "auto", "nchw" or "nhwc"
    nhwc: bool  # whether the forward pass worked on channels-last memory

    def channels_last(self, a: Any) -> bool:
        """Whether the kernels work on ``a`` (N, C, H, W) as NHWC memory: forced, or with
        ``"auto"`` when ``a`` is an NCHW view of NHWC data (:func:`is_channels_last`)."""
        return self.layout == "nhwc" or (self.layout == "auto" and is_channels_last(a))


def _plan(x: Any, g: Any) -> Plan | None:
    """The kernels and layout for input ``x``, or None for the views path (also for a
    dilated window, which the kernels do not take)."""
    if getattr(g, "dilated", False):
        return None
    layout = current().layout
    kernels = load("pooling.kernels", x)
    if kernels is None:
        return None
    plan = Plan(kernels, layout, False)
    return plan._replace(nhwc=plan.channels_last(x))


def max_forward(x: Any, g: Any, keep: bool, idx_dtype: str,
                clip: bool = False) -> tuple[Any, Any, Plan] | None:
    """(y, switches, plan) of max pooling x (N, C, H, W), or None for the views path
    (no compiled kernels, or a window of x holds a NaN: the views path follows PyTorch's
    NaN rule). On channels-last memory the kernels let a NaN win its window, so it is y
    that is checked, after them (a 2 x 2 pool's y is a quarter of x: the wide LeNet's
    first pool input at batch 256, 256 x 28 x 28 x 32, takes 0.72 ms to check, its y
    0.07: the timeit commands in docs/benchmarks.md); the planes kernel never selects a
    NaN (the select costs it 1.4-1.6x its time, where the channels-last kernels,
    vectorised over the channels, do not notice it), so planes are checked first.

    y and the switches are (N, C, oh, ow), the switches the flat index h*W + w of each
    maximum in ``idx_dtype`` (None unless ``keep``); both NHWC memory when x's is.
    ``clip``: y = max(y, 0), a ReLU after the pool (an inference plan's), with NumPy's
    bits: fused into the channels-last kernels' stores, a pass after the planes kernel
    (:func:`xpnet.cpu.relu.forward_inplace`).
    """
    plan = _plan(x, g)
    if plan is None:
        return None
    n, c = x.shape[:2]
    ker = plan.kernels
    if plan.nhwc:
        xh = to_nhwc(x)  # (N, H, W, C), no copy for conv2d's output
        y = numpy.empty((n, g.oh, g.ow, c), dtype=x.dtype)  # (N, oh, ow, C)
        idx = numpy.empty(y.shape if keep else (1, 1, 1, c), dtype=idx_dtype)
        ker.max_forward_cl(xh, g.window, y, idx, keep, clip)
        if ker.has_nan(y):  # a window held a NaN (a ReLU keeps it)
            return None
        switches = idx.transpose(0, 3, 1, 2) if keep else None  # (N, C, oh, ow) view
        return y.transpose(0, 3, 1, 2), switches, plan  # (N, C, oh, ow) view of NHWC
    planes = numpy.ascontiguousarray(x).reshape(n * c, g.h, g.w)  # (P, H, W), P = N*C
    if ker.has_nan(planes):  # checked first: the planes kernel never selects a NaN
        return None
    y = numpy.empty((n * c, g.oh, g.ow), dtype=x.dtype)  # (P, oh, ow)
    idx = numpy.empty(y.shape if keep else (1, 1, 1), dtype=idx_dtype)
    ker.max_forward(planes, g.window, y, idx, keep)
    if clip and not cpu_relu.forward_inplace(y):  # the compiled in-place ReLU
        numpy.maximum(y, 0, out=y)
    switches = idx.reshape(n, c, g.oh, g.ow) if keep else None  # (N, C, oh, ow)
    return y.reshape(n, c, g.oh, g.ow), switches, plan  # (N, C, oh, ow)


def max_backward(plan: Plan, gy: Any, switches: Any, g: Any) -> Any:
    """dE/dx (N, C, H, W) of max pooling: each dE/dy goes to its window's maximum, in the
    layout of the forward pass (NHWC memory as an NCHW view, or NCHW)."""
    n, c = gy.shape[:2]
    if plan.nhwc:
        gx = numpy.empty((n, g.h * g.w, c), dtype=gy.dtype)  # (N, H*W, C)
        idxh = switches.transpose(0, 2, 3, 1)  # (N, oh, ow, C), C-contiguous
        plan.kernels.max_backward_cl(to_nhwc(gy), idxh, gx)
        return gx.reshape(n, g.h, g.w, c).transpose(0, 3, 1, 2)  # (N, C, H, W) view
    gx = numpy.empty((n * c, g.h * g.w), dtype=gy.dtype)  # (P, H*W) flat planes
    gy3 = numpy.ascontiguousarray(gy).reshape(n * c, g.oh, g.ow)  # (P, oh, ow)
    idx3 = switches.reshape(n * c, g.oh, g.ow)  # (P, oh, ow)
    plan.kernels.max_backward(gy3, idx3, gx)
    return gx.reshape(n, c, g.h, g.w)  # (N, C, H, W)


def mean_forward(x: Any, g: Any, div: Any) -> tuple[Any, Plan] | None:
    """(y, plan): the window means (N, C, oh, ow) of x (N, C, H, W), each window's sum
    divided by ``div`` (oh, ow); None for the views path. Channels-last input gives
    channels-last output."""
    plan = _plan(x, g)
    if plan is None:
        return None
    n, c = x.shape[:2]
    if plan.nhwc:
        y = numpy.empty((n, g.oh, g.ow, c), dtype=x.dtype)  # (N, oh, ow, C)
        plan.kernels.avg_forward_cl(to_nhwc(x), g.window, div, y)
        return y.transpose(0, 3, 1, 2), plan  # (N, C, oh, ow) view of NHWC memory
    y = numpy.empty((n * c, g.oh, g.ow), dtype=x.dtype)  # (P, oh, ow), P = N*C
    planes = numpy.ascontiguousarray(x).reshape(n * c, g.h, g.w)  # (P, H, W)
    plan.kernels.avg_forward(planes, g.window, div, y)
    return y.reshape(n, c, g.oh, g.ow), plan  # (N, C, oh, ow)


def mean_backward(plan: Plan, gy: Any, g: Any, div: Any) -> Any:
    """dE/dx (N, C, H, W) of the window mean from dE/dy (N, C, oh, ow), in dE/dy's layout
    (or the one forced at the forward pass)."""
    n, c = gy.shape[:2]
    if plan.channels_last(gy):
        gx = numpy.empty((n, g.h, g.w, c), dtype=gy.dtype)  # (N, H, W, C)
        plan.kernels.avg_backward_cl(to_nhwc(gy), g.window, div, gx)
        return gx.transpose(0, 3, 1, 2)  # (N, C, H, W) view of NHWC memory
    gx = numpy.empty((n * c, g.h, g.w), dtype=gy.dtype)  # (P, H, W)
    gy3 = numpy.ascontiguousarray(gy).reshape(n * c, g.oh, g.ow)  # (P, oh, ow)
    plan.kernels.avg_backward(gy3, g.window, div, gx)
    return gx.reshape(n, c, g.h, g.w)  # (N, C, H, W)
