"""2-D max pooling over NCHW feature maps, with the switches (argmax) PyTorch returns."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.cpu import pooling as cpu_pooling
from xpnet.function import Function
from xpnet.functions.pooling._window import (
    Geometry,
    check_input,
    geometry,
    pad,
    padded_shape,
    unpad,
    windows,
)
from xpnet.tensor import Tensor

__all__ = ["max_pool2d"]


def _offset_dtype(g: Geometry) -> Any:
    """Smallest unsigned dtype that holds a window offset 0 .. kh*kw - 1."""
    return "uint8" if g.kh * g.kw <= 256 else "uint32"


def offsets_to_indices(arg: Any, g: Geometry) -> Any:
    """Window offsets k = a*kw + b (N, C, oh, ow) -> flat input indices h*W + w (int64).

    Window (i, j) starts at (i*sh - ph, j*sw - pw), so offset (a, b) is input position
    (i*sh - ph + a*dh, j*sw - pw + b*dw).
    """
    xp = backend.get_array_module(arg)
    arg = arg.astype("int64")
    rows = (xp.arange(g.oh) * g.sh - g.ph)[:, None] + (arg // g.kw) * g.dh  # (N, C, oh, ow)
    cols = (xp.arange(g.ow) * g.sw - g.pw)[None, :] + (arg % g.kw) * g.dw  # (N, C, oh, ow)
    return rows * g.w + cols


class MaxPool2dFunction(Function):
    """y[n, c, i, j] = max_{a<kh, b<kw} x_pad[n, c, i*sh + a*dh, j*sw + b*dw], x_pad = x
    padded by -inf.

    dE/dx[n, c, h, w] = sum of dE/dy[n, c, i, j] over the windows (i, j) whose maximum is
    x[n, c, h, w]: the error flows only to the selected neuron (the switch); every other
    input gets 0. Ties go to the first maximum in row-major window order, as in PyTorch
    on the CPU; a NaN is selected and propagates.

    On the CPU the compiled kernels of :mod:`xpnet.cpu.pooling` compute the same (in
    the input's layout, NCHW or channels-last); an input holding a NaN, or a dilated
    window, takes the views path below, which follows PyTorch's rule.

    Args:
        g: the window geometry.
        want_indices: keep the flat indices (int64, h*W + w) in ``self.indices``.
    """

    def __init__(self, g: Geometry, want_indices: bool = False) -> None:
        self.g, self.want_indices = g, want_indices

    def forward(self, x: Any) -> Any:
        keep = self.want_indices or self.needs_input_grad[0]
        fast = cpu_pooling.max_forward(x, self.g, keep, self._switch_dtype())
        if fast is None:  # no compiled kernels, a NaN in x or a dilated window
            self.plan = None
            return self._forward_views(x)
        y, indices, self.plan = fast
        if keep:
            self.indices = indices  # (N, C, oh, ow) flat h*W + w of each maximum
        return y

    def forward_relu(self, x: Any) -> Any:
        """max(max pool(x), 0) for an inference plan (:mod:`xpnet.nn.inference`), the
        same bits as :meth:`forward` then ReLU: on the compiled kernels the ReLU is
        applied as they store y (one pass over the pool's output saved), elsewhere
        after. No gradient: this Function must need none (it keeps nothing)."""
        if any(self.needs_input_grad) or self.want_indices:
            raise RuntimeError("forward_relu: for a pool that keeps no switches")
        fast = cpu_pooling.max_forward(x, self.g, False, self._switch_dtype(), clip=True)
        if fast is not None:
            return fast[0]
        y = self._forward_views(x)
        return backend.get_array_module(y).maximum(y, 0, out=y)

    def _switch_dtype(self) -> str:
        """int64 for the switches a caller asked for (PyTorch's dtype), else int32: kept
        only for backward, half the memory to write and read (an input plane of more than
        2^31 positions is not a case here)."""
        return "int64" if self.want_indices or self.g.h * self.g.w >= 2**31 else "int32"

    def _forward_views(self, x: Any) -> Any:
        """Running max (and argmax offset) over the kh*kw strided views of x padded by -inf."""
        xp = backend.get_array_module(x)
        g = self.g
        keep = self.want_indices or self.needs_input_grad[0]
        y = arg = None
        for k, view in windows(pad(x, g, -float("inf")), g):  # view (N, C, oh, ow)
            if y is None:
                y = view.copy()
                if keep:
                    arg = xp.zeros(y.shape, dtype=_offset_dtype(g))
                    take, picked = xp.empty(y.shape, dtype=bool), xp.empty_like(arg)
                continue
            if keep:
                xp.greater(view, y, out=take)  # PyTorch's rule: strict >, and NaN wins
                take |= xp.isnan(view)
                # offsets grow along the loop, so "arg = k where take" is a max; a boolean
                # mask assignment (arg[take] = k) is 30x slower in NumPy
                xp.multiply(take, picked.dtype.type(k), out=picked)
                xp.maximum(arg, picked, out=arg)
            xp.maximum(y, view, out=y)  # the same choice: maximum propagates NaN
        if keep:
            self.arg = arg  # (N, C, oh, ow) window offset a*kw + b of each maximum
            if self.want_indices:
                self.indices = offsets_to_indices(arg, g)
        return y

    def backward(self, gy: Any) -> Any:
        g = self.g
        if self.plan is not None:  # the compiled kernels of the forward pass
            return cpu_pooling.max_backward(self.plan, gy, self.indices, g)
        xp = backend.get_array_module(gy)
        n, c = gy.shape[:2]
        # scatter by window offset: one strided add per offset, no np.add.at
        gx_pad = xp.zeros(padded_shape(g, n, c), dtype=gy.dtype)  # (N, C, Hp, Wp)
        picked = xp.empty_like(gy)
        for k, view in windows(gx_pad, g):
            xp.multiply(gy, self.arg == k, out=picked)
            view += picked
        gx = unpad(gx_pad, g)
        return gx if gx is gx_pad else xp.ascontiguousarray(gx)


def max_pool2d(
    x: Any,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    ceil_mode: bool = False,
    return_indices: bool = False,
    dilation: int | tuple[int, int] = 1,
) -> Any:
    """2-D max pooling: the largest value of each kh x kw window, PyTorch's semantics.

    y[n, c, i, j] = max_{0<=a<kh, 0<=b<kw} x[n, c, i*sh - ph + a*dh, j*sw - pw + b*dw],
    where positions outside the input count as -inf (so padding is never selected); the
    dilation (dh, dw) spaces the taps, as ``torch.nn.functional.max_pool2d``'s and ONNX
    MaxPool's ``dilations``.

    Backward: the error flows only to the selected neuron (the "switch" of Zeiler and
    Fergus 2013),
    dE/dx[n, c, h, w] = sum over windows (i, j) whose max is at (h, w) of dE/dy[n, c, i, j];
    every other input gets 0. Overlapping windows (stride < kernel, AlexNet's 3x3/2) can
    select the same input twice: it gets both errors. Ties: the first maximum in row-major
    window order gets the gradient (PyTorch's CPU choice); a NaN in a window is selected.

    Args:
        x: Tensor or array (N, C, H, W), floating.
        kernel_size: window (kh, kw) or one int for both.
        stride: step (sh, sw); None means ``kernel_size`` (non-overlapping windows).
        padding: implicit -inf padding: one int, (ph, pw) on both sides, or four ints
            (top, bottom, left, right) (ONNX's ``pads`` per side); each at most half the
            kernel.
        ceil_mode: round the output size up, keeping only windows that start inside the
            input or the leading padding.
        return_indices: also return the switches: for each output, the flat index
            h*W + w of its maximum in the (unpadded) input plane, int64, as PyTorch does;
            :func:`max_unpool2d` takes them.
        dilation: spacing (dh, dw) of the window's taps, >= 1 (the compiled CPU kernels
            take 1; a dilated window runs on the NumPy views path).

    Returns:
        Tensor y (N, C, oh, ow) of x's dtype, or ``(y, indices)`` with ``return_indices``
        (``indices`` a non-differentiable int64 Tensor of y's shape).

    Shape:
        x: (N, C, H, W); y: (N, C, oh, ow) with
        oh = floor((H + p_top + p_bottom - dh (kh - 1) - 1) / sh) + 1 (ceil instead of
        floor in ceil mode, minus 1 when the last window would start at or past
        H + p_top), likewise ow.

    Raises:
        TypeError: x not a floating Tensor/array, sizes not ints or pairs of ints.
        ValueError: x not 4-D, kernel larger than the padded input, padding more than
            half the kernel, kernel or stride < 1.

    Example:
        >>> x = Tensor(numpy.arange(16.0).reshape(1, 1, 4, 4))
        >>> y, idx = max_pool2d(x, 2, return_indices=True)
        >>> y.data[0, 0], idx.data[0, 0]
        (array([[ 5.,  7.],
               [13., 15.]]), array([[ 5,  7],
               [13, 15]]))
    """
    op = "max_pool2d"
    x = check_input(op, x)
    g = geometry(op, x.shape, kernel_size, stride, padding, ceil_mode, dilation)
    if not isinstance(return_indices, bool):
        raise TypeError(f"{op}: return_indices must be a bool, got {return_indices!r}")
    fn = MaxPool2dFunction(g, want_indices=return_indices)
    y = fn(x)
    if return_indices:
        return y, Tensor(fn.indices)
    return y
