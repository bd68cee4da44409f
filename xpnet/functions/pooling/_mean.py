"""Window mean and its backward, shared by ``avg_pool2d`` and ``l2_pool2d``.

y[n, c, i, j] = (1 / D[i, j]) sum_{a, b} x_pad[n, c, i*sh + a, j*sw + b] (zero padding),
dE/dx[n, c, h, w] = sum over the windows (i, j) holding (h, w) of dE/dy[n, c, i, j] / D[i, j],
with D the divisor of :func:`xpnet.functions.pooling._window.divisor`.
"""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.functions._utils import to_nhwc
from xpnet.functions.pooling._window import (
    Geometry,
    channels_last,
    pad,
    padded_shape,
    unpad,
    windows,
)


def mean_forward(x: Any, g: Geometry, div: Any, ker: Any, impl: str = "auto") -> Any:
    """The window means (N, C, oh, ow) of x (N, C, H, W); ``ker`` None for the views path.

    With the compiled kernels, channels-last input (conv2d's output) gives channels-last
    output (an NCHW view of NHWC memory); anything else is worked on as NCHW planes.
    """
    xp = backend.get_array_module(x)
    n, c = x.shape[:2]
    if ker is not None and channels_last(x, impl):
        y = xp.empty((n, g.oh, g.ow, c), dtype=x.dtype)  # (N, oh, ow, C)
        ker.avg_forward_cl(to_nhwc(x), g.window, div, y)
        return y.transpose(0, 3, 1, 2)  # (N, C, oh, ow) view of NHWC memory
    if ker is not None:
        y = xp.empty((n * c, g.oh, g.ow), dtype=x.dtype)  # (P, oh, ow), P = N*C
        planes = xp.ascontiguousarray(x).reshape(n * c, g.h, g.w)  # (P, H, W)
        ker.avg_forward(planes, g.window, div, y)
        return y.reshape(n, c, g.oh, g.ow)
    y = None
    for _, view in windows(pad(x, g, 0.0), g):  # view (N, C, oh, ow)
        if y is None:
            y = view.copy()
        else:
            y += view
    y /= div
    return y


def mean_backward(gy: Any, g: Geometry, div: Any, ker: Any, impl: str = "auto") -> Any:
    """dE/dx (N, C, H, W) of the window mean, from dE/dy (N, C, oh, ow), in dE/dy's layout."""
    xp = backend.get_array_module(gy)
    n, c = gy.shape[:2]
    if ker is not None and channels_last(gy, impl):
        gx = xp.empty((n, g.h, g.w, c), dtype=gy.dtype)  # (N, H, W, C)
        ker.avg_backward_cl(to_nhwc(gy), g.window, div, gx)
        return gx.transpose(0, 3, 1, 2)  # (N, C, H, W) view of NHWC memory
    if ker is not None:
        gx = xp.empty((n * c, g.h, g.w), dtype=gy.dtype)  # (P, H, W)
        gy3 = xp.ascontiguousarray(gy).reshape(n * c, g.oh, g.ow)  # (P, oh, ow)
        ker.avg_backward(gy3, g.window, div, gx)
        return gx.reshape(n, c, g.h, g.w)
    share = gy / div  # (N, C, oh, ow): what each input of window (i, j) receives
    gx_pad = xp.zeros(padded_shape(g, n, c), dtype=gy.dtype)  # (N, C, Hp, Wp)
    for _, view in windows(gx_pad, g):
        view += share  # one strided add per window offset
    gx = unpad(gx_pad, g)
    return gx if gx is gx_pad else xp.ascontiguousarray(gx)
