"""Window geometry shared by the 2-D pooling ops: argument checks, output size, views.

A pooling window of size (kh, kw), its taps spaced by the dilation (dh, dw), moves with
stride (sh, sw) over an input padded by P (top, left) before and Q (bottom, right) after
the input (P = Q unless the padding is given per side). Output size along one axis,
PyTorch's rule (with P = Q) and ONNX's (``pads`` per side):

    floor mode: O = floor((H + P + Q - D (K - 1) - 1) / S) + 1
    ceil mode:  O = ceil((H + P + Q - D (K - 1) - 1) / S) + 1, minus 1 if the last window
                would start at or past H + P (a window must start inside the input or the
                leading padding)

In ceil mode the last window may run past the right padding; the positions beyond count
as "outside": -inf for max, absent for the average's divisor (PyTorch's rule).

The NumPy/CuPy path (the reference) works on strided views: for each offset (a, b) of the
window, ``x_pad[:, :, a::sh, b::sw]`` (cut to (O_h, O_w)) holds element (a, b) of every
window of the whole batch at once, so a window op is kh*kw whole-array operations and its
backward is kh*kw strided adds, with no scatter (``np.add.at``) anywhere.

With a dilation D the view of tap (a, b) starts at (a dh, b dw) instead of (a, b).

On the CPU the compiled kernels of :mod:`xpnet.cpu.pooling` (numba, imported lazily)
are used when numba is installed and the window is not dilated; the views path stays
the reference they are tested against, and computes the dilated windows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy

from xpnet import backend
from xpnet.functions.utils import pair
from xpnet.tensor import Tensor


class Geometry(NamedTuple):
    """Sizes of a 2-D pooling: input (h, w), kernel, stride, leading padding (ph top,
    pw left), output (oh, ow), trailing padding (qh bottom, qw right), dilation."""

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
    qh: int
    qw: int
    dh: int = 1
    dw: int = 1

    @property
    def window(self) -> tuple[int, int, int, int, int, int]:
        """(kh, kw, sh, sw, ph, pw), as the compiled kernels take it (they bound each
        window to the input, so the trailing padding needs no entry)."""
        return (self.kh, self.kw, self.sh, self.sw, self.ph, self.pw)

    @property
    def dilated(self) -> bool:
        """Whether the taps are spaced (dilation > 1): the compiled kernels do not take it."""
        return self.dh != 1 or self.dw != 1


def output_size(size: int, k: int, s: int, p: int, ceil_mode: bool, q: int | None = None,
                d: int = 1) -> int:
    """The pooling output size along one axis (see the module docstring).

    Args:
        size, k, s: input size, kernel and stride.
        p, q: padding before and after the input (``q`` None: ``p``).
        ceil_mode: round up.
        d: dilation, the spacing of the taps.
    """
    q = p if q is None else q
    span = size + p + q - d * (k - 1) - 1
    if ceil_mode:
        out = -(-span // s) + 1  # ceil division
        if (out - 1) * s >= size + p:  # last window would start in the trailing padding
            out -= 1
        return out
    return span // s + 1


def padding4(padding: Any, op: str) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from one int, a pair (ph, pw) or four ints per side.

    Raises:
        TypeError: not an int, a pair or four ints.
        ValueError: a negative width.
    """
    if (isinstance(padding, (tuple, list)) and len(padding) == 4
            and all(isinstance(v, int) and not isinstance(v, bool) for v in padding)):
        if min(padding) < 0:
            raise ValueError(f"{op}: padding must be >= 0, got {padding!r}")
        return tuple(int(v) for v in padding)  # type: ignore[return-value]
    try:
        ph, pw = pair(padding, "padding", op, minimum=0)
    except TypeError:
        raise TypeError(f"{op}: padding must be an int, a pair (ph, pw) or four ints "
                        f"(top, bottom, left, right), got {padding!r}") from None
    return ph, ph, pw, pw


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
    op: str, shape: tuple[int, ...], kernel_size: Any, stride: Any, padding: Any,
    ceil_mode: Any, dilation: Any = 1,
) -> Geometry:
    """Check the window arguments against an (N, C, H, W) shape and return the sizes.

    ``padding`` is one int, a pair (ph, pw) for both sides, or four ints (top, bottom,
    left, right).

    Raises:
        TypeError: a size that is not an int or a pair of ints, ``ceil_mode`` not a bool.
        ValueError: kernel, stride or dilation < 1, a padding < 0 or more than half the
            kernel (PyTorch's rule, on each side), dilated kernel larger than the padded
            input.
    """
    kh, kw = pair(kernel_size, "kernel_size", op, minimum=1)
    sh, sw = (kh, kw) if stride is None else pair(stride, "stride", op, minimum=1)
    dh, dw = pair(dilation, "dilation", op, minimum=1)
    ph, qh, pw, qw = padding4(padding, op)
    if not isinstance(ceil_mode, (bool, numpy.bool_)):
        raise TypeError(f"{op}: ceil_mode must be a bool, got {ceil_mode!r}")
    if 2 * max(ph, qh) > kh or 2 * max(pw, qw) > kw:
        raise ValueError(
            f"{op}: padding must be at most half the kernel, got padding {padding!r} "
            f"for kernel {(kh, kw)}"
        )
    h, w = int(shape[2]), int(shape[3])
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1  # the dilated window's extent
    if eh > h + ph + qh or ew > w + pw + qw:
        raise ValueError(
            f"{op}: kernel {(kh, kw)}" + (f" (dilated to {(eh, ew)})" if (dh, dw) != (1, 1)
                                          else "")
            + f" is larger than the padded input {(h + ph + qh, w + pw + qw)} "
            f"(input {(h, w)}, padding {padding!r})"
        )
    oh = output_size(h, kh, sh, ph, bool(ceil_mode), qh, dh)
    ow = output_size(w, kw, sw, pw, bool(ceil_mode), qw, dw)
    return Geometry(h, w, kh, kw, sh, sw, ph, pw, oh, ow, qh, qw, dh, dw)


def _high_pad(size: int, k: int, s: int, p: int, out: int, d: int = 1) -> int:
    """Padding needed after the input so that the last of ``out`` windows fits."""
    return max((out - 1) * s + d * (k - 1) + 1 - size - p, 0)


def padded_shape(g: Geometry, n: int, c: int) -> tuple[int, int, int, int]:
    """(N, C, P_h + H + R_h, P_w + W + R_w): the input padded so that every window fits.

    R, the trailing padding laid out, is what the last window needs: at most Q, or more
    in ceil mode.
    """
    rh = _high_pad(g.h, g.kh, g.sh, g.ph, g.oh, g.dh)
    rw = _high_pad(g.w, g.kw, g.sw, g.pw, g.ow, g.dw)
    return (n, c, g.ph + g.h + rh, g.pw + g.w + rw)


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

    ``view`` (N, C, oh, ow) is tap (a, b) of every window:
    x_pad[:, :, a*dh + i*sh, b*dw + j*sw].
    """
    span_h, span_w = g.sh * (g.oh - 1) + 1, g.sw * (g.ow - 1) + 1
    for a in range(g.kh):
        for b in range(g.kw):
            r, c = a * g.dh, b * g.dw
            yield a * g.kw + b, x_pad[:, :, r : r + span_h : g.sh, c : c + span_w : g.sw]


def divisor(g: Geometry, count_include_pad: bool, xp: Any, dtype: Any) -> Any:
    """Number of elements each window averages over, PyTorch's rule, shape (oh, ow).

    A window starts at i*S - P and ends at min(i*S - P + K, H + Q): positions past the
    padded input never count. With ``count_include_pad`` the padding counts; without,
    the window is further clipped to the input [0, H). A dilated window counts its taps
    i*S - P + D a (a < K) that fall in those bounds.
    """

    def sizes(size: int, k: int, s: int, p: int, q: int, out: int, d: int) -> Any:
        start = xp.arange(out) * s - p
        if d != 1:  # count the spaced taps inside the bounds
            taps = start[:, None] + d * xp.arange(k)[None, :]  # (out, k) tap positions
            inside = taps < size + q
            if not count_include_pad:
                inside &= (taps >= 0) & (taps < size)
            return inside.sum(axis=1)
        end = xp.minimum(start + k, size + q)
        if not count_include_pad:
            start, end = xp.maximum(start, 0), xp.minimum(end, size)
        return end - start

    rows = sizes(g.h, g.kh, g.sh, g.ph, g.qh, g.oh, g.dh)
    cols = sizes(g.w, g.kw, g.sw, g.pw, g.qw, g.ow, g.dw)
    return (rows[:, None] * cols[None, :]).astype(dtype)  # (oh, ow)
