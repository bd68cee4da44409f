"""The convolution engines of conv2d and conv_transpose2d, and the choice among them.

:func:`forward` and :func:`backward` are what the ops call: each asks
:mod:`~xpnet.cpu.conv.select` for the engine a shape takes (or the one forced by
``xpnet.cpu.engines``) and runs it:

- ``blocks.py`` (with ``blocks_ir.py``): register-blocked loops summed straight from the
  channels-last image (numba and LLVM IR), and dE/dx scattered from dE/dy's pixels;
- ``direct.py``: the direct sums of a convolution with few weights (numba);
- ``gemm.py`` (with ``columns.py``): im2col + GEMM, every shape and every array module.

Arrays are worked on channels-last: y comes back as (N, oH, oW, O) memory, which the op
hands on as an NCHW-shaped view. Notation: :mod:`~xpnet.cpu.conv.geometry`.
"""

from __future__ import annotations

from typing import Any

from xpnet.cpu.conv import gemm, select
from xpnet.cpu.conv.geometry import Geometry, full_conv_geometry, out_size
from xpnet.cpu.conv.select import conv_engine

__all__ = ["Geometry", "backward", "conv_engine", "forward", "out_size"]


def forward(x: Any, w: Any, b: Any, geo: Geometry, xp: Any) -> Any:
    """y = conv(x, w) + b, NHWC; x (N, C, H, W) any strides -> y (N, oH, oW, O).

    By the register blocks or the direct sums where they are chosen, else by im2col +
    GEMM (see :mod:`~xpnet.cpu.conv.select`).
    """
    cg, co = w.shape[1], w.shape[0]
    name, module = select.engine(x, geo, cg, co // geo.groups, "forward")
    if name == "blocks":  # register blocks summed from the image, no column matrix
        return module.run_forward(x, w, b, geo)
    if name == "direct":  # few weights: summed from the image, no column matrix
        y = xp.empty((x.shape[0], geo.oh, geo.ow, co), dtype=x.dtype)  # (N, oH, oW, O)
        module.forward(x, w, b, (geo.ph, geo.pw, geo.dh, geo.dw), y)
        return y
    return gemm.forward(x, w, b, geo, xp, select.use_rows(cg))


def backward(
    x: Any, w: Any, gy: Any, geo: Geometry, need: tuple[bool, bool, bool], xp: Any
) -> tuple[Any, Any, Any]:
    """Gradients of y = conv(x, w) + b from gy (N, O, oH, oW), any strides.

    Returns ``(gx, gw, gb)`` (None where ``need`` is False): gx (N, C, H, W) as a view of
    a channels-last array, gw (O, Cg, kh, kw), gb (O,). ``x`` may be None when only gx is
    needed, ``w`` when only gw and gb are.
    """
    need_x, need_w, need_b = need
    gx = gw = gb = None
    if need_x:
        method, fold = select.input_grad_method(w.shape[1], gy, geo)
        if method == "conv":
            gx = _input_grad_by_conv(w, gy, geo, xp)
        elif method == "scatter":
            gx = fold.run_input_grad(w, gy, geo)
        else:
            gx = gemm.input_grad_by_col2im(w, gy, geo, xp, fold)
    if need_w or need_b:
        gw, gb = _param_grads(x, gy, geo, need_w, need_b, xp)
    return gx, gw, gb


def _input_grad_by_conv(w: Any, gy: Any, geo: Geometry, xp: Any) -> Any:
    """dE/dx = conv(dE/dy, w flipped and transposed per group), on any engine.

    Faster than col2im's kh kw thin GEMMs (a (m, Og) @ (Og, Cg) product has only Og terms
    per output) and its strided adds: one convolution with Og kh kw terms per output.
    """
    co, cg, kh, kw = w.shape
    g = geo.groups
    wg = w.reshape(g, co // g, cg, kh, kw).transpose(0, 2, 1, 3, 4)  # (g, Cg, Og, kh, kw)
    wt = wg[..., ::-1, ::-1].reshape(g * cg, co // g, kh, kw)  # (C, Og, kh, kw) flipped
    gxh = forward(gy, wt, None, full_conv_geometry(geo), xp)  # (N, H, W, C)
    return gxh.transpose(0, 3, 1, 2)  # (N, C, H, W) view, channels-last memory


def _param_grads(
    x: Any, gy: Any, geo: Geometry, need_w: bool, need_b: bool, xp: Any
) -> tuple[Any, Any]:
    """(dE/dw (O, Cg, kh, kw), dE/db (O,)), None where not needed, on the chosen engine
    (with dE/dw not needed, dE/db is a sum of dE/dy on the GEMM path)."""
    co = gy.shape[1]
    cg = x.shape[1] // geo.groups if need_w else 0
    name, module = (select.engine(x, geo, cg, co // geo.groups, "weight_grad") if need_w
                    else ("gemm", None))
    if name == "blocks":  # register blocks over the taps, no column matrix
        return module.run_param_grads(x, gy, geo, need_b)
    if name == "direct":  # few weights: summed from the input, no column matrix
        return module.weight_grad(x, gy, geo.kh, geo.kw, (geo.ph, geo.pw, geo.dh, geo.dw),
                                  need_b)
    return gemm.param_grads(x, gy, geo, need_w, need_b, xp, need_w and select.use_rows(cg))
