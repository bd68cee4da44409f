"""MNIST networks of three regularisers and layer kinds: maxout, DropConnect, unshared kernels."""

from __future__ import annotations

import numpy

from xpnet import nn
from xpnet.models._common import check_positive, child_rng, make_rng

__all__ = ["dropconnect_mnist", "locally_connected_net", "maxout_mnist"]


def maxout_mnist(
    num_classes: int = 10,
    hidden: int = 240,
    pieces: int = 5,
    rng: numpy.random.Generator | None = None,
    seed: int | None = None,
) -> nn.Sequential:
    """Goodfellow et al. 2013's permutation-invariant MNIST maxout MLP.

    Two dense maxout layers of ``hidden`` units, each the max of ``pieces`` linear
    pieces (maxout keeps height and width and lowers the channel count), with
    dropout 0.2 on the input and 0.5 on the hidden layers, then a linear output layer.

    Args:
        num_classes: output units.
        hidden: maxout units per hidden layer (paper: 240).
        pieces: linear pieces per unit (paper: 5).
        rng, seed: generator of the initial weights (and, through child generators,
            of the dropout masks), or its seed.

    Returns:
        A :class:`xpnet.nn.Sequential` taking (N, 1, 28, 28).
    """
    check_positive(hidden, "hidden", "maxout_mnist")
    check_positive(pieces, "pieces", "maxout_mnist")
    check_positive(num_classes, "num_classes", "maxout_mnist")
    rng = make_rng(rng, seed, "maxout_mnist")
    return nn.Sequential(
        nn.Flatten(),
        nn.Dropout(0.2, rng=child_rng(rng)),
        nn.MaxoutLinear(784, hidden, pieces, rng=rng),
        nn.Dropout(0.5, rng=child_rng(rng)),
        nn.MaxoutLinear(hidden, hidden, pieces, rng=rng),
        nn.Dropout(0.5, rng=child_rng(rng)),
        nn.Linear(hidden, num_classes, rng=rng),
    )


def dropconnect_mnist(
    num_classes: int = 10,
    hidden: int = 800,
    p: float = 0.5,
    inference: str = "mean",
    rng: numpy.random.Generator | None = None,
    seed: int | None = None,
) -> nn.Sequential:
    """Wan et al. 2013's MNIST network: two ReLU layers, DropConnect on the second.

    784 -> ``hidden`` (ReLU) -> DropConnect ``hidden`` (ReLU, mask M of W's shape drawn
    anew each mini-batch) -> num_classes.

    Args:
        num_classes: output units.
        hidden: units per hidden layer (paper: 800).
        p: probability that a connection is dropped.
        inference: "mean" (weight scaling) or "gaussian" (the paper's moment matching).
        rng, seed: generator of the initial weights and, through a child, the masks.

    Returns:
        A :class:`xpnet.nn.Sequential` taking (N, 1, 28, 28).
    """
    check_positive(hidden, "hidden", "dropconnect_mnist")
    rng = make_rng(rng, seed, "dropconnect_mnist")
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, hidden, rng=rng),
        nn.ReLU(),
        nn.DropConnectLinear(hidden, hidden, p=p, activation="relu", inference=inference,
                             rng=child_rng(rng)),
        nn.Linear(hidden, num_classes, rng=rng),
    )


def locally_connected_net(
    num_classes: int = 10,
    rng: numpy.random.Generator | None = None,
    seed: int | None = None,
) -> nn.Sequential:
    """A small DeepFace-style net for aligned 28x28 digits: shared, then unshared kernels.

    conv 16 5x5 (shared weights) -> max pool 2x2 -> ReLU -> locally connected 16 3x3
    (a different kernel at every one of the 12x12 positions) -> ReLU -> dense output.
    Unshared kernels work once inputs are aligned, as digits are (Taigman et al. 2014).

    Args:
        num_classes: output units.
        rng, seed: initial weights' generator, or its seed.

    Returns:
        A :class:`xpnet.nn.Sequential` taking (N, 1, 28, 28).
    """
    check_positive(num_classes, "num_classes", "locally_connected_net")
    rng = make_rng(rng, seed, "locally_connected_net")
    return nn.Sequential(
        nn.Conv2d(1, 16, 5, rng=rng),
        nn.MaxPool2d(2, 2),
        nn.ReLU(),
        nn.LocallyConnected2d(16, 16, (12, 12), 3, rng=rng),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 10 * 10, num_classes, rng=rng),
    )
