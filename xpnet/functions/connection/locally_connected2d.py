"""Locally connected 2-D layer: a convolution whose weights are not shared across positions.

DeepFace (Taigman et al. 2014) used such layers where different regions of an aligned
face have different local statistics. Unlike Chainer's version this one has padding too.
"""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.functions.utils import out_size, pair

__all__ = ["locally_connected2d"]


def _windows(xpad: Any, kh: int, kw: int, sh: int, sw: int, oH: int, oW: int, xp: Any) -> Any:
    """(N, C, Hp, Wp) -> (oH, oW, N, C, kh, kw) strided view of every receptive field."""
    sn, sc, sy, sx = xpad.strides
    N, C = xpad.shape[:2]
    return xp.lib.stride_tricks.as_strided(
        xpad, shape=(oH, oW, N, C, kh, kw), strides=(sy * sh, sx * sw, sn, sc, sy, sx)
    )


class LocallyConnected2dFunction(Function):
    """y[n, o, p, q] = b[o, p, q] + sum_{c, i, j} w[p, q, o, c, i, j] xpad[n, c, S p + i, S q + j].

    Per output position l = (p, q), a dense layer on its receptive field: with
    X_l (N, K) the im2col rows of position l and W_l (O, K), K = C kh kw,
    Y_l = X_l W_l^T, done as one batched matmul over the L = oH oW positions.
    Gradients: dE/dW_l = dE/dY_l^T X_l, dE/db = sum_n dE/dy, dE/dX_l = dE/dY_l W_l
    folded back onto the input by col2im.
    """

    def __init__(self, stride: tuple[int, int], padding: tuple[int, int]) -> None:
        self.stride, self.padding = stride, padding

    def forward(self, x: Any, w: Any, b: Any = None) -> Any:
        xp = backend.get_array_module(x)
        (sh, sw), (ph, pw) = self.stride, self.padding
        oH, oW, co, C, kh, kw = w.shape
        N, L, K = x.shape[0], oH * oW, C * kh * kw
        xpad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
        view = _windows(xpad, kh, kw, sh, sw, oH, oW, xp)  # (oH, oW, N, C, kh, kw)
        cols = xp.ascontiguousarray(view).reshape(L, N, K)  # (L, N, K)
        wl = w.reshape(L, co, K)  # (L, O, K) view
        y = xp.matmul(cols, wl.transpose(0, 2, 1))  # (L, N, O)
        y = y.reshape(oH, oW, N, co).transpose(2, 3, 0, 1)  # (N, O, oH, oW) view
        if b is not None:
            y = y + b  # (N, O, oH, oW) + (O, oH, oW), a new array: y is a view
        needs = self.needs_input_grad
        self.cols = cols if len(needs) > 1 and needs[1] else None  # (L, N, K) for dE/dw
        self.w = w if needs and needs[0] else None  # (oH, oW, O, C, kh, kw) for dE/dx
        self.x_shape, self.w_shape, self.has_bias = x.shape, w.shape, b is not None
        return y

    def backward(self, gy: Any) -> tuple[Any, ...]:
        xp = backend.get_array_module(gy)
        needs = self.needs_input_grad
        N, co, oH, oW = gy.shape
        L = oH * oW
        gl = xp.ascontiguousarray(gy.transpose(2, 3, 0, 1)).reshape(L, N, co)  # (L, N, O)
        gx = gw = gb = None
        if needs[1]:
            gw = xp.matmul(gl.transpose(0, 2, 1), self.cols)  # (L, O, K)
            gw = gw.reshape(self.w_shape)  # (oH, oW, O, C, kh, kw): K is ordered (C, kh, kw)
        if needs[0]:
            gx = self._input_grad(gl, xp)
        if self.has_bias and needs[2]:
            gb = gy.sum(axis=0)  # (O, oH, oW)
        return (gx, gw, gb) if self.has_bias else (gx, gw)

    def _input_grad(self, gl: Any, xp: Any) -> Any:
        """col2im of dE/dX_l = dE/dY_l W_l: one strided add per kernel offset."""
        (sh, sw), (ph, pw) = self.stride, self.padding
        oH, oW, co, C, kh, kw = self.w.shape
        N, _, H, W = self.x_shape
        gcols = xp.matmul(gl, self.w.reshape(oH * oW, co, C * kh * kw))  # (L, N, K)
        gcols = gcols.reshape(oH, oW, N, C, kh, kw)
        gxpad = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=gl.dtype)  # (N, C, Hp, Wp)
        for i in range(kh):
            for j in range(kw):
                rows = slice(i, i + sh * (oH - 1) + 1, sh)
                cols = slice(j, j + sw * (oW - 1) + 1, sw)
                win = gxpad[:, :, rows, cols]  # (N, C, oH, oW) strided window
                win += gcols[:, :, :, :, i, j].transpose(2, 3, 0, 1)  # (N, C, oH, oW)
        return gxpad[:, :, ph : ph + H, pw : pw + W]  # (N, C, H, W) view


def locally_connected2d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> Any:
    """Locally connected layer: a 2-D convolution with a different kernel at every position.

    y[n, o, p, q] = b[o, p, q] + sum_{c, i, j} w[p, q, o, c, i, j] x[n, c, S p + i - P,
    S q + j - P] (zero outside the image). Computed as im2col then one batched matmul
    over the oH oW positions. Gradients: dE/dw[p, q] = dE/dY_pq^T X_pq,
    dE/db = sum_n dE/dy, dE/dx = col2im(dE/dY_pq W_pq).

    Args:
        x: input Tensor or array (N, C, H, W).
        weight: (oH, oW, O, C, kH, kW), one (O, C, kH, kW) kernel bank per output
            position; same dtype as x.
        bias: optional (O, oH, oW), one bias per output unit (unshared too).
        stride: S, an int or (sH, sW), >= 1.
        padding: P, an int or (pH, pW), >= 0.

    Returns:
        Tensor (N, O, oH, oW).

    Shape:
        oH = floor((H + 2 pH - kH) / sH) + 1 must equal weight.shape[0]; likewise oW.

    Raises:
        ValueError: shapes that do not fit, before any work.

    Example:
        >>> x = Tensor(numpy.ones((2, 3, 6, 6), numpy.float32))
        >>> w = Tensor(numpy.ones((3, 3, 4, 3, 2, 2), numpy.float32))
        >>> locally_connected2d(x, w, stride=2).shape
        (2, 4, 3, 3)
    """
    op = "locally_connected2d"
    (sh, sw), (ph, pw) = pair(stride, "stride", op, 1), pair(padding, "padding", op, 0)
    if len(x.shape) != 4:
        raise ValueError(f"{op}: expected a 4-d input (N, C, H, W), got shape {tuple(x.shape)}")
    if len(weight.shape) != 6:
        raise ValueError(
            f"{op}: expected a 6-d weight (oH, oW, co, C, kH, kW), got shape {tuple(weight.shape)}"
        )
    N, C, H, W = x.shape
    oH, oW, co, wc, kh, kw = weight.shape
    if wc != C:
        raise ValueError(f"{op}: weight {tuple(weight.shape)} expects C={wc}, input has C={C}")
    if kh > H + 2 * ph or kw > W + 2 * pw:
        raise ValueError(
            f"{op}: kernel {(kh, kw)} is larger than the padded input {(H + 2 * ph, W + 2 * pw)}"
        )
    want = (out_size(H, kh, sh, ph, 1), out_size(W, kw, sw, pw, 1))
    if (oH, oW) != want:
        raise ValueError(
            f"{op}: weight has {(oH, oW)} output positions, but input {(H, W)} with kernel "
            f"{(kh, kw)}, stride {(sh, sw)}, padding {(ph, pw)} gives {want}"
        )
    if bias is not None and tuple(bias.shape) != (co, oH, oW):
        raise ValueError(f"{op}: bias must have shape {(co, oH, oW)}, got {tuple(bias.shape)}")
    for name, a in (("weight", weight), ("bias", bias)):
        if a is not None and a.dtype != x.dtype:
            raise TypeError(f"{op}: {name} dtype {a.dtype} differs from the input's {x.dtype}")
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return LocallyConnected2dFunction((sh, sw), (ph, pw))(*inputs)
