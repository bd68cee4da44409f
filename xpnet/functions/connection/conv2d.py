"""2-D convolution (cross-correlation, as in every framework) and its transpose.

Both ops live in this file because each is the other's input gradient: the deconvnet of
Zeiler & Fergus projects a feature map back to pixels with conv_transpose2d, which is
exactly conv2d's backward pass for the input. The engines that compute them (im2col +
GEMM in channels-last layout, and on the CPU the direct sums and register blocks, the
batch split over threads) and the choice among them are in :mod:`xpnet.cpu.conv`.
"""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.cpu import conv as conv_engines
from xpnet.cpu.conv import Geometry
from xpnet.function import Function
from xpnet.functions.array.pad import pad as pad_op
from xpnet.functions.pooling._window import padding4
from xpnet.functions.utils import out_size, pair

__all__ = ["conv2d", "conv_transpose2d"]


class Conv2dFunction(Function):
    """y[n, o, p, q] = b[o] + sum_{c, i, j} w[o, c, i, j] xpad[n, c, sh p + dh i, sw q + dw j].

    (c runs over the input channels of o's group.) In matrix form (one group):
    Y (M, O) = X_col (M, K) @ W_mat (K, O) + b with X_col = im2col(x), K = (C/g) kh kw.
    Gradients:
    dE/dW_mat = X_col^T @ dE/dY, dE/db = sum over (n, p, q) of dE/dY,
    dE/dX_col = dE/dY @ W_mat^T, folded back onto the input by col2im (dE/dx).
    """

    def __init__(self, geo: Geometry) -> None:
        self.geo = geo

    def forward(self, x: Any, w: Any, b: Any = None) -> Any:
        xp = backend.get_array_module(x)
        needs = self.needs_input_grad
        self.x = x if len(needs) > 1 and needs[1] else None  # (N, C, H, W) for dE/dw
        self.w = w if needs and needs[0] else None  # (O, C/g, kh, kw) for dE/dx
        self.has_bias = b is not None
        y = conv_engines.forward(x, w, b, self.geo, xp)  # (N, oH, oW, O)
        return y.transpose(0, 3, 1, 2)  # (N, O, oH, oW) view, channels-last memory

    def backward(self, gy: Any) -> tuple[Any, ...]:
        xp = backend.get_array_module(gy)
        needs = self.needs_input_grad
        need = (needs[0], needs[1], self.has_bias and needs[2])
        gx, gw, gb = conv_engines.backward(self.x, self.w, gy, self.geo, need, xp)
        return (gx, gw, gb) if self.has_bias else (gx, gw)


class ConvTranspose2dFunction(Function):
    """Transposed conv: y[n, c, sh p + dh i - ph, ..] += w[o, c, i, j] x[n, o, p, q]

    Here w is (C_in, C_out/g, kh, kw) (PyTorch's convention), i.e. the weight of the
    convolution from y's channels to x's. In matrix form: Y_col (M, K) = X (M, C_in) @
    W_mat^T, folded by col2im. Gradients: dE/dx = conv2d(dE/dy, w) (same stride, padding,
    dilation, groups); dE/dw = conv2d's weight gradient with input dE/dy and output
    gradient x; dE/db = sum of dE/dy over (n, h, w).
    """

    def __init__(self, geo: Geometry) -> None:
        self.geo = geo  # geometry of the convolution y -> x

    def forward(self, x: Any, w: Any, b: Any = None) -> Any:
        xp = backend.get_array_module(x)
        needs = self.needs_input_grad
        self.x = x if len(needs) > 1 and needs[1] else None  # (N, C_in, H, W) for dE/dw
        self.w = w if needs and needs[0] else None  # (C_in, C_out/g, kh, kw) for dE/dx
        self.has_bias = b is not None
        y, _, _ = conv_engines.backward(None, w, x, self.geo, (True, False, False), xp)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)  # y is a fresh buffer of ours: add in place
        return y

    def backward(self, gy: Any) -> tuple[Any, ...]:
        xp = backend.get_array_module(gy)
        needs = self.needs_input_grad
        gx = gw = gb = None
        if needs[0]:
            gx = conv_engines.forward(gy, self.w, None, self.geo, xp).transpose(0, 3, 1, 2)
        if needs[1]:
            # the convolution gy -> x has input gy and output gradient x
            _, gw, _ = conv_engines.backward(gy, None, self.x, self.geo, (False, True, False), xp)
        if self.has_bias and needs[2]:
            gb = gy.sum(axis=(0, 2, 3))  # (C_out,)
        return (gx, gw, gb) if self.has_bias else (gx, gw)


def _check(op: str, x: Any, w: Any, b: Any, groups: Any, in_axis: int) -> None:
    """Shape and dtype checks shared by both ops (w's in-channel axis is ``in_axis``)."""
    if len(x.shape) != 4:
        raise ValueError(f"{op}: expected a 4-d input (N, C, H, W), got shape {tuple(x.shape)}")
    if len(w.shape) != 4:
        raise ValueError(f"{op}: expected a 4-d weight, got shape {tuple(w.shape)}")
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be an int >= 1, got {groups!r}")
    C = x.shape[1]
    if C % groups:
        raise ValueError(f"{op}: input channels {C} are not divisible by groups={groups}")
    if w.shape[in_axis] * (groups if in_axis == 1 else 1) != C:
        want = C // groups if in_axis == 1 else C
        raise ValueError(
            f"{op}: weight {tuple(w.shape)} expects {w.shape[in_axis]} input channels on "
            f"axis {in_axis}, expected {want} (input has C={C}, groups={groups})"
        )
    out_ch = w.shape[0] if in_axis == 1 else w.shape[1] * groups
    if in_axis == 1 and out_ch % groups:
        raise ValueError(f"{op}: output channels {out_ch} are not divisible by groups={groups}")
    if b is not None and tuple(b.shape) != (out_ch,):
        raise ValueError(f"{op}: bias must have shape ({out_ch},), got {tuple(b.shape)}")
    for name, a in (("weight", w), ("bias", b)):
        if a is not None and a.dtype != x.dtype:
            raise TypeError(f"{op}: {name} dtype {a.dtype} differs from the input's {x.dtype}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating input, got {x.dtype}")


def _args(op: str, stride: Any, padding: Any, dilation: Any) -> tuple[tuple[int, int], ...]:
    return (
        pair(stride, "stride", op, 1),
        pair(padding, "padding", op, 0),
        pair(dilation, "dilation", op, 1),
    )


def _pad_unequal(x: Any, padding: Any, op: str) -> tuple[Any, Any]:
    """(x, padding) with the part of a per-side padding that differs between the two
    sides of an axis laid out by :func:`xpnet.functions.pad` (zeros; its backward cuts the
    border off) and the rest, equal on both sides, left to the engines as a pair."""
    if not (isinstance(padding, (tuple, list)) and len(padding) == 4):
        return x, padding
    top, bottom, left, right = padding4(padding, op)
    ph, pw = min(top, bottom), min(left, right)
    if (top, left) != (bottom, right):
        x = pad_op(x, (left - pw, right - pw, top - ph, bottom - ph))
    return x, (ph, pw)


def conv2d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> Any:
    """2-D convolution of a batch of multi-channel images with a bank of kernels.

    y[n, o, p, q] = b[o] + sum_{c, i, j} w[o, c, i, j] x[n, g(o) Cg + c, S p + D i - P,
    S q + D j - P] (zero outside the image), where g(o) is the group of output channel
    o: with ``groups=g`` the channels are cut into g independent convolutions (AlexNet's
    two-GPU split is groups=2). Computed as im2col + one GEMM per group; gradients:
    dE/dw = X_col^T dE/dY, dE/db = sum_{n,p,q} dE/dy, dE/dx = col2im(dE/dY W_mat^T).

    Args:
        x: input Tensor or array (N, C, H, W), float32 or float64.
        weight: kernels (O, C/groups, kH, kW), same dtype as x.
        bias: optional (O,).
        stride: S, an int or (sH, sW), >= 1.
        padding: P, zeros added on each side, an int or (pH, pW), >= 0; or four ints
            (top, bottom, left, right) for a padding per side (ONNX's ``pads``; what
            differs between two sides is laid out by :func:`xpnet.functions.pad` first,
            the rest by the engines, so an equal padding computes as before).
        dilation: D, spacing between kernel taps, an int or (dH, dW), >= 1.
        groups: g, dividing both C and O.

    Returns:
        Tensor (N, O, oH, oW). Its memory is channels-last (NHWC strides, like PyTorch's
        ``channels_last``): the next convolution reads it without a copy.

    Shape:
        oH = floor((H + 2 pH - dH (kH - 1) - 1) / sH) + 1, likewise oW (with a padding
        per side: H + p_top + p_bottom in place of H + 2 pH).

    Raises:
        ValueError: a shape that does not fit (not 4-d, channels not divisible by groups,
            weight in-channels not C/groups, bias not (O,), kernel larger than the
            padded input), before any work.
        TypeError: weight or bias dtype differing from the input's.

    Example:
        >>> x = Tensor(numpy.ones((1, 1, 4, 4), numpy.float32))
        >>> conv2d(x, Tensor(numpy.ones((2, 1, 3, 3), numpy.float32)), padding=1).shape
        (1, 2, 4, 4)
    """
    op = "conv2d"
    if len(x.shape) == 4:
        x, padding = _pad_unequal(x, padding, op)
    (sh, sw), (ph, pw), (dh, dw) = _args(op, stride, padding, dilation)
    _check(op, x, weight, bias, groups, 1)
    N, C, H, W = x.shape
    kh, kw = weight.shape[2:]
    for axis, size, k, p, d in (("height", H, kh, ph, dh), ("width", W, kw, pw, dw)):
        if d * (k - 1) + 1 > size + 2 * p:
            raise ValueError(
                f"{op}: kernel {axis} {k} (dilated to {d * (k - 1) + 1}) is larger than the "
                f"padded input {axis} {size} + 2*{p} = {size + 2 * p}"
            )
    geo = Geometry(kh, kw, sh, sw, ph, pw, dh, dw, groups, H, W,
                   out_size(H, kh, sh, ph, dh), out_size(W, kw, sw, pw, dw))
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Conv2dFunction(geo)(*inputs)


def conv_transpose2d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int | tuple[int, int] = 0,
    groups: int = 1,
    dilation: int | tuple[int, int] = 1,
) -> Any:
    """Transposed convolution ("deconvolution"): the input gradient of :func:`conv2d`.

    Each input pixel x[n, c, h, w] spreads w[c, o, i, j] x[n, c, h, w] onto output pixel
    (S h + D i - P, S w + D j - P): y = conv2d's dE/dx with dE/dy := x. The deconvnet
    (Zeiler & Fergus 2013) projects feature maps back to pixels this way, with the same
    (transposed) filters. Gradients: dE/dx = conv2d(dE/dy, w, same arguments),
    dE/dw = conv2d's weight gradient (input dE/dy, output gradient x), dE/db =
    sum_{n,h,w} dE/dy. Arguments follow ``torch.nn.functional.conv_transpose2d``.

    Args:
        x: input Tensor or array (N, C_in, H, W).
        weight: (C_in, C_out/groups, kH, kW), same dtype as x.
        bias: optional (C_out,).
        stride, padding, dilation: those of the convolution being transposed.
        output_padding: extra rows/columns on the bottom/right of the output (to pick
            among the input sizes a strided conv2d maps to the same size); must be
            smaller than the stride or the dilation.
        groups: g, dividing C_in and C_out.

    Returns:
        Tensor (N, C_out, oH, oW), channels-last memory as for conv2d.

    Shape:
        oH = (H - 1) sH - 2 pH + dH (kH - 1) + output_padding + 1, likewise oW.

    Example:
        >>> x = Tensor(numpy.ones((1, 2, 3, 3), numpy.float32))
        >>> conv_transpose2d(x, Tensor(numpy.ones((2, 1, 2, 2), numpy.float32)), stride=2).shape
        (1, 1, 6, 6)
    """
    op = "conv_transpose2d"
    (sh, sw), (ph, pw), (dh, dw) = _args(op, stride, padding, dilation)
    oph, opw = pair(output_padding, "output_padding", op, 0)
    _check(op, x, weight, bias, groups, 0)
    if (oph >= max(sh, dh)) or (opw >= max(sw, dw)):
        raise ValueError(
            f"{op}: output_padding {(oph, opw)} must be smaller than the stride {(sh, sw)} "
            f"or the dilation {(dh, dw)}"
        )
    N, C, H, W = x.shape
    kh, kw = weight.shape[2:]
    oH = (H - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    oW = (W - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    if oH < 1 or oW < 1:
        raise ValueError(f"{op}: the output size ({oH}, {oW}) is not positive for input "
                         f"{(H, W)}, kernel {(kh, kw)}, stride {(sh, sw)}, padding {(ph, pw)}")
    geo = Geometry(kh, kw, sh, sw, ph, pw, dh, dw, groups, oH, oW, H, W)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return ConvTranspose2dFunction(geo)(*inputs)
