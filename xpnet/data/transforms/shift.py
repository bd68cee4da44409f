"""Whole-pixel translation: every image moved by the same (dy, dx), zeros entering."""

from __future__ import annotations

import numbers

from xpnet import backend


def _offset(value, name: str, size: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"shift: {name} must be an int, got {value!r}")
    if abs(int(value)) >= size:
        raise ValueError(f"shift: |{name}| must be smaller than the image ({size}), got {value}")
    return int(value)


def _spans(d: int, size: int) -> tuple[slice, slice]:
    """(source, destination) slices of one axis moved by ``d`` pixels."""
    return slice(max(0, -d), size - max(0, d)), slice(max(0, d), size - max(0, -d))


def shift(x, dy: int, dx: int, fill: float = 0.0):
    """Translate every image by ``dy`` rows (down when > 0) and ``dx`` columns (right).

    ``out[b, c, i, j] = x[b, c, i - dy, j - dx]`` where that pixel exists, else ``fill``:
    what leaves the frame is lost, what enters is ``fill`` (the black background of
    digits). A test set moved by a few pixels asks whether a network's answer is
    invariant to translation (shared weights and pooling: LeCun et al. 1998). A random
    shift per image in [-m, m] is :func:`random_crop` with ``size = (H, W)`` and
    ``padding = m``.

    Args:
        x: images ``(B, C, H, W)`` (NumPy or CuPy).
        dy: rows to move down (negative: up), ``|dy| < H``.
        dx: columns to move right (negative: left), ``|dx| < W``.
        fill: the value of the pixels that enter.

    Returns:
        A new array of x's shape and dtype.

    Shape:
        (B, C, H, W) -> (B, C, H, W).

    Example:
        >>> x = numpy.arange(9, dtype=numpy.float32).reshape(1, 1, 3, 3)
        >>> shift(x, 1, -1)[0, 0]
        array([[0., 0., 0.],
               [1., 2., 0.],
               [4., 5., 0.]], dtype=float32)
    """
    if getattr(x, "ndim", None) != 4:
        raise ValueError(f"shift: expected x of shape (B, C, H, W), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    h, w = x.shape[2:]
    dy, dx = _offset(dy, "dy", h), _offset(dx, "dx", w)
    xp = backend.get_array_module(x)
    out = xp.full_like(x, fill)  # (B, C, H, W) the background
    (sy, ty), (sx, tx) = _spans(dy, h), _spans(dx, w)
    out[:, :, ty, tx] = x[:, :, sy, sx]
    return out
