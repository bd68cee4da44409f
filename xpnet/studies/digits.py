"""The data of the studies: MNIST-5k, cut to a study's budget.

Every study trains on the same split of MNIST-5k (``load_mnist5k(seed=0)``: 4,000
training and 1,000 test digits); a seed changes the initial weights, the batch order and
the augmentation, and, where a study takes fewer training examples, which ones
(:func:`subset`). Quick mode keeps 1,000 training and 500 test digits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy

from xpnet import nn
from xpnet.data import load_mnist5k
from xpnet.data.preprocessing import Standardize

__all__ = ["Arrays", "decay_text", "first_below", "mnist", "sgd_budget", "sgd_text",
           "split_text", "standardized", "subset"]

Arrays = tuple[numpy.ndarray, numpy.ndarray]


def mnist(quick: bool, train: int | None = None, test: int | None = None
          ) -> tuple[Arrays, Arrays]:
    """MNIST-5k's training and test sets: all of them, or the first ``train`` / ``test``
    (quick mode: at most 1,000 / 500)."""
    x, y, xt, yt = load_mnist5k(seed=0)
    n = min(train or len(x), 1000 if quick else len(x))
    m = min(test or len(xt), 500 if quick else len(xt))
    return (x[:n], y[:n]), (xt[:m], yt[:m])


def split_text(quick: bool) -> str:
    """"4000 training / 1000 test digits": the sizes :func:`mnist` gives."""
    (x, _), (xt, _) = mnist(quick)
    return f"{len(x)} training / {len(xt)} test digits"


def sgd_budget(ctx: Any, **changes: Any) -> dict[str, Any]:
    """The budget of the studies that train a network on all of MNIST-5k: 8 epochs with
    the rate x 0.1 after 6 (quick: 1 epoch at a constant rate), batch 64, SGD lr 0.05,
    momentum 0.9, weight decay 5e-4; ``changes`` replace or add entries.

    Args:
        ctx: the study's :class:`~xpnet.studies.base.Context` (quick or not).
        changes: entries that differ (``lr=0.01``) or that the study adds (``hidden=256``).
    """
    return {"epochs": ctx.pick(8, 1), "decay_every": ctx.pick(6, None), "batch_size": 64,
            "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, **changes}


def sgd_text(budget: dict[str, Any]) -> str:
    """The training of a budget in words: "SGD lr 0.05, momentum 0.9, weight decay 0.0005,
    batch 64, 8 epochs, the rate x 0.1 after every 6 epochs" ("no weight decay" at 0)."""
    decay = (f"weight decay {budget['weight_decay']}" if budget["weight_decay"]
             else "no weight decay")
    return (f"SGD lr {budget['lr']}, momentum {budget['momentum']}, {decay}, batch "
            f"{budget['batch_size']}, {budget['epochs']} epochs{decay_text(budget)}")


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
