"""Window geometry shared by the 2-D pooling ops: argument checks, output size, views.

A pooling window of size (kh, kw) moves with stride (sh, sw) over an input padded by
(ph, pw) on each side. Output size along one axis, PyTorch's rule (dilation 1):

    floor mode: O = floor((H + 2P - K) / S) + 1
    ceil mode:  O = ceil((H + 2P - K) / S) + 1, minus 1 if the last window would start
                at or past H + P (a window must start inside the input or the left padding)

In ceil mode the last window may run past the right padding; the positions beyond count
as "outside": -inf for max, absent for the average's divisor (PyTorch's rule).

The NumPy/CuPy path (the reference) works on strided views: for each offset (a, b) of the
window, ``x_pad[:, :, a::sh, b::sw]`` (cut to (O_h, O_w)) holds element (a, b) of every
window of the whole batch at once, so a window op is kh*kw whole-array operations and its
backward is kh*kw strided adds, with no scatter (``np.add.at``) anywhere.

On the CPU the compiled kernels of :mod:`xpnet.cpu.pooling` (numba, imported lazily)
are used when numba is installed; the views path stays the reference they are tested
against.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy

from xpnet import backend
from xpnet.functions.utils import pair
from xpnet.tensor import Tensor


class Geometry(NamedTuple):
    """Sizes of a 2-D pooling: input (h, w), kernel, stride, padding, output (oh, ow)."""

    h: int
    w: int
    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int
    oh: int
    ow: int

    @property
    def window(self) -> tuple[int, int, int, int, int, int]:
        """(kh, kw, sh, sw, ph, pw), as the compiled kernels take it."""
        return (self.kh, self.kw, self.sh, self.sw, self.ph, self.pw)


def output_size(size: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size along one axis (see the module docstring)."""
    span = size + 2 * p - k
    if ceil_mode:
        out = -(-span // s) + 1  # ceil division
        if (out - 1) * s >= size + p:  # last window would start in the right padding
            out -= 1
        return out
    return span // s + 1


def check_input(op: str, x: Any) -> Tensor:
    """Return ``x`` as a Tensor after checking it is a floating 4-D (N, C, H, W) input."""
    if not isinstance(x, Tensor):
        if not backend.is_array(x):
            raise TypeError(f"{op}: x must be a Tensor or an array, got {type(x).__name__}")
        x = Tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: x must be floating, got dtype {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-d input (N, C, H, W), got shape {x.shape}")
    return x


def geometry(
    op: str, shape: tuple[int, ...], kernel_size: Any, stride: Any, padding: Any, ceil_mode: Any
) -> Geometry:
    """Check the window arguments against an (N, C, H, W) shape and return the sizes.

    Raises:
        TypeError: a size that is not an int or a pair of ints, ``ceil_mode`` not a bool.
        ValueError: kernel or stride < 1, padding < 0 or more than half the kernel
            (PyTorch's rule), kernel larger than the padded input.
    """
    kh, kw = pair(kernel_size, "kernel_size", op, minimum=1)
    sh, sw = (kh, kw) if stride is None else pair(stride, "stride", op, minimum=1)
    ph, pw = pair(padding, "padding", op, minimum=0)
    if not isinstance(ceil_mode, (bool, numpy.bool_)):
        raise TypeError(f"{op}: ceil_mode must be a bool, got {ceil_mode!r}")
    if 2 * ph > kh or 2 * pw > kw:
        raise ValueError(
            f"{op}: padding must be at most half the kernel, got padding {(ph, pw)} "
            f"for kernel {(kh, kw)}"
        )
    h, w = int(shape[2]), int(shape[3])
    if kh > h + 2 * ph or kw > w + 2 * pw:
        raise ValueError(
            f"{op}: kernel {(kh, kw)} is larger than the padded input "
            f"{(h + 2 * ph, w + 2 * pw)} (input {(h, w)}, padding {(ph, pw)})"
        )
    oh = output_size(h, kh, sh, ph, bool(ceil_mode))
    ow = output_size(w, kw, sw, pw, bool(ceil_mode))
    return Geometry(h, w, kh, kw, sh, sw, ph, pw, oh, ow)


def _high_pad(size: int, k: int, s: int, p: int, out: int) -> int:
    """Padding needed after the input so that the last of ``out`` windows fits."""
    return max((out - 1) * s + k - size - p, 0)


def padded_shape(g: Geometry, n: int, c: int) -> tuple[int, int, int, int]:
    """(N, C, P_h + H + Q_h, P_w + W + Q_w): the input padded so that every window fits.

    Q, the high-side padding, is what the last window needs: P, or more in ceil mode.
    """
    qh = _high_pad(g.h, g.kh, g.sh, g.ph, g.oh)
    qw = _high_pad(g.w, g.kw, g.sw, g.pw, g.ow)
    return (n, c, g.ph + g.h + qh, g.pw + g.w + qw)


def pad(x: Any, g: Geometry, value: float) -> Any:
    """``x`` padded with ``value`` to :func:`padded_shape` (a copy; ``x`` itself if no pad)."""
    n, c = x.shape[:2]
    shape = padded_shape(g, n, c)
    if shape == tuple(x.shape):
        return x
    xp = backend.get_array_module(x)
    out = xp.empty(shape, dtype=x.dtype)
    out.fill(value)
    out[:, :, g.ph : g.ph + g.h, g.pw : g.pw + g.w] = x
    return out


def unpad(x_pad: Any, g: Geometry) -> Any:
    """The (N, C, H, W) part of a padded array (a view)."""
    return x_pad[:, :, g.ph : g.ph + g.h, g.pw : g.pw + g.w]


def windows(x_pad: Any, g: Geometry) -> Iterator[tuple[int, Any]]:
    """Yield ``(k, view)`` for each window offset k = a*kw + b, row-major.

    ``view`` (N, C, oh, ow) is element (a, b) of every window: x_pad[:, :, a + i*sh, b + j*sw].
    """
    span_h, span_w = g.sh * (g.oh - 1) + 1, g.sw * (g.ow - 1) + 1
    for a in range(g.kh):
        for b in range(g.kw):
            yield a * g.kw + b, x_pad[:, :, a : a + span_h : g.sh, b : b + span_w : g.sw]


def divisor(g: Geometry, count_include_pad: bool, xp: Any, dtype: Any) -> Any:
    """Number of elements each window averages over, PyTorch's rule, shape (oh, ow).

    A window starts at i*S - P and ends at min(i*S - P + K, H + P): positions past the
    padded input never count. With ``count_include_pad`` the padding counts; without,
    the window is further clipped to the input [0, H).
    """

    def sizes(size: int, k: int, s: int, p: int, out: int) -> Any:
        start = xp.arange(out) * s - p
        end = xp.minimum(start + k, size + p)
        if not count_include_pad:
            start, end = xp.maximum(start, 0), xp.minimum(end, size)
        return end - start

    rows = sizes(g.h, g.kh, g.sh, g.ph, g.oh)
    cols = sizes(g.w, g.kw, g.sw, g.pw, g.ow)
    return (rows[:, None] * cols[None, :]).astype(dtype)  # (oh, ow)
