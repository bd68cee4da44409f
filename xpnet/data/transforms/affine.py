"""Random affine transforms (rotation, scale, translation) with bilinear interpolation."""

from __future__ import annotations

import numpy

from xpnet import backend
from xpnet.data.transforms._sampling import bilinear_sample


def affine_transform(x, angles, scales, shifts):
    """Rotate, scale and translate each image about its centre (bilinear, 0 outside).

    With ``c`` the image centre ``((H-1)/2, (W-1)/2)``, output pixel ``p = (row, col)``
    reads the input at ``c + R(-theta) (p - c - t) / s``: the content is scaled by ``s``,
    rotated by ``theta`` (counter-clockwise as displayed, rows pointing down) and shifted by
    ``t = (t_row, t_col)`` pixels.

    Args:
        x: images ``(B, C, H, W)``.
        angles: rotation per image in degrees ``(B,)``.
        scales: scale per image ``(B,)`` (> 0).
        shifts: ``(B, 2)`` translation per image in pixels (rows, columns).

    Returns:
        A new ``(B, C, H, W)`` array.

    Example:
        >>> x = numpy.arange(9, dtype=numpy.float32).reshape(1, 1, 3, 3)
        >>> affine_transform(x, [0.0], [1.0], [[0.0, 1.0]])[0, 0].tolist()  # one column right
        [[0.0, 0.0, 1.0], [0.0, 3.0, 4.0], [0.0, 6.0, 7.0]]
    """
    xp = backend.get_array_module(x)
    B, _, H, W = x.shape
    theta = numpy.deg2rad(numpy.asarray(angles, dtype=numpy.float64)).reshape(B, 1, 1)
    scales = numpy.asarray(scales, dtype=numpy.float64).reshape(B, 1, 1)
    shifts = numpy.asarray(shifts, dtype=numpy.float64).reshape(B, 2)
    cy, cx = (H - 1) / 2.0, (W - 1) / 2.0
    py = numpy.arange(H, dtype=numpy.float64)[None, :, None] - cy - shifts[:, 0, None, None]
    px = numpy.arange(W, dtype=numpy.float64)[None, None, :] - cx - shifts[:, 1, None, None]
    cos, sin = numpy.cos(theta), numpy.sin(theta)
    # inverse map (output pixel -> input position); theta = 90 equals numpy.rot90(x, 1)
    rows = cy + (cos * py + sin * px) / scales  # (B, H, W)
    cols = cx + (-sin * py + cos * px) / scales  # (B, H, W)
    return bilinear_sample(x, xp.asarray(rows, dtype=xp.float32),
                           xp.asarray(cols, dtype=xp.float32))


def random_affine(x, rng: numpy.random.Generator, degrees=0.0, scale=(1.0, 1.0),
                  translate=(0.0, 0.0)):
    """Random rotation, scale and translation per image (torchvision's RandomAffine).

    ``theta ~ U(-degrees, degrees)`` (or ``U(lo, hi)`` for a pair), ``s ~ U(scale)``,
    ``t_col ~ U(-fx W, fx W)``, ``t_row ~ U(-fy H, fy H)`` with ``translate = (fx, fy)``.

    Args:
        x: images ``(B, C, H, W)``.
        rng: the batch's Generator.
        degrees: maximum absolute angle, or a ``(lo, hi)`` range, in degrees.
        scale: ``(lo, hi)`` range of the scale factor.
        translate: ``(fx, fy)`` maximum shifts as fractions of the width and height.

    Returns:
        A new ``(B, C, H, W)`` array.

    Example:
        >>> x = numpy.ones((2, 1, 8, 8), numpy.float32)
        >>> random_affine(x, numpy.random.default_rng(0), 10, (0.9, 1.1), (0.1, 0.1)).shape
        (2, 1, 8, 8)
    """
    if x.ndim != 4:
        raise ValueError(f"random_affine: expected x of shape (B, C, H, W), got {x.shape}")
    lo, hi = (-abs(degrees), abs(degrees)) if numpy.isscalar(degrees) else degrees
    if scale[0] <= 0 or scale[1] < scale[0]:
        raise ValueError(f"random_affine: scale must be (lo, hi) with 0 < lo <= hi, got {scale}")
    B, _, H, W = x.shape
    angles = rng.uniform(lo, hi, B)
    scales = rng.uniform(scale[0], scale[1], B)
    shifts = rng.uniform(-1.0, 1.0, (B, 2)) * numpy.array([translate[1] * H, translate[0] * W])
    return affine_transform(x, angles, scales, shifts)


class RandomAffine:
    """``random_affine`` with its parameters bound.

    Args:
        degrees: maximum absolute angle, or a ``(lo, hi)`` range, in degrees.
        scale: ``(lo, hi)`` range of the scale factor.
        translate: ``(fx, fy)`` maximum shifts as fractions of the width and height.

    Example:
        >>> t = RandomAffine(15, scale=(0.9, 1.1), translate=(0.1, 0.1))
        >>> t(numpy.zeros((1, 1, 8, 8), numpy.float32), numpy.random.default_rng(0)).shape
        (1, 1, 8, 8)
    """

    def __init__(self, degrees=0.0, scale=(1.0, 1.0), translate=(0.0, 0.0)) -> None:
        if scale[0] <= 0 or scale[1] < scale[0]:
            raise ValueError(f"RandomAffine: scale must be (lo, hi) with 0 < lo <= hi, "
                             f"got {scale}")
        self.degrees, self.scale, self.translate = degrees, tuple(scale), tuple(translate)

    def __call__(self, x, rng: numpy.random.Generator):
        return random_affine(x, rng, self.degrees, self.scale, self.translate)

    def __repr__(self) -> str:
        return (f"RandomAffine(degrees={self.degrees}, scale={self.scale}, "
                f"translate={self.translate})")
