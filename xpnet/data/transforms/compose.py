"""Compose: chain batch transforms ``fn(x, rng) -> x`` into one."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy


class Compose:
    """Apply transforms in order, each drawing from the same Generator in turn.

    Args:
        transforms: callables ``fn(x, rng) -> x`` on ``(B, C, H, W)`` batches.

    Example:
        >>> from xpnet.data.transforms import RandomCrop, RandomHorizontalFlip
        >>> t = Compose([RandomCrop(24, padding=2), RandomHorizontalFlip()])
        >>> t(numpy.zeros((4, 3, 28, 28)), numpy.random.default_rng(0)).shape
        (4, 3, 24, 24)
    """

    def __init__(self, transforms: Sequence[Callable]) -> None:
        for t in transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable, got {t!r}")
        self.transforms = list(transforms)

    def __call__(self, x, rng: numpy.random.Generator):
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"
