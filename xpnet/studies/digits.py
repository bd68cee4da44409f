"""The data of the studies: MNIST-5k, cut to a study's budget.

Every study trains on the same split of MNIST-5k (``load_mnist5k(seed=0)``: 4,000
training and 1,000 test digits); a seed changes the initial weights, the batch order and
the augmentation, and, where a study takes fewer training examples, which ones
(:func:`subset`). Quick mode keeps 1,000 training and 500 test digits.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy

from xpnet import nn
from xpnet.data import load_mnist5k
from xpnet.data.preprocessing import Standardize

__all__ = ["Arrays", "decay_text", "first_below", "mnist", "standardized", "subset"]

Arrays = tuple[numpy.ndarray, numpy.ndarray]


def mnist(quick: bool, train: int | None = None, test: int | None = None
          ) -> tuple[Arrays, Arrays]:
    """MNIST-5k's training and test sets: all of them, or the first ``train`` / ``test``
    (quick mode: at most 1,000 / 500)."""
    x, y, xt, yt = load_mnist5k(seed=0)
    n = min(train or len(x), 1000 if quick else len(x))
    m = min(test or len(xt), 500 if quick else len(xt))
    return (x[:n], y[:n]), (xt[:m], yt[:m])


def subset(data: Arrays, n: int, seed: int) -> Arrays:
    """``n`` examples drawn with ``default_rng([seed, 3])`` (all of them when n >= len)."""
    x, y = data
    if n >= len(x):
        return x, y
    pick = numpy.sort(numpy.random.default_rng([seed, 3]).choice(len(x), n, replace=False))
    return x[pick], y[pick]


def standardized(net: Callable[[numpy.random.Generator], list[nn.Module]], train: Arrays
                 ) -> Callable[[int], nn.Sequential]:
    """A builder ``seed -> nn.Sequential(Standardize, *net(rng))``: the training images'
    mean and standard deviation in front of the network (as ``xpnet train`` does), the
    weights drawn from ``default_rng(seed)``."""
    step = Standardize().fit(train[0])

    def build(seed: int) -> nn.Sequential:
        front = Standardize()
        front.load_state_dict(step.state_dict())
        return nn.Sequential(front, *net(numpy.random.default_rng(seed)))

    return build


def decay_text(budget: dict) -> str:
    """", the rate x 0.1 after every N epochs" for a budget that decays it, else ""."""
    every = budget.get("decay_every")
    return f", the rate x 0.1 after every {every} epochs" if every else ""


def first_below(curve: dict[str, list[float]], target: float) -> float | None:
    """The first x at which the curve is at or below ``target``, or None."""
    for x, y in zip(curve["x"], curve["y"], strict=True):
        if y <= target:
            return float(x)
    return None
