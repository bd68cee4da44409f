"""Maxout: the max over groups of consecutive channels (Goodfellow et al. 2013)."""

from __future__ import annotations

from typing import Any

from xpnet import backend
from xpnet.function import Function
from xpnet.tensor import Tensor

__all__ = ["maxout"]


class MaxoutFunction(Function):
    """y[..., g, ...] = max_{0<=k<p} x[..., g*p + k, ...] along ``axis``.

    dE/dx[..., g*p + k, ...] = dE/dy[..., g, ...] if piece k is the group's maximum (the
    first one on ties), else 0.

    Args:
        axis: the (non-negative) channel axis.
        pool_size: p, the number of pieces per group.
    """

    def __init__(self, axis: int, pool_size: int) -> None:
        self.axis, self.pool_size = axis, pool_size

    def forward(self, x: Any) -> Any:
        shape = x.shape
        lead, groups = shape[: self.axis], shape[self.axis] // self.pool_size
        # (A, G, p, B): A = prod(lead), B = prod(trailing); a view when x is contiguous
        xg = x.reshape(int(_prod(lead)), groups, self.pool_size, -1)
        y = xg.max(axis=2)  # (A, G, B); max propagates NaN
        if self.needs_input_grad[0]:
            self.arg = xg.argmax(axis=2)  # (A, G, B) piece of each max; first on ties, NaN wins
            self.x_shape = shape
        return y.reshape(*lead, groups, *shape[self.axis + 1 :])

    def backward(self, gy: Any) -> Any:
        xp = backend.get_array_module(gy)
        a, groups, b = self.arg.shape
        pieces = xp.arange(self.pool_size, dtype=self.arg.dtype)[None, None, :, None]  # (1,1,p,1)
        chosen = self.arg[:, :, None, :] == pieces  # (A, G, p, B) one-hot switch
        gx = chosen * gy.reshape(a, groups, 1, b)  # (A, G, p, B)
        return gx.astype(gy.dtype, copy=False).reshape(self.x_shape)


def _prod(sizes: tuple[int, ...]) -> int:
    out = 1
    for s in sizes:
        out *= int(s)
    return out


def maxout(x: Any, pool_size: int, axis: int = 1) -> Any:
    """Maxout: the max over groups of ``pool_size`` consecutive channels.

    y[n, g, ...] = max_{0<=k<p} x[n, g*p + k, ...] (for ``axis=1``): C channels become
    C / p. Channel g of the output is the max over input channels g*p .. g*p + p - 1.

    Goodfellow et al. 2013 define h_i(x) = max_{j in [1, k]} z_ij, z_ij = x^T W_.ij + b_ij:
    unit i owns k pieces. Feeding this op a layer whose out*p outputs are laid out unit by
    unit (unit i's pieces at i*p .. i*p + p - 1) gives exactly their h; that is the layout
    of pylearn2's reference implementation and of :class:`xpnet.nn.MaxoutLinear`.
    (Grouping every G-th channel instead, channels g, g + G, ..., is the same model
    with the weight rows permuted; we do not use it.) For conv maps the max is taken per
    position over groups of feature maps (the paper's convolutional maxout).

    Backward: dE/dx[n, g*p + k] = dE/dy[n, g] where piece k is the maximum, else 0: the
    error flows only to the selected piece. Ties: the first piece gets the gradient.

    Args:
        x: Tensor or array with at least ``axis + 1`` axes: (N, C) dense or (N, C, H, W)
            conv features, floating.
        pool_size: p >= 1, the number of pieces per unit; must divide C.
        axis: the channel axis (negative values count from the end).

    Returns:
        Tensor shaped like x with C / p channels on ``axis``.

    Shape:
        x: (N, C, *); y: (N, C / p, *).

    Raises:
        TypeError: x not a floating Tensor/array, pool_size or axis not an int.
        ValueError: pool_size < 1, axis out of range, C not divisible by pool_size.

    Example:
        >>> x = Tensor(numpy.array([[1.0, 5.0, 3.0, 2.0]]))
        >>> maxout(x, 2).data
        array([[5., 3.]])
    """
    op = "maxout"
    if not isinstance(x, Tensor):
        if not backend.is_array(x):
            raise TypeError(f"{op}: x must be a Tensor or an array, got {type(x).__name__}")
        x = Tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: x must be floating, got dtype {x.dtype}")
    if not isinstance(pool_size, int) or isinstance(pool_size, bool):
        raise TypeError(f"{op}: pool_size must be an int, got {pool_size!r}")
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    if pool_size < 1:
        raise ValueError(f"{op}: pool_size must be >= 1, got {pool_size}")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for an input of shape {x.shape}")
    axis %= x.ndim
    channels = x.shape[axis]
    if channels % pool_size:
        raise ValueError(
            f"{op}: {channels} channels on axis {axis} are not divisible by pool_size "
            f"{pool_size} (input shape {x.shape})"
        )
    return MaxoutFunction(axis, pool_size)(x)
