"""Helpers shared by the zoo's factories: seeding and argument checks."""

from __future__ import annotations

from typing import Any

import numpy


def make_rng(rng: Any, seed: int | None, model: str) -> numpy.random.Generator:
    """The generator a model's layers draw their initial weights from.

    ``rng`` wins when given; otherwise ``seed`` (None: fresh entropy).
    """
    if rng is not None:
        if not isinstance(rng, numpy.random.Generator):
            got = type(rng).__name__
            raise TypeError(f"{model}: rng must be a numpy.random.Generator, got {got}")
        return rng
    return numpy.random.default_rng(seed)


def child_rng(rng: numpy.random.Generator) -> numpy.random.Generator:
    """A new generator seeded from ``rng``: dropout masks get their own stream, so the
    masks drawn during training never shift the initial weights of later layers."""
    return numpy.random.default_rng(int(rng.integers(2**63)))


def check_choice(value: Any, choices: tuple, name: str, model: str) -> None:
    """Raise ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{model}: {name} must be one of {list(choices)}, got {value!r}")


def check_positive(value: Any, name: str, model: str) -> int:
    """Raise ValueError unless ``value`` is a positive int; return it."""
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value < 1:
        raise ValueError(f"{model}: {name} must be a positive int, got {value!r}")
    return int(value)
