"""2-D max unpooling: put each value back at its switch (the deconvnet's unpooling)."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.functions.pooling._window import check_input
from xpnet.functions.utils import pair
from xpnet.tensor import Tensor

__all__ = ["max_unpool2d"]


class MaxUnpool2dFunction(Function):
    """y[n, c].flat[indices[n, c, i, j]] = x[n, c, i, j]; every other element of y is 0.

    dE/dx[n, c, i, j] = dE/dy[n, c].flat[indices[n, c, i, j]] (a gather). The indices
    are not differentiable.

    Args:
        out_hw: the output's spatial size (oH, oW).
    """

    def __init__(self, out_hw: tuple[int, int]) -> None:
        self.out_hw = out_hw

    def forward(self, x: Any, indices: Any) -> Any:
        xp = backend.get_array_module(x)
        n, c = x.shape[:2]
        oh, ow = self.out_hw
        flat_idx = indices.reshape(n * c, -1)  # (P, h*w), P = N*C
        y = xp.zeros((n * c, oh * ow), dtype=x.dtype)  # (P, oH*oW) flat output planes
        rows = xp.arange(n * c)[:, None]  # (P, 1): plane of each index
        y[rows, flat_idx] = x.reshape(n * c, -1)  # a repeated switch holds the same max
        self.flat_idx = flat_idx  # (P, h*w) where each input went, for the gather
        self.x_shape = x.shape
        return y.reshape(n, c, oh, ow)

    def backward(self, gy: Any) -> tuple[Any, None]:
        xp = backend.get_array_module(gy)
        n, c = self.x_shape[:2]
        gy2 = gy.reshape(n * c, -1)  # (P, oH*oW)
        gx = xp.take_along_axis(gy2, self.flat_idx, axis=1)  # (P, h*w)
        return gx.reshape(self.x_shape), None


def _output_hw(
    op: str, shape: tuple[int, ...], kernel_size: Any, stride: Any, padding: Any, output_size: Any
) -> tuple[int, int]:
    """PyTorch's rule: default (h - 1)*s - 2p + k; an explicit size within s of it."""
    kh, kw = pair(kernel_size, "kernel_size", op, minimum=1)
    sh, sw = (kh, kw) if stride is None else pair(stride, "stride", op, minimum=1)
    ph, pw = pair(padding, "padding", op, minimum=0)
    default = ((shape[2] - 1) * sh - 2 * ph + kh, (shape[3] - 1) * sw - 2 * pw + kw)
    if output_size is None:
        out = default
    else:
        size = tuple(output_size) if isinstance(output_size, (tuple, list)) else None
        if size is None or len(size) not in (2, 4) or not all(isinstance(v, int) for v in size):
            raise TypeError(
                f"{op}: output_size must be (H, W) or (N, C, H, W) ints, got {output_size!r}"
            )
        out = size[-2:]
        for d, s in enumerate((sh, sw)):
            if not default[d] - s < out[d] < default[d] + s:
                raise ValueError(
                    f"{op}: output_size {tuple(out)} is invalid: dim {d} must be strictly "
                    f"between {default[d] - s} and {default[d] + s}"
                )
    if min(out) < 1:
        raise ValueError(f"{op}: output size {tuple(out)} is not positive")
    return int(out[0]), int(out[1])


def max_unpool2d(
    x: Any,
    indices: Any,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    output_size: tuple[int, ...] | None = None,
) -> Any:
    """The partial inverse of :func:`max_pool2d`: each value goes back to its switch.

    y[n, c].flat[indices[n, c, i, j]] = x[n, c, i, j], zeros elsewhere (PyTorch's
    semantics). This is the unpooling of Zeiler & Fergus's deconvnet: the switches
    recorded by ``max_pool2d(..., return_indices=True)`` say where each maximum came from,
    so the reconstruction keeps the pooled activations in their places. Where overlapping
    windows chose the same input, the same value is written twice.

    Backward: a gather, dE/dx[n, c, i, j] = dE/dy[n, c].flat[indices[n, c, i, j]]; a
    repeated switch feeds its gradient to every input that points at it (as PyTorch does).

    Args:
        x: Tensor or array (N, C, h, w), floating: the pooled maps.
        indices: int Tensor or array of x's shape: flat positions h*W + w in each output
            plane, as returned by :func:`max_pool2d`.
        kernel_size, stride, padding: those of the max pooling being undone (stride None
            means ``kernel_size``).
        output_size: (H, W) or (N, C, H, W) of the output, to undo a pooling whose input
            size was rounded down; strictly within ``stride`` of the default size.

    Returns:
        Tensor (N, C, H, W) of x's dtype.

    Shape:
        x, indices: (N, C, h, w); y: (N, C, H, W) with H = (h - 1)*sh - 2*ph + kh by
        default (likewise W), or ``output_size``.

    Raises:
        TypeError: bad types (x not floating, indices not integer, sizes not ints).
        ValueError: x not 4-D, indices of another shape, an index outside [0, H*W),
            an output_size too far from the default.

    Example:
        >>> x = Tensor(numpy.arange(16.0).reshape(1, 1, 4, 4))
        >>> y, idx = max_pool2d(x, 2, return_indices=True)
        >>> max_unpool2d(y, idx, 2).data[0, 0]
        array([[ 0.,  0.,  0.,  0.],
               [ 0.,  5.,  0.,  7.],
               [ 0.,  0.,  0.,  0.],
               [ 0., 13.,  0., 15.]])
    """
    op = "max_unpool2d"
    x = check_input(op, x)
    idx = indices.data if isinstance(indices, Tensor) else indices
    if not backend.is_array(idx) or idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be an integer Tensor or array, got {indices!r:.60}")
    if tuple(idx.shape) != x.shape:
        raise ValueError(f"{op}: indices have shape {tuple(idx.shape)}, x has shape {x.shape}")
    out_hw = _output_hw(op, x.shape, kernel_size, stride, padding, output_size)
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= out_hw[0] * out_hw[1]):
        raise ValueError(
            f"{op}: indices must lie in [0, {out_hw[0] * out_hw[1]}) for an output of "
            f"{out_hw}, got [{int(idx.min())}, {int(idx.max())}]"
        )
    return MaxUnpool2dFunction(out_hw)(x, Tensor(idx))
