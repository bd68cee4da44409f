"""Window mean and its backward, shared by ``avg_pool2d`` and ``l2_pool2d``.

y[n, c, i, j] = (1 / D[i, j]) sum_{a, b} x_pad[n, c, i*sh + a, j*sw + b] (zero padding),
dE/dx[n, c, h, w] = sum over the windows (i, j) holding (h, w) of dE/dy[n, c, i, j] / D[i, j],
with D the divisor of :func:`xpnet.functions.pooling._window.divisor`.
"""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.cpu import pooling as cpu_pooling
from xpnet.functions.pooling._window import Geometry, pad, padded_shape, unpad, windows


def mean_forward(x: Any, g: Geometry, div: Any) -> tuple[Any, Any]:
    """(y, plan): the window means y (N, C, oh, ow) of x (N, C, H, W), and the compiled
    kernels' plan for :func:`mean_backward` (None: the views path ran).

    With the compiled kernels (:mod:`xpnet.cpu.pooling`), channels-last input (conv2d's
    output) gives channels-last output (an NCHW view of NHWC memory).
    """
    fast = cpu_pooling.mean_forward(x, g, div)
    if fast is not None:
        return fast
    y = None
    for _, view in windows(pad(x, g, 0.0), g):  # view (N, C, oh, ow)
        if y is None:
            y = view.copy()
        else:
            y += view
    y /= div
    return y, None


def mean_backward(gy: Any, g: Geometry, div: Any, plan: Any) -> Any:
    """dE/dx (N, C, H, W) of the window mean, from dE/dy (N, C, oh, ow), in dE/dy's layout;
    ``plan``: what :func:`mean_forward` returned with y."""
    if plan is not None:
        return cpu_pooling.mean_backward(plan, gy, g, div)
    xp = backend.get_array_module(gy)
    n, c = gy.shape[:2]
    share = gy / div  # (N, C, oh, ow): what each input of window (i, j) receives
    gx_pad = xp.zeros(padded_shape(g, n, c), dtype=gy.dtype)  # (N, C, Hp, Wp)
    for _, view in windows(gx_pad, g):
        view += share  # one strided add per window offset
    gx = unpad(gx_pad, g)
    return gx if gx is gx_pad else xp.ascontiguousarray(gx)
