"""Random horizontal flip (mirror) per image."""

from __future__ import annotations

import numpy

from xpnet import backend


def random_horizontal_flip(x, rng: numpy.random.Generator, p: float = 0.5):
    """Mirror each image left-right with probability ``p``, independently.

    ``out[b] = x[b, :, :, ::-1]`` where ``u_b < p``, ``u_b ~ U(0, 1)``, else ``x[b]``.

    Args:
        x: images ``(B, C, H, W)``.
        rng: the batch's Generator (draws B uniforms).
        p: probability of a flip.

    Returns:
        A new ``(B, C, H, W)`` array.

    Example:
        >>> x = numpy.arange(4.0).reshape(1, 1, 1, 4)
        >>> random_horizontal_flip(x, numpy.random.default_rng(0), p=1.0).ravel().tolist()
        [3.0, 2.0, 1.0, 0.0]
    """
    xp = backend.get_array_module(x)
    if x.ndim != 4:
        raise ValueError(f"random_horizontal_flip: expected x of shape (B, C, H, W), "
                         f"got {x.shape}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"random_horizontal_flip: p must be in [0, 1], got {p}")
    flip = xp.asarray(numpy.flatnonzero(rng.random(x.shape[0]) < p))  # images to mirror
    out = x.copy()
    out[flip] = x[flip, :, :, ::-1]
    return out


class RandomHorizontalFlip:
    """``random_horizontal_flip`` with ``p`` bound.

    Args:
        p: probability of a flip.

    Example:
        >>> RandomHorizontalFlip(0.5)(numpy.zeros((2, 1, 3, 3)), numpy.random.default_rng(0)).shape
        (2, 1, 3, 3)
    """

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, x, rng: numpy.random.Generator):
        return random_horizontal_flip(x, rng, self.p)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"
