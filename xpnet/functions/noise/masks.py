"""Drawing dropout masks on either device, and the noise ops' argument checks.

Public, for the layers and the training code that draw masks too (``nn.Dropout``,
layer-wise pre-training's masking noise).

Every random choice comes from an explicit ``numpy.random.Generator``. On the GPU the
mask is drawn by a CuPy generator seeded from it (``rng.integers(2**63)``), so a run is
reproducible from one seed and no mask crosses the PCI bus.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy


def check_p(p: Any, op: str) -> float:
    """Return ``p`` as a float after checking that it is a drop probability in [0, 1)."""
    if isinstance(p, bool) or not isinstance(p, Real):
        raise TypeError(f"{op}: p must be a real number in [0, 1), got {p!r}")
    if not 0.0 <= float(p) < 1.0:
        raise ValueError(f"{op}: p must be in [0, 1) (the probability of dropping), got {p!r}")
    return float(p)


def check_rng(rng: Any, op: str) -> numpy.random.Generator:
    """Raise unless ``rng`` is a ``numpy.random.Generator`` (needed to draw a mask)."""
    if rng is None:
        raise ValueError(
            f"{op}: training with p > 0 needs rng, an explicit numpy.random.Generator "
            "(e.g. numpy.random.default_rng(seed)); got None"
        )
    if not isinstance(rng, numpy.random.Generator):
        raise TypeError(f"{op}: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def generator_on(xp: Any, rng: numpy.random.Generator) -> Any:
    """``rng`` itself on the CPU; on the GPU a CuPy generator seeded from ``rng``."""
    if xp is numpy:
        return rng
    return xp.random.default_rng(int(rng.integers(2**63)))


def keep_mask(xp: Any, rng: numpy.random.Generator, shape: tuple[int, ...], p: float) -> Any:
    """A bool array of ``shape`` on ``xp``'s device, each entry True with probability 1 - p.

    Uniforms are drawn in float32 (half the bytes of float64; resolution 2^-24 is far
    below any useful p) and compared once: one pass to draw, one to threshold.
    """
    u = generator_on(xp, rng).random(shape, dtype=numpy.float32)  # (shape) U[0, 1)
    return u >= numpy.float32(p)
